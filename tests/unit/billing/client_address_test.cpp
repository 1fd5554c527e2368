#include "billing/client_address.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ig::billing {
namespace {

boost::asio::ip::address ip(const char* text) {
  return boost::asio::ip::make_address(text);
}

CidrSet proxies() {
  return *CidrSet::parse({"10.0.0.0/8", "fd00::/8"});
}

TEST(ClientAddress, AnUntrustedPeerIsTheClientWhateverItsHeaderSays) {
  const auto peer = ip("203.0.113.9");
  EXPECT_EQ(client_address(peer, "1.1.1.1", proxies()), peer);
  EXPECT_EQ(client_address(peer, "10.0.0.1", proxies()), peer);
  EXPECT_EQ(client_address(peer, "", proxies()), peer);
  // Without trusted proxies the header means nothing at all.
  EXPECT_EQ(client_address(ip("10.0.0.1"), "1.1.1.1", CidrSet()), ip("10.0.0.1"));
}

TEST(ClientAddress, BehindATrustedProxyTheForwardedAddressIsTheClient) {
  EXPECT_EQ(client_address(ip("10.0.0.1"), "203.0.113.7", proxies()), ip("203.0.113.7"));
  EXPECT_EQ(client_address(ip("fd00::1"), "2001:db8::7", proxies()), ip("2001:db8::7"));
  // A dual-stack listener reports an IPv4 proxy as IPv4-mapped.
  EXPECT_EQ(client_address(ip("::ffff:10.0.0.1"), "203.0.113.7", proxies()), ip("203.0.113.7"));
}

TEST(ClientAddress, WhatTheClientWroteLeftOfItsRealAddressIsIgnored) {
  // The client sent "X-Forwarded-For: 6.6.6.6, 10.0.0.2"; our proxy appended what it saw.
  EXPECT_EQ(client_address(ip("10.0.0.1"), "6.6.6.6, 10.0.0.2, 203.0.113.7", proxies()),
            ip("203.0.113.7"));
  EXPECT_EQ(client_address(ip("10.0.0.1"), "6.6.6.6,203.0.113.7", proxies()), ip("203.0.113.7"));
}

TEST(ClientAddress, AChainOfTrustedProxiesIsWalkedFromTheRight) {
  EXPECT_EQ(client_address(ip("10.0.0.1"), "6.6.6.6, 203.0.113.7, 10.0.0.2, fd00::3", proxies()),
            ip("203.0.113.7"));
  // Only trusted hops: the leftmost, the furthest one we can vouch for.
  EXPECT_EQ(client_address(ip("10.0.0.1"), "10.0.0.9, 10.0.0.2", proxies()), ip("10.0.0.9"));
}

TEST(ClientAddress, AnEmptyHeaderLeavesThePeer) {
  EXPECT_EQ(client_address(ip("10.0.0.1"), "", proxies()), ip("10.0.0.1"));
  EXPECT_EQ(client_address(ip("10.0.0.1"), "  \t ", proxies()), ip("10.0.0.1"));
}

TEST(ClientAddress, GarbageEndsTheWalkAtTheLastTrustedHop) {
  const auto peer = ip("10.0.0.1");
  EXPECT_EQ(client_address(peer, "203.0.113.7, garbage", proxies()), peer);
  EXPECT_EQ(client_address(peer, "203.0.113.7, unknown, 10.0.0.2", proxies()), ip("10.0.0.2"));
  EXPECT_EQ(client_address(peer, "203.0.113.7,", proxies()), peer);
  EXPECT_EQ(client_address(peer, "203.0.113.7,,10.0.0.2", proxies()), ip("10.0.0.2"));
  for (const char* bad :
       {"203.0.113.7:", "203.0.113.7:99999", "203.0.113.7:8a", "203.0.113.7:80:81", "[2001:db8::1",
        "[2001:db8::1]:", "[2001:db8::1]x", "[2001:db8::1]:-1", "[203.0.113.7]", "2001:db8::1:443x",
        "fe80::1%eth0", "203.0.113.7 8", "203.0.113", "256.0.0.1", "for=203.0.113.7",
        "\"203.0.113.7\"", "203.0.113.7;x"}) {
    EXPECT_EQ(client_address(peer, std::string("198.51.100.1, ") + bad, proxies()), peer) << bad;
  }
}

TEST(ClientAddress, PortsBracketsAndSpacesAreUnderstood) {
  const auto peer = ip("10.0.0.1");
  EXPECT_EQ(client_address(peer, "[2001:db8::1]:443", proxies()), ip("2001:db8::1"));
  EXPECT_EQ(client_address(peer, "[2001:db8::1]", proxies()), ip("2001:db8::1"));
  EXPECT_EQ(client_address(peer, "2001:db8::1", proxies()), ip("2001:db8::1"));
  EXPECT_EQ(client_address(peer, "1.2.3.4:5678", proxies()), ip("1.2.3.4"));
  EXPECT_EQ(client_address(peer, " \t1.2.3.4 , 10.0.0.5:80 ,\t[fd00::2]:8443  ", proxies()),
            ip("1.2.3.4"));
  EXPECT_EQ(client_address(peer, "::ffff:1.2.3.4", proxies()), ip("::ffff:1.2.3.4"));
}

TEST(ClientAddress, SeveralHeaderLinesJoinedByTheCaller) {
  // "X-Forwarded-For: 6.6.6.6" and "X-Forwarded-For: 203.0.113.7, 10.0.0.2" arrive as one.
  EXPECT_EQ(client_address(ip("10.0.0.1"), "6.6.6.6,203.0.113.7, 10.0.0.2", proxies()),
            ip("203.0.113.7"));
}

TEST(ClientAddress, AVeryLongChainOfTrustedHopsIsCutShort) {
  std::string header = "203.0.113.7";
  for (int i = 0; i < 100; ++i) {
    header += ", 10.0.0." + std::to_string(i + 2);
  }
  // The walk stops 32 hops from the right, on a trusted hop: the client is never reached.
  EXPECT_EQ(client_address(ip("10.0.0.1"), header, proxies()), ip("10.0.0.70"));
}

}  // namespace
}  // namespace ig::billing
