#include "media/address_policy.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ig::media {
namespace {

using boost::asio::ip::make_address;

bool is_public(const std::string& text) {
  return is_public_address(make_address(text));
}

struct Case {
  const char* address;
  bool is_public;
};

class PublicAddressTest : public ::testing::TestWithParam<Case> {};

TEST_P(PublicAddressTest, Classifies) {
  EXPECT_EQ(is_public(GetParam().address), GetParam().is_public) << GetParam().address;
}

INSTANTIATE_TEST_SUITE_P(
    Ipv4, PublicAddressTest,
    ::testing::Values(
        // Ordinary public addresses.
        Case{"8.8.8.8", true}, Case{"1.1.1.1", true}, Case{"93.184.216.34", true},
        // 0/8 "this network".
        Case{"0.0.0.0", false}, Case{"0.255.255.255", false}, Case{"1.0.0.0", true},
        // 10/8.
        Case{"9.255.255.255", true}, Case{"10.0.0.0", false}, Case{"10.255.255.255", false},
        Case{"11.0.0.0", true},
        // 100.64/10 shared address space.
        Case{"100.63.255.255", true}, Case{"100.64.0.0", false}, Case{"100.127.255.255", false},
        Case{"100.128.0.0", true},
        // 127/8 loopback, all of it.
        Case{"127.0.0.1", false}, Case{"127.255.255.254", false}, Case{"128.0.0.0", true},
        // 169.254/16 link-local, including the cloud metadata address.
        Case{"169.254.169.254", false}, Case{"169.253.255.255", true}, Case{"169.255.0.0", true},
        // 172.16/12.
        Case{"172.15.255.255", true}, Case{"172.16.0.0", false}, Case{"172.31.255.255", false},
        Case{"172.32.0.0", true},
        // 192.0.0/24 and 192.0.2/24.
        Case{"192.0.0.8", false}, Case{"192.0.1.1", true}, Case{"192.0.2.1", false},
        Case{"192.0.3.0", true},
        // 192.88.99/24 6to4 relay anycast.
        Case{"192.88.98.255", true}, Case{"192.88.99.1", false}, Case{"192.88.100.0", true},
        // 192.168/16.
        Case{"192.167.255.255", true}, Case{"192.168.1.1", false}, Case{"192.169.0.0", true},
        // 198.18/15 benchmarking.
        Case{"198.17.255.255", true}, Case{"198.18.0.0", false}, Case{"198.19.255.255", false},
        Case{"198.20.0.0", true},
        // 198.51.100/24 and 203.0.113/24 documentation.
        Case{"198.51.99.255", true}, Case{"198.51.100.7", false}, Case{"198.51.101.0", true},
        Case{"203.0.112.255", true}, Case{"203.0.113.9", false}, Case{"203.0.114.0", true},
        // 224/4 multicast and 240/4 reserved, including broadcast.
        Case{"223.255.255.255", true}, Case{"224.0.0.1", false}, Case{"239.255.255.255", false},
        Case{"240.0.0.1", false}, Case{"255.255.255.255", false}));

INSTANTIATE_TEST_SUITE_P(
    Ipv6, PublicAddressTest,
    ::testing::Values(
        // Global unicast.
        Case{"2606:4700:4700::1111", true}, Case{"2a00:1450:4001:80b::200e", true},
        Case{"2000::1", true}, Case{"3ffe:ffff::1", true},
        // Outside 2000::/3.
        Case{"::", false}, Case{"::1", false}, Case{"fe80::1", false}, Case{"fc00::1", false},
        Case{"fd12:3456::1", false}, Case{"ff02::1", false}, Case{"1fff:ffff::1", false},
        Case{"4000::1", false}, Case{"100::1", false},
        // Special blocks inside 2000::/3.
        Case{"2001::1", false}, Case{"2001:1ff:ffff::1", false}, Case{"2001:200::1", true},
        Case{"2001:db8::1", false}, Case{"2001:db9::1", true}, Case{"3fff::1", false},
        Case{"3fff:fff::1", false}, Case{"3fff:1000::1", true}, Case{"5f00::1", false},
        // NAT64 local-use 64:ff9b:1::/48 is refused outright.
        Case{"64:ff9b:1::808:808", false},
        // IPv4-mapped: the inner address decides.
        Case{"::ffff:8.8.8.8", true}, Case{"::ffff:127.0.0.1", false},
        Case{"::ffff:10.1.2.3", false}, Case{"::ffff:169.254.169.254", false},
        // IPv4-compatible (deprecated) form.
        Case{"::8.8.8.8", true}, Case{"::127.0.0.1", false}, Case{"::192.168.0.1", false},
        // NAT64 well-known prefix.
        Case{"64:ff9b::8.8.8.8", true}, Case{"64:ff9b::127.0.0.1", false},
        Case{"64:ff9b::a00:1", false},
        // 6to4: bits 16..47 carry the IPv4 address.
        Case{"2002:0808:0808::", true}, Case{"2002:0808:0808:1::1", true},
        Case{"2002:7f00:0001::", false}, Case{"2002:a9fe:a9fe::1", false},
        Case{"2002:c0a8:0101::", false}));

TEST(ParseCidr, AcceptsAddressesAndPrefixes) {
  auto v4 = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->net, make_address("10.0.0.0"));
  EXPECT_EQ(v4->prefix, 8);

