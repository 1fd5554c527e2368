#include "http/proxy.hpp"
#include "http/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <optional>

#include <openssl/evp.h>
#include <boost/asio/ip/address.hpp>
#include <boost/url.hpp>

namespace ig::http {

namespace urls = boost::urls;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<std::uint16_t> read_port(std::string_view digits) {
  unsigned value = 0;
  auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || digits.size() > 5 || err != std::errc{} ||
      end != digits.data() + digits.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

std::optional<boost::asio::ip::address> as_address(std::string_view text) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(text, ec);
  if (ec) {
    return std::nullopt;
  }
  return address;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Error bad_setting(std::string why) {
  return make_error(ErrorKind::kInvalidUrl, "the proxy setting " + why);
}

/// One NO_PROXY entry: host (lower case, no brackets, no leading or trailing dot) and port.
struct Entry {
  std::string host;
  std::optional<std::uint16_t> port;
  bool valid = true;
};

Entry parse_entry(std::string_view text) {
  Entry entry;
  std::string_view host = text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return Entry{"", std::nullopt, false};
    }
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':') || !(entry.port = read_port(rest.substr(1)))) {
        return Entry{"", std::nullopt, false};
      }
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    host = text.substr(0, colon);
    if (!(entry.port = read_port(text.substr(colon + 1)))) {
      return Entry{"", std::nullopt, false};
    }
  }
  if (host.starts_with("*.")) {
    host.remove_prefix(1);
  }
  while (host.starts_with('.')) {
    host.remove_prefix(1);
  }
  while (host.ends_with('.')) {
    host.remove_suffix(1);
  }
  entry.host = ascii_lower(host);
  entry.valid = !entry.host.empty();
  return entry;
}

bool host_matches(const Entry& entry, std::string_view host) {
  const auto entry_ip = as_address(entry.host);
  const auto host_ip = as_address(host);
  if (entry_ip || host_ip) {
    return entry_ip && host_ip && *entry_ip == *host_ip;
  }
  if (host == entry.host) {
    return true;
  }
  return host.size() > entry.host.size() && host.ends_with(entry.host) &&
         host[host.size() - entry.host.size() - 1] == '.';
}

std::string first_of(const char* upper, const char* lower_name) {
  for (const char* name : {upper, lower_name}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') {
      return value;
    }
  }
  return {};
}

}  // namespace

Result<Proxy> parse_proxy(std::string_view setting) {
  std::string text(trim(setting));
  if (text.find("://") == std::string::npos) {
    text.insert(0, "http://");
  }
  auto parsed = urls::parse_uri(text);
  if (!parsed) {
    return bad_setting("is not a valid URL");
  }
  const urls::url_view& u = *parsed;
  if (u.scheme_id() != urls::scheme::http) {
    return bad_setting("must be an http:// URL (got " + ascii_lower(u.scheme()).substr(0, 16) +
                       ":)");
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return bad_setting("must name a host");
  }
  Proxy proxy;
  if (u.has_port()) {
    auto port = read_port(u.port());
    if (!port) {
      return bad_setting("has an invalid port");
    }
    proxy.port = *port;
  }
  switch (u.host_type()) {
    case urls::host_type::ipv4:
      proxy.host = u.host_ipv4_address().to_string();
      break;
    case urls::host_type::ipv6:
      proxy.host = u.host_ipv6_address().to_string();
      break;
    case urls::host_type::name:
      proxy.host = ascii_lower(u.host());
      break;
    default:
      return bad_setting("names an unsupported host");
  }
  const bool bracketed = u.host_type() == urls::host_type::ipv6;
  proxy.where.append(bracketed ? "[" : "").append(proxy.host).append(bracketed ? "]" : "");
  proxy.where.append(":").append(std::to_string(proxy.port));
  if (u.has_userinfo()) {
    proxy.authorization =
        "Basic " + base64(std::string(u.user()) + ":" + std::string(u.password()));
  }
  return proxy;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port) {
  std::string name = ascii_lower(host);
  while (name.ends_with('.')) {
    name.pop_back();
  }
  std::size_t start = 0;
  while (start <= no_proxy.size()) {
    auto comma = no_proxy.find(',', start);
    if (comma == std::string_view::npos) {
      comma = no_proxy.size();
    }
    const std::string_view item = trim(no_proxy.substr(start, comma - start));
    start = comma + 1;
    if (item == "*") {
      return true;
    }
    if (item.empty()) {
      continue;
    }
    const Entry entry = parse_entry(item);
    if (!entry.valid || (entry.port && *entry.port != port)) {
      continue;
    }
    if (host_matches(entry, name)) {
      return true;
    }
  }
  return false;
}

ProxyEnvironment proxy_environment() {
  return ProxyEnvironment{first_of("HTTPS_PROXY", "https_proxy"),
                          first_of("HTTP_PROXY", "http_proxy"), first_of("NO_PROXY", "no_proxy")};
}

}  // namespace ig::http
