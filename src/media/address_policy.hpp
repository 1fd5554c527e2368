#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/address_v4.hpp>

namespace ig::media {

/// True when `a` is a globally routable unicast address that a user-supplied URL may reach.
/// IPv4: everything outside loopback, private, shared, link-local, documentation, benchmark,
/// 6to4-relay, multicast and reserved ranges. IPv6: only 2000::/3 minus its special blocks.
/// IPv4 embedded in IPv6 (mapped, compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) is unwrapped
/// and the inner IPv4 decides. Pure function; thread-safe.
bool is_public_address(const boost::asio::ip::address& a);

/// An address block such as `10.0.0.0/8` or `2001:db8::/32`. A plain value.
struct Cidr {
  boost::asio::ip::address net;
  int prefix = 0;
};

/// Parses `addr/prefix`; a bare address means a single host (/32 or /128). Host bits after the
/// prefix are ignored. Returns nullopt on anything malformed. Thread-safe.
std::optional<Cidr> parse_cidr(std::string_view text);

/// True when `a` lies inside `cidr`. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches an
/// IPv4 block by its inner address. Thread-safe.
bool cidr_contains(const Cidr& cidr, const boost::asio::ip::address& a);

/// Parses a URL host the way resolvers do (inet_aton) when it is written as a number: decimal,
/// octal (`0177`), hex (`0x7f`) parts and the short forms `a`, `a.b`, `a.b.c` all name an IPv4
/// address. Returns nullopt when `host` is not numeric; `numeric_but_invalid` (optional) is
/// set when the last label is numeric yet the whole host is not a valid address (WHATWG rule:
/// such hosts are refused rather than resolved). Thread-safe.
std::optional<boost::asio::ip::address_v4> parse_ipv4_literal(std::string_view host,
                                                              bool* numeric_but_invalid = nullptr);

/// Which addresses an outbound fetch may connect to: public ones, plus explicit test-only
/// allowances (empty by default). Immutable after construction; thread-safe.
class AddressPolicy {
 public:
  explicit AddressPolicy(std::vector<Cidr> unsafe_allow = {});

  bool allowed(const boost::asio::ip::address& a) const;

 private:
  std::vector<Cidr> unsafe_allow_;
};

}  // namespace ig::media
