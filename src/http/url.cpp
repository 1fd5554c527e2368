#include "http/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <boost/url.hpp>

namespace ig::http {

namespace urls = boost::urls;

namespace {

Error invalid(std::string message) {
  return make_error(ErrorKind::kInvalidUrl, std::move(message));
}

// port_number() wraps values above 65535, so the digits are read here.
Result<std::uint16_t> read_port(std::string_view digits) {
  unsigned value = 0;
  auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || digits.size() > 5 || err != std::errc{} ||
      end != digits.data() + digits.size() || value == 0 || value > 65535) {
    return invalid("URL has an invalid port");
  }
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::string shorten(std::string_view text, std::size_t max) {
  if (text.size() <= max) {
    return std::string(text);
  }
  return std::string(text.substr(0, max)) + "...";
}

Result<Target> parse_target(std::string_view text) {
  auto parsed = urls::parse_uri(text);
  if (!parsed) {
    return invalid("'" + shorten(text, 100) + "' is not an absolute URL");
  }
  const urls::url_view& u = *parsed;
  Target t;
  if (u.scheme_id() == urls::scheme::https) {
    t.tls = true;
    t.port = 443;
  } else if (u.scheme_id() != urls::scheme::http) {
    return invalid("URL must start with http:// or https:// (got " +
                   shorten(ascii_lower(u.scheme()), 16) + ":)");
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return invalid("URL must name a host");
  }
  if (!u.encoded_path().empty() && !u.encoded_path().starts_with('/')) {
    // Boost.URL 1.81 ends an IPv4 host early ("1.2.3.4.nip.io" becomes host 1.2.3.4 and path
    // ".nip.io"); connecting to that prefix would reach a host the user did not name.
    return invalid("URL host is not valid");
  }
  if (u.has_userinfo()) {
    return invalid("URL must not contain credentials");
  }
  if (u.has_port()) {
    auto port = read_port(u.port());
    if (!port) {
      return port.error();
    }
    t.port = *port;
  }
  switch (u.host_type()) {
    case urls::host_type::ipv4:
      t.host = u.host_ipv4_address().to_string();
      t.host_is_ip = true;
      break;
    case urls::host_type::ipv6:
      t.host = u.host_ipv6_address().to_string();
      t.host_is_ip = true;
      break;
    case urls::host_type::name:
      t.host = ascii_lower(u.host());
      break;
    default:
      return invalid("URL host is not supported");
  }
  const bool bracketed = u.host_type() == urls::host_type::ipv6;
  t.host_header.append(bracketed ? "[" : "").append(t.host).append(bracketed ? "]" : "");
  if (t.port != (t.tls ? 443 : 80)) {
    t.host_header.append(":").append(std::to_string(t.port));
  }
  t.target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) {
    t.target.append("?").append(u.encoded_query());
  }
  urls::url normalized(u);
  normalized.remove_fragment();
  normalized.normalize_scheme();
  normalized.normalize_authority();
  t.url = std::string(normalized.buffer());
  return t;
}

Result<std::string> resolve_location(std::string_view base, std::string_view location) {
  auto ref = urls::parse_uri_reference(location);
  auto base_url = urls::parse_uri(base);
  urls::url next;
  if (!ref || !base_url || !urls::resolve(*base_url, *ref, next)) {
    return make_error(ErrorKind::kProtocol,
                      "redirect Location is not a valid URL: " + shorten(location, 100));
  }
  return std::string(next.buffer());
}

std::string origin_of(const Target& target) {
  return (target.tls ? "https://" : "http://") + target.host_header;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace ig::http
