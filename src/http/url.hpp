#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/error.hpp"

namespace ig::http {

/// The parts of an absolute http:// or https:// URL that a client connects with. A plain value.
struct Target {
  bool tls = false;
  std::string host;  // lower-case name, or an IP address without brackets: DNS, SNI, verification
  bool host_is_ip = false;
  std::uint16_t port = 80;
  std::string host_header;  // host[:port] as sent in `Host` (IPv6 in brackets)
  std::string target;       // path and query, at least "/"
  std::string url;          // normalized, without fragment
};

/// Parses an absolute http(s) URL. Credentials in the URL are refused: they would be sent
/// nowhere and a user who typed them expects otherwise. Pure function; thread-safe.
Result<Target> parse_target(std::string_view url);

/// A redirect's Location resolved against the URL that answered with it. Thread-safe.
Result<std::string> resolve_location(std::string_view base, std::string_view location);

/// "scheme://host[:port]": equal origins may share credentials across a redirect. Thread-safe.
std::string origin_of(const Target& target);

/// `s` with ASCII letters in lower case (host names, schemes, header and code words).
/// Thread-safe.
std::string ascii_lower(std::string_view s);

/// `text` cut to `max` bytes, with "..." when cut: for echoing peer text in messages.
std::string shorten(std::string_view text, std::size_t max = 200);

}  // namespace ig::http