  auto v6 = parse_cidr("2001:db8::/32");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->net, make_address("2001:db8::"));
  EXPECT_EQ(v6->prefix, 32);

  auto host = parse_cidr("127.0.0.1");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefix, 32);
  auto host6 = parse_cidr("::1");
  ASSERT_TRUE(host6);
  EXPECT_EQ(host6->prefix, 128);

  ASSERT_TRUE(parse_cidr("0.0.0.0/0"));
  EXPECT_EQ(parse_cidr("::/0")->prefix, 0);
  EXPECT_EQ(parse_cidr("::/128")->prefix, 128);
}

TEST(ParseCidr, RefusesMalformedInput) {
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1",
                          "10.0.0.0/8x", "10.0.0.0/ 8", "10.0.0/8", "10.0.0.256/8", "localhost",
                          "10.0.0.0/8/8", "fe80::1%eth0/64", "10.0.0.0/0008", "1.2.3.4 /32"}) {
    EXPECT_FALSE(parse_cidr(bad)) << "'" << bad << "'";
  }
}

TEST(CidrContains, MatchesPrefixBits) {
  auto net = *parse_cidr("172.16.0.0/12");
  EXPECT_TRUE(cidr_contains(net, make_address("172.16.0.0")));
  EXPECT_TRUE(cidr_contains(net, make_address("172.31.255.255")));
  EXPECT_FALSE(cidr_contains(net, make_address("172.32.0.0")));
  EXPECT_FALSE(cidr_contains(net, make_address("172.15.255.255")));

  // Host bits in the network address are ignored.
  auto sloppy = *parse_cidr("10.1.2.3/8");
  EXPECT_TRUE(cidr_contains(sloppy, make_address("10.200.0.1")));

  auto host = *parse_cidr("127.0.0.1/32");
  EXPECT_TRUE(cidr_contains(host, make_address("127.0.0.1")));
  EXPECT_FALSE(cidr_contains(host, make_address("127.0.0.2")));

  auto all = *parse_cidr("0.0.0.0/0");
  EXPECT_TRUE(cidr_contains(all, make_address("203.0.113.1")));
  EXPECT_FALSE(cidr_contains(all, make_address("2001:db8::1")));

  auto v6 = *parse_cidr("fd00::/8");
  EXPECT_TRUE(cidr_contains(v6, make_address("fdff:ffff::1")));
  EXPECT_FALSE(cidr_contains(v6, make_address("fe00::1")));
  EXPECT_FALSE(cidr_contains(v6, make_address("10.0.0.1")));
}

TEST(CidrContains, Ipv4BlockMatchesMappedAddress) {
  auto host = *parse_cidr("127.0.0.1/32");
  EXPECT_TRUE(cidr_contains(host, make_address("::ffff:127.0.0.1")));
  EXPECT_FALSE(cidr_contains(host, make_address("::ffff:127.0.0.2")));
}

TEST(AddressPolicy, DefaultAllowsOnlyPublicAddresses) {
  AddressPolicy policy;
  EXPECT_TRUE(policy.allowed(make_address("8.8.8.8")));
  EXPECT_TRUE(policy.allowed(make_address("2606:4700:4700::1111")));
  EXPECT_FALSE(policy.allowed(make_address("127.0.0.1")));
  EXPECT_FALSE(policy.allowed(make_address("::1")));
  EXPECT_FALSE(policy.allowed(make_address("10.0.0.5")));
}

TEST(AddressPolicy, ExplicitAllowanceAddsOnlyThatBlock) {
  AddressPolicy policy({*parse_cidr("127.0.0.1/32")});
  EXPECT_TRUE(policy.allowed(make_address("127.0.0.1")));
  EXPECT_TRUE(policy.allowed(make_address("8.8.8.8")));
  EXPECT_FALSE(policy.allowed(make_address("127.0.0.2")));
  EXPECT_FALSE(policy.allowed(make_address("::1")));
  EXPECT_FALSE(policy.allowed(make_address("10.0.0.5")));
  EXPECT_FALSE(policy.allowed(make_address("169.254.169.254")));
}

TEST(ParseIpv4Literal, ReadsEveryFormResolversAccept) {
  auto loopback = make_address("127.0.0.1").to_v4();
  for (const char* form :
       {"127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1",
        "0177.0.0.01", "0x7F.0.0.0x1", "127.0.0.1.", "017700000001", "127.000.000.001"}) {
    auto parsed = parse_ipv4_literal(form);
    ASSERT_TRUE(parsed) << form;
    EXPECT_EQ(*parsed, loopback) << form;
  }
  EXPECT_EQ(*parse_ipv4_literal("10.1"), make_address("10.0.0.1").to_v4());
  EXPECT_EQ(*parse_ipv4_literal("0"), make_address("0.0.0.0").to_v4());
  EXPECT_EQ(*parse_ipv4_literal("0xa9fea9fe"), make_address("169.254.169.254").to_v4());
}

TEST(ParseIpv4Literal, HostNamesAreNotAddresses) {
  for (const char* name :
       {"example.com", "localhost", "1e100.net", "127.0.0.1.nip.io", "0x7f.example", "a.1b"}) {
    bool invalid = true;
    EXPECT_FALSE(parse_ipv4_literal(name, &invalid)) << name;
    EXPECT_FALSE(invalid) << name;
  }
}

TEST(ParseIpv4Literal, NumericButMalformedIsFlagged) {
  for (const char* bad : {"1.2.3.4.5", "256.0.0.1", "1.2.3.256", "4294967296", "0x100000000",
                          "1.2.65536", "08.0.0.1", "1.2.3.09", "1..2", "example.123"}) {
    bool invalid = false;
    EXPECT_FALSE(parse_ipv4_literal(bad, &invalid)) << bad;
    EXPECT_TRUE(invalid) << bad;
  }
}

}  // namespace
}  // namespace ig::media
