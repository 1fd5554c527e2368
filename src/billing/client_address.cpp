#include "billing/client_address.hpp"

#include <charconv>
#include <cstdint>
#include <optional>

namespace ig::billing {
namespace {

using boost::asio::ip::address;

// A longer chain of trusted proxies is not a deployment but someone replaying our proxies'
// addresses to make every request cost a long walk.
constexpr int kMaxHops = 32;

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

bool valid_port(std::string_view text) {
  if (text.empty() || text.size() > 5) {
    return false;
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc{} && end == text.data() + text.size() && port <= 65535;
}

/// One X-Forwarded-For element: "1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]" or
/// "[2001:db8::1]:443". nullopt for anything else.
std::optional<address> parse_hop(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view after = text.substr(close + 1);
    if (!after.empty() && (after.front() != ':' || !valid_port(after.substr(1)))) {
      return std::nullopt;
    }
    auto a = parse_ip(text.substr(1, close - 1));
    if (!a || !a->is_v6()) {
      return std::nullopt;
    }
    return a;
  }
  const auto colon = text.find(':');
  if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    // A single colon: IPv4 with a port (IPv6 has at least two).
    if (!valid_port(text.substr(colon + 1))) {
      return std::nullopt;
    }
    auto a = parse_ip(text.substr(0, colon));
    if (!a || !a->is_v4()) {
      return std::nullopt;
    }
    return a;
  }
  return parse_ip(text);
}

}  // namespace

address client_address(const address& peer, std::string_view x_forwarded_for,
                       const CidrSet& trusted_proxies) {
  if (!trusted_proxies.contains(peer)) {
    return peer;
  }
  std::string_view rest = trim(x_forwarded_for);
  address last_trusted = peer;
  for (int hop = 0; hop < kMaxHops && !rest.empty(); ++hop) {
    const auto comma = rest.rfind(',');
    const std::string_view element =
        trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    const auto a = parse_hop(element);
    if (!a) {
      return last_trusted;
    }
    if (!trusted_proxies.contains(*a)) {
      return *a;
    }
    last_trusted = *a;
    if (comma == std::string_view::npos) {
      break;
    }
    rest = rest.substr(0, comma);
  }
  return last_trusted;
}

}  // namespace ig::billing
