#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <boost/asio/ip/address.hpp>

#include "media/fetcher.hpp"

namespace ig::media::detail {

/// One checked hop of a fetch: where to connect and what to ask for. A plain value.
struct Hop {
  std::string url;   // absolute, normalised scheme and host, no fragment; becomes final_url
  std::string host;  // DNS name (lower case) or IP text: used for DNS, SNI and verification
  std::optional<boost::asio::ip::address> literal;  // set when the host is an IP address
  std::uint16_t port = 443;
  std::string host_header;
  std::string target;
};

/// Parses and checks one hop's URL: https only, a usable host (numeric IPv4 spellings become
/// literals), no credentials, a valid port. Pure function; thread-safe.
std::variant<Hop, FetchError> check_url(std::string_view url);

/// Resolves a redirect's Location against the URL that answered with it. Thread-safe.
std::variant<std::string, FetchError> resolve_location(std::string_view base,
                                                       std::string_view location);

/// "https://host:port" of a URL, or a placeholder: what an error may say about a redirect
/// target without echoing its path and query, which can carry tokens. Thread-safe.
std::string origin_of(std::string_view url);

/// `text` cut to `max` characters, with "..." when cut. Thread-safe.
std::string shorten(std::string_view text, std::size_t max = 200);

}  // namespace ig::media::detail
