#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "core/result.hpp"

namespace ig::billing {

/// A strict textual IP address: dotted-quad IPv4 or IPv6, nothing around it (no brackets, no
/// port, no zone id: "%eth0" would make the resolver look up an interface). nullopt otherwise.
/// Thread-safe; does no I/O.
std::optional<boost::asio::ip::address> parse_ip(std::string_view text);

/// A set of address blocks (IPv4 and IPv6 CIDRs): a key's IP allowlist, the trusted proxies.
/// Immutable once parsed, so its const members are thread-safe. `contains` is a linear scan:
/// these lists hold tens of entries, not thousands.
///
/// IPv4 is treated as its IPv4-mapped IPv6 form (::ffff:a.b.c.d) throughout, as a dual-stack
/// socket reports it: 10.0.0.0/8 contains ::ffff:10.1.2.3, and ::/0 contains every IPv4
/// address too.
class CidrSet {
 public:
  /// The empty set: contains nothing.
  CidrSet() = default;

  /// Each entry is "10.0.0.0/8", "2001:db8::/32" or a bare address ("192.168.1.7" = /32,
  /// "::1" = /128); surrounding spaces are ignored. Host bits past the prefix ("10.0.0.1/8")
  /// are accepted and cleared, so the set holds 10.0.0.0/8: an admin who writes a host in its
  /// network means the network. Duplicates are kept once. kInvalidRequest naming the first
  /// invalid entry.
  static core::Result<CidrSet> parse(const std::vector<std::string>& cidrs);

  bool contains(const boost::asio::ip::address& a) const;

  bool empty() const { return blocks_.empty(); }

  /// Canonical text of each block in the order given, always with a prefix length
  /// ("10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"); parse() reads it back unchanged.
  std::vector<std::string> to_strings() const;

 private:
  struct Block {
    std::array<std::uint8_t, 16> net{};  // IPv6 bytes, host bits cleared; IPv4 as ::ffff:a.b.c.d
    int prefix = 0;                      // in IPv6 bits (an IPv4 /8 is 104)
    bool v4 = false;                     // written as IPv4: printed back as IPv4
    bool operator==(const Block&) const = default;
  };

  std::vector<Block> blocks_;
};

}  // namespace ig::billing
