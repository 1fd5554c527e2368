#include "media/detail/hop.hpp"

#include <gtest/gtest.h>

namespace ig::media::detail {
namespace {

Hop hop_of(std::string_view url) {
  auto checked = check_url(url);
  if (auto* error = std::get_if<FetchError>(&checked)) {
    ADD_FAILURE() << url << ": " << error->message;
    return {};
  }
  return std::get<Hop>(checked);
}

FetchFailure failure_of(std::string_view url) {
  auto checked = check_url(url);
  EXPECT_TRUE(std::holds_alternative<FetchError>(checked)) << url;
  return std::holds_alternative<FetchError>(checked) ? std::get<FetchError>(checked).kind
                                                     : FetchFailure::kBadResponse;
}

TEST(CheckUrl, SplitsANamedHost) {
  Hop hop = hop_of("https://Images.Example.COM/a/b.png?size=2&x=%20#top");
  EXPECT_EQ(hop.host, "images.example.com");
  EXPECT_FALSE(hop.literal);
  EXPECT_EQ(hop.port, 443);
  EXPECT_EQ(hop.host_header, "images.example.com");
  EXPECT_EQ(hop.target, "/a/b.png?size=2&x=%20");
  EXPECT_EQ(hop.url, "https://images.example.com/a/b.png?size=2&x=%20");
}

TEST(CheckUrl, EmptyPathBecomesSlashAndPortGoesToHostHeader) {
  Hop hop = hop_of("https://example.com:8443");
  EXPECT_EQ(hop.target, "/");
  EXPECT_EQ(hop.port, 8443);
  EXPECT_EQ(hop.host_header, "example.com:8443");
  EXPECT_EQ(hop_of("https://example.com:443/").host_header, "example.com");
}

TEST(CheckUrl, IpLiteralsAreNotResolved) {
  Hop v4 = hop_of("https://8.8.8.8/x");
  ASSERT_TRUE(v4.literal);
  EXPECT_EQ(v4.literal->to_string(), "8.8.8.8");
  EXPECT_EQ(v4.host, "8.8.8.8");

  Hop v6 = hop_of("https://[2606:4700:4700::1111]:8443/x");
  ASSERT_TRUE(v6.literal);
  EXPECT_TRUE(v6.literal->is_v6());
  EXPECT_EQ(v6.host, "2606:4700:4700::1111");
  EXPECT_EQ(v6.host_header, "[2606:4700:4700::1111]:8443");

  Hop hex = hop_of("https://0x08080808/");
  ASSERT_TRUE(hex.literal);
  EXPECT_EQ(hex.host, "8.8.8.8");
  EXPECT_EQ(hex.host_header, "8.8.8.8");
}

TEST(CheckUrl, RefusesWhatCannotBeFetchedSafely) {
  EXPECT_EQ(failure_of("http://example.com/"), FetchFailure::kNotHttps);
  EXPECT_EQ(failure_of("wss://example.com/"), FetchFailure::kNotHttps);
  EXPECT_EQ(failure_of("DATA:image/png;base64,AAAA"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://a@example.com/"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://example.com:65536/"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://example.com:/"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://[v7.fe80::1]/"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://b%C3%BCcher.example/"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://exa mple.com/"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://1.2.3.4.5/"), FetchFailure::kInvalidUrl);
  // Boost.URL 1.81 reads these as IPv4 host 127.0.0.1 / 8.8.8.8 plus a path without "/".
  EXPECT_EQ(failure_of("https://127.0.0.1.nip.io/x"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://8.8.8.8x/"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of("https://8.8.8.8.evil.example:443/"), FetchFailure::kInvalidUrl);
  EXPECT_EQ(failure_of(std::string("https://") + std::string(254, 'a') + "/"),
            FetchFailure::kInvalidUrl);
}

TEST(ResolveLocation, HandlesRelativeAndAbsoluteTargets) {
  auto get = [](std::string_view base, std::string_view location) {
    auto next = resolve_location(base, location);
    EXPECT_TRUE(std::holds_alternative<std::string>(next)) << location;
    return std::holds_alternative<std::string>(next) ? std::get<std::string>(next) : "";
  };
  EXPECT_EQ(get("https://a.example/x/y.png", "z.png"), "https://a.example/x/z.png");
  EXPECT_EQ(get("https://a.example/x/y.png", "/z.png"), "https://a.example/z.png");
  EXPECT_EQ(get("https://a.example/x/y.png", "//b.example/z"), "https://b.example/z");
  EXPECT_EQ(get("https://a.example/x/y.png", "http://b.example/z"), "http://b.example/z");
  // Boost.URL 1.81 keeps ".." segments above the root; the origin is what matters here.
  EXPECT_EQ(origin_of(get("https://a.example/x/y.png", "../../../z")), "https://a.example");
  EXPECT_TRUE(std::holds_alternative<FetchError>(
      resolve_location("https://a.example/", "https://exa mple.com/")));
}

TEST(OriginOf, KeepsOnlySchemeHostAndPort) {
  EXPECT_EQ(origin_of("https://a.example:8443/p?token=secret"), "https://a.example:8443");
  EXPECT_EQ(origin_of("not a url"), "an invalid URL");
}

}  // namespace
}  // namespace ig::media::detail
