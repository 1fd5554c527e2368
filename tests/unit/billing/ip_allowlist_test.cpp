#include "billing/ip_allowlist.hpp"

#include <gtest/gtest.h>

namespace ig::billing {
namespace {

boost::asio::ip::address ip(const char* text) {
  return boost::asio::ip::make_address(text);
}

CidrSet set_of(std::vector<std::string> cidrs) {
  auto set = CidrSet::parse(cidrs);
  EXPECT_TRUE(set) << (set ? "" : set.error().message);
  return set ? *set : CidrSet();
}

TEST(CidrSet, MatchesIPv4Blocks) {
  const CidrSet set = set_of({"10.0.0.0/8", "192.168.1.128/25"});
  EXPECT_TRUE(set.contains(ip("10.0.0.0")));
  EXPECT_TRUE(set.contains(ip("10.255.255.255")));
  EXPECT_FALSE(set.contains(ip("11.0.0.0")));
  EXPECT_FALSE(set.contains(ip("9.255.255.255")));
  EXPECT_TRUE(set.contains(ip("192.168.1.128")));
  EXPECT_TRUE(set.contains(ip("192.168.1.255")));
  EXPECT_FALSE(set.contains(ip("192.168.1.127")));
  EXPECT_FALSE(set.contains(ip("2001:db8::1")));
}

TEST(CidrSet, MatchesIPv6Blocks) {
  const CidrSet set = set_of({"2001:db8::/32", "fd00:1:2:3::/63"});
  EXPECT_TRUE(set.contains(ip("2001:db8::1")));
  EXPECT_TRUE(set.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(set.contains(ip("2001:db9::")));
  EXPECT_TRUE(set.contains(ip("fd00:1:2:2::1")));
  EXPECT_TRUE(set.contains(ip("fd00:1:2:3::1")));
  EXPECT_FALSE(set.contains(ip("fd00:1:2:4::")));
  EXPECT_FALSE(set.contains(ip("10.0.0.1")));
}

TEST(CidrSet, BareAddressesAreSingleHosts) {
  const CidrSet set = set_of({"192.168.1.7", "::1"});
  EXPECT_TRUE(set.contains(ip("192.168.1.7")));
  EXPECT_FALSE(set.contains(ip("192.168.1.6")));
  EXPECT_FALSE(set.contains(ip("192.168.1.8")));
  EXPECT_TRUE(set.contains(ip("::1")));
  EXPECT_FALSE(set.contains(ip("::2")));
  EXPECT_FALSE(set.contains(ip("::")));
  EXPECT_EQ(set.to_strings(), (std::vector<std::string>{"192.168.1.7/32", "::1/128"}));
}

TEST(CidrSet, EdgePrefixes) {
  const CidrSet all_v4 = set_of({"0.0.0.0/0"});
  EXPECT_TRUE(all_v4.contains(ip("0.0.0.0")));
  EXPECT_TRUE(all_v4.contains(ip("255.255.255.255")));
  EXPECT_TRUE(all_v4.contains(ip("::ffff:8.8.8.8")));
  EXPECT_FALSE(all_v4.contains(ip("2001:db8::1")));
  EXPECT_FALSE(all_v4.contains(ip("::1")));

  // IPv4 is IPv4-mapped IPv6 here, as on a dual-stack socket.
  const CidrSet all = set_of({"::/0"});
  EXPECT_TRUE(all.contains(ip("2001:db8::1")));
  EXPECT_TRUE(all.contains(ip("8.8.8.8")));

  const CidrSet hosts = set_of({"1.2.3.4/32", "2001:db8::7/128"});
  EXPECT_TRUE(hosts.contains(ip("1.2.3.4")));
  EXPECT_FALSE(hosts.contains(ip("1.2.3.5")));
  EXPECT_TRUE(hosts.contains(ip("2001:db8::7")));
  EXPECT_FALSE(hosts.contains(ip("2001:db8::6")));

  const CidrSet pair = set_of({"1.2.3.4/31", "2001:db8::6/127"});
  EXPECT_TRUE(pair.contains(ip("1.2.3.5")));
  EXPECT_FALSE(pair.contains(ip("1.2.3.6")));
  EXPECT_TRUE(pair.contains(ip("2001:db8::7")));
  EXPECT_FALSE(pair.contains(ip("2001:db8::8")));
}

TEST(CidrSet, IPv4MappedAddressesMatchIPv4Blocks) {
  const CidrSet set = set_of({"10.0.0.0/8"});
  EXPECT_TRUE(set.contains(ip("::ffff:10.1.2.3")));
  EXPECT_FALSE(set.contains(ip("::ffff:11.1.2.3")));
  // Only the mapped form: IPv4-compatible and NAT64 addresses are other hosts.
  EXPECT_FALSE(set.contains(ip("::10.1.2.3")));
  EXPECT_FALSE(set.contains(ip("64:ff9b::10.1.2.3")));

  const CidrSet mapped = set_of({"::ffff:10.0.0.0/104"});
  EXPECT_TRUE(mapped.contains(ip("10.1.2.3")));
  EXPECT_FALSE(mapped.contains(ip("11.1.2.3")));
}

TEST(CidrSet, HostBitsAreCleared) {
  const CidrSet set = set_of({"10.0.0.1/8", "2001:db8::1/32", "192.168.1.200/25"});
  EXPECT_TRUE(set.contains(ip("10.9.9.9")));
  EXPECT_TRUE(set.contains(ip("2001:db8:1::")));
  EXPECT_TRUE(set.contains(ip("192.168.1.129")));
  EXPECT_EQ(set.to_strings(),
            (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32", "192.168.1.128/25"}));
}

TEST(CidrSet, CanonicalTextReadsBackTheSame) {
  const CidrSet set = set_of(
      {" 10.0.0.0/8 ", "2001:0DB8:0000::/32", "10.0.0.0/8", "0.0.0.0/0", "::ffff:1.2.3.4", "::/0"});
  const auto text = set.to_strings();
  EXPECT_EQ(text, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0",
                                            "::ffff:1.2.3.4/128", "::/0"}));
  EXPECT_EQ(set_of(text).to_strings(), text);
}

TEST(CidrSet, RefusesWhatIsNotABlockNamingTheEntry) {
  for (const char* bad : {"",
                          " ",
                          "/8",
                          "10.0.0.0/",
                          "10.0.0.0/33",
                          "::/129",
                          "10.0.0.0/-1",
                          "10.0.0.0/+8",
                          "10.0.0.0/8/8",
                          "10.0.0.0/ 8",
                          "10.0.0.0 /8",
                          "10.0.0.0/0x8",
                          "10.0.0.0/0008",
                          "10.0.0",
                          "256.0.0.1",
                          "010.0.0.1",
                          "0x0a.0.0.1",
                          "10.0.0.0.0",
                          "abc",
                          "localhost",
                          "[::1]",
                          "[::1]/128",
                          "1.2.3.4:80",
                          "fe80::1%eth0",
                          "fe80::1%1/64",
                          "2001:db8:::/32",
                          "1:2:3:4:5:6:7:8:9",
                          "10.0.0.0\n"}) {
    auto set = CidrSet::parse({"10.0.0.0/8", bad});
    ASSERT_FALSE(set) << bad;
    EXPECT_EQ(set.error().code, core::ErrorCode::kInvalidRequest) << bad;
    EXPECT_NE(set.error().message.find("\"" + std::string(bad) + "\""), std::string::npos)
        << set.error().message;
  }
}

TEST(CidrSet, EmptyContainsNothing) {
  const CidrSet set = set_of({});
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.contains(ip("0.0.0.0")));
  EXPECT_FALSE(set.contains(ip("::")));
  EXPECT_TRUE(set.to_strings().empty());
  EXPECT_FALSE(CidrSet().contains(ip("127.0.0.1")));
}

TEST(ParseIp, TakesOnlyABareAddress) {
  EXPECT_EQ(parse_ip("1.2.3.4"), ip("1.2.3.4"));
  EXPECT_EQ(parse_ip("::ffff:1.2.3.4"), ip("::ffff:1.2.3.4"));
  EXPECT_TRUE(parse_ip("::ffff:1.2.3.4")->is_v6());
  EXPECT_FALSE(parse_ip(" 1.2.3.4"));
  EXPECT_FALSE(parse_ip("1.2.3.4:80"));
  EXPECT_FALSE(parse_ip("[::1]"));
  EXPECT_FALSE(parse_ip("fe80::1%lo"));
  EXPECT_FALSE(parse_ip(std::string(100, '1')));
}

}  // namespace
}  // namespace ig::billing
