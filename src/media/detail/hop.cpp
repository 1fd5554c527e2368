#include "media/detail/hop.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include <boost/url.hpp>

#include "media/address_policy.hpp"

namespace ig::media::detail {

namespace asio = boost::asio;
namespace urls = boost::urls;

namespace {

constexpr std::size_t kMaxHostLength = 253;

FetchError make_error(FetchFailure kind, std::string message) {
  return FetchError{kind, std::move(message)};
}

bool valid_host_name(std::string_view host) {
  if (host.empty() || host.size() > kMaxHostLength) {
    return false;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// Fills `hop.host` / `hop.literal` from the URL's host, or says why the host is unusable.
std::optional<FetchError> check_host(const urls::url_view& u, Hop& hop) {
  switch (u.host_type()) {
    case urls::host_type::ipv4:
      hop.literal = asio::ip::address_v4(u.host_ipv4_address().to_uint());
      break;
    case urls::host_type::ipv6:
      hop.literal = asio::ip::address_v6(u.host_ipv6_address().to_bytes());
      break;
    case urls::host_type::name: {
      std::string name = lower(u.host());
      if (!valid_host_name(name)) {
        return make_error(FetchFailure::kInvalidUrl,
                          "host name is not valid (write international names in punycode)");
      }
      bool numeric_but_invalid = false;
      if (auto v4 = parse_ipv4_literal(name, &numeric_but_invalid)) {
        hop.literal = *v4;
      } else if (numeric_but_invalid) {
        return make_error(FetchFailure::kInvalidUrl, "host is not a valid IPv4 address");
      } else {
        hop.host = std::move(name);
      }
      break;
    }
    default:
      return make_error(FetchFailure::kInvalidUrl, "URL must name a host");
  }
  if (hop.literal) {
    hop.host = hop.literal->to_string();
  }
  return std::nullopt;
}

}  // namespace

std::string shorten(std::string_view text, std::size_t max) {
  if (text.size() <= max) {
    return std::string(text);
  }
  return std::string(text.substr(0, max)) + "...";
}

std::string origin_of(std::string_view url) {
  auto parsed = urls::parse_uri(url);
  if (!parsed) {
    return "an invalid URL";
  }
  return shorten(std::string(parsed->scheme()) + "://" +
                 std::string(parsed->encoded_host_and_port()));
}

std::variant<Hop, FetchError> check_url(std::string_view text) {
  auto parsed = urls::parse_uri(text);
  if (!parsed) {
    return make_error(FetchFailure::kInvalidUrl, "is not a valid URL");
  }
  const urls::url_view& u = *parsed;
  if (u.scheme_id() != urls::scheme::https) {
    std::string scheme = lower(std::string(u.scheme()));
    if (scheme == "data") {
      return make_error(FetchFailure::kInvalidUrl,
                        "data: URLs are not supported; host the image and pass its https:// URL");
    }
    return make_error(FetchFailure::kNotHttps,
                      "URL must use https:// (got " + shorten(scheme, 16) + ":)");
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return make_error(FetchFailure::kInvalidUrl, "URL must name a host");
  }
  if (!u.encoded_path().empty() && !u.encoded_path().starts_with('/')) {
    // Boost.URL 1.81 ends an IPv4 host early ("1.2.3.4.nip.io" becomes host 1.2.3.4 and path
    // ".nip.io"); connecting to that prefix would reach a host the user did not name.
    return make_error(FetchFailure::kInvalidUrl, "URL host is not valid");
  }
  if (u.has_userinfo()) {
    return make_error(FetchFailure::kInvalidUrl, "URL must not contain credentials");
  }
  Hop hop;
  if (u.has_port()) {
    // port_number() wraps values above 65535, so read the digits ourselves.
    std::string_view port = u.port();
    unsigned value = 0;
    auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || port.size() > 5 || err != std::errc{} || end != port.data() + port.size() ||
        value == 0 || value > 65535) {
      return make_error(FetchFailure::kInvalidUrl, "URL has an invalid port");
    }
    hop.port = static_cast<std::uint16_t>(value);
  }
  if (auto error = check_host(u, hop)) {
    return *error;
  }
  // append() rather than operator+: g++ 12 at -O3 reports a false -Wrestrict on the latter.
  const bool bracketed = hop.literal && hop.literal->is_v6();
  hop.host_header.append(bracketed ? "[" : "").append(hop.host).append(bracketed ? "]" : "");
  if (hop.port != 443) {
    hop.host_header.append(":").append(std::to_string(hop.port));
  }
  hop.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) {
    hop.target.append("?").append(u.encoded_query());
  }
  urls::url normalized(u);
  normalized.remove_fragment();
  normalized.normalize_scheme();
  normalized.normalize_authority();
  hop.url = std::string(normalized.buffer());
  return hop;
}

std::variant<std::string, FetchError> resolve_location(std::string_view base,
                                                       std::string_view location) {
  auto ref = urls::parse_uri_reference(location);
  auto base_url = urls::parse_uri(base);
  if (!ref || !base_url) {
    return make_error(FetchFailure::kBadResponse,
                      "redirect Location is not a valid URL: " + shorten(location));
  }
  urls::url next;
  if (!urls::resolve(*base_url, *ref, next)) {
    return make_error(FetchFailure::kBadResponse,
                      "redirect Location is not a valid URL: " + shorten(location));
  }
  return std::string(next.buffer());
}

}  // namespace ig::media::detail
