#include "http/proxy.hpp"

#include <gtest/gtest.h>

namespace ig::http {
namespace {

TEST(ParseProxy, SchemeHostPortAndCredentials) {
  auto p = parse_proxy("http://alice:s%3Acret@Proxy.Internal:3128/");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->host, "proxy.internal");
  EXPECT_EQ(p->port, 3128);
  EXPECT_EQ(p->where, "proxy.internal:3128");
  EXPECT_EQ(p->authorization, "Basic YWxpY2U6czpjcmV0");  // alice:s:cret

  auto bare = parse_proxy(" 10.0.0.1:8080 ");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->host, "10.0.0.1");
  EXPECT_EQ(bare->port, 8080);
  EXPECT_EQ(bare->authorization, "");

  auto v6 = parse_proxy("http://[::1]");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 80);
  EXPECT_EQ(v6->where, "[::1]:80");
}

TEST(ParseProxy, RefusesWhatItCannotUseWithoutEchoingIt) {
  for (const char* setting :
       {"https://u:topsecret@proxy:443", "socks5://u:topsecret@proxy:1080", "http://u:topsecret@",
        "http://u:topsecret@proxy:99999", "http://u:topsecret@proxy:0", "::not a url::"}) {
    auto p = parse_proxy(setting);
    ASSERT_FALSE(p) << setting;
    EXPECT_EQ(p.error().kind, ErrorKind::kInvalidUrl);
    EXPECT_EQ(p.error().message.find("topsecret"), std::string::npos) << p.error().message;
  }
}

TEST(NoProxy, ExactAndSubdomainMatches) {
  EXPECT_TRUE(no_proxy_matches("example.com", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches("example.com", "api.example.com", 443));
  EXPECT_TRUE(no_proxy_matches(".example.com", "api.example.com", 443));
  EXPECT_TRUE(no_proxy_matches(".example.com", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches("*.example.com", "a.b.example.com", 443));
  EXPECT_FALSE(no_proxy_matches("example.com", "badexample.com", 443));
  EXPECT_FALSE(no_proxy_matches("example.com", "example.com.evil.net", 443));
  EXPECT_FALSE(no_proxy_matches("api.example.com", "example.com", 443));
  EXPECT_FALSE(no_proxy_matches("", "example.com", 443));
}

TEST(NoProxy, ListsCaseAndSpaces) {
  EXPECT_TRUE(no_proxy_matches("foo.test, Example.COM ,bar.test", "www.example.com", 80));
  EXPECT_TRUE(no_proxy_matches("localhost", "LOCALHOST", 80));
  EXPECT_TRUE(no_proxy_matches("example.com.", "example.com", 80));
  EXPECT_FALSE(no_proxy_matches(",,  ,", "example.com", 80));
}

TEST(NoProxy, Wildcard) {
  EXPECT_TRUE(no_proxy_matches("*", "anything.example", 443));
  EXPECT_TRUE(no_proxy_matches("foo.test,*", "10.1.2.3", 443));
  EXPECT_FALSE(no_proxy_matches("*foo.test", "bar.test", 443));
}

TEST(NoProxy, Ports) {
  EXPECT_TRUE(no_proxy_matches("example.com:8443", "example.com", 8443));
  EXPECT_FALSE(no_proxy_matches("example.com:8443", "example.com", 443));
  EXPECT_TRUE(no_proxy_matches("example.com:8443", "api.example.com", 8443));
  EXPECT_TRUE(no_proxy_matches("10.0.0.1:80", "10.0.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("10.0.0.1:80", "10.0.0.1", 81));
  EXPECT_TRUE(no_proxy_matches("[::1]:8080", "::1", 8080));
  EXPECT_FALSE(no_proxy_matches("[::1]:8080", "::1", 80));
  EXPECT_FALSE(no_proxy_matches("example.com:notaport", "example.com", 80));
}

TEST(NoProxy, IpLiteralsCompareAsAddresses) {
  EXPECT_TRUE(no_proxy_matches("127.0.0.1", "127.0.0.1", 80));
  EXPECT_TRUE(no_proxy_matches("::1", "0:0:0:0:0:0:0:1", 80));
  EXPECT_TRUE(no_proxy_matches("[::1]", "::1", 80));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.2", 80));
  // An address entry never matches as a domain suffix, nor a name as an address.
  EXPECT_FALSE(no_proxy_matches("0.0.1", "10.0.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("localhost", "127.0.0.1", 80));
}

}  // namespace
}  // namespace ig::http
