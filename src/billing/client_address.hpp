#pragma once

#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "billing/ip_allowlist.hpp"

namespace ig::billing {

/// The client's address for IP allowlists and limits, seen through our own reverse proxies.
///
/// When the socket `peer` is not in `trusted_proxies`, the answer is `peer` and
/// `x_forwarded_for` is ignored: anyone can write that header. When it is, the header is
/// walked from the right (each proxy appends the address it was connected from), skipping
/// addresses that are themselves trusted proxies; the first untrusted one is the client. A
/// malformed element (garbage, "unknown", an empty element, a bad port) ends the walk with the
/// last trusted hop, since nothing left of it was written by a proxy we trust; so does a header
/// that is empty or blank (the peer), one made only of trusted proxies (the leftmost of them),
/// and a chain longer than 32 trusted hops (the 32nd).
///
/// Elements may carry spaces or tabs around them, a port ("1.2.3.4:5678"), and IPv6 may be
/// bracketed ("[2001:db8::1]:443", "[2001:db8::1]") or bare ("2001:db8::1"). The address is
/// returned as written (an IPv4-mapped IPv6 stays IPv6; CidrSet matches it as IPv4 anyway).
///
/// The caller joins several X-Forwarded-For header lines with "," in their order before the
/// call, which is what they mean (RFC 9110 5.3).
///
/// Pure function: thread-safe, no I/O, no allocation.
boost::asio::ip::address client_address(const boost::asio::ip::address& peer,
                                        std::string_view x_forwarded_for,
                                        const CidrSet& trusted_proxies);

}  // namespace ig::billing
