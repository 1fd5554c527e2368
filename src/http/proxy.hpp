#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/error.hpp"

namespace ig::http {

/// A forward proxy that outbound calls go through. A plain value.
struct Proxy {
  std::string host;  // lower-case name or IP address without brackets
  std::uint16_t port = 80;
  std::string where;          // host:port for messages (IPv6 in brackets); never credentials
  std::string authorization;  // "Basic ..." from user:password in the URL, or ""
};

/// Parses a proxy setting: "http://[user:password@]host[:port][/]" (without a scheme http://
/// is assumed; the port defaults to 80). Only plain http:// proxies are supported. Errors never
/// echo the setting, which may hold a password. Pure function; thread-safe.
Result<Proxy> parse_proxy(std::string_view setting);

/// True when the NO_PROXY-style list `no_proxy` exempts `host` (lower-case name or IP address
/// without brackets) on `port`. The list is comma-separated and case-insensitive; an entry is
/// "*" (everything), an IP address (compared as an address), or a domain that matches itself and
/// its subdomains ("example.com", ".example.com" and "*.example.com" alike); any entry may carry
/// ":port" (IPv6 in brackets) to match only that port. Pure function; thread-safe.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port);

/// Proxy settings as the environment gives them (HTTPS_PROXY before https_proxy, HTTP_PROXY
/// before http_proxy, NO_PROXY before no_proxy). A plain value.
struct ProxyEnvironment {
  std::string https_proxy;
  std::string http_proxy;
  std::string no_proxy;
};

/// Reads the variables once. Thread-safe as long as nothing modifies the environment.
ProxyEnvironment proxy_environment();

}  // namespace ig::http
