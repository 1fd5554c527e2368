#include "core/url_check.hpp"

#include <gtest/gtest.h>

namespace ig::core {
namespace {

TEST(UrlCheck, AcceptsHttpsUrls) {
  EXPECT_TRUE(check_user_url("https://cdn.example.com/input.png", "u"));
  EXPECT_TRUE(check_user_url("https://127.0.0.1:8443/a.png?x=1", "u"));
}

TEST(UrlCheck, RefusesWithClearMessages) {
  auto http = check_user_url("http://cdn.example.com/a.png", "input_urls[0]");
  ASSERT_FALSE(http);
  EXPECT_EQ(http.error().code, ErrorCode::kValidationFailed);
  EXPECT_EQ(http.error().message, "input_urls[0] must use https://");
  EXPECT_EQ(http.error().param, "input_urls[0]");

  auto data = check_user_url("data:image/png;base64,AAAA", "u");
  ASSERT_FALSE(data);
  EXPECT_NE(data.error().message.find("data: URLs are not supported"), std::string::npos);

  EXPECT_FALSE(check_user_url("", "u"));
  EXPECT_FALSE(check_user_url("not a url", "u"));
  EXPECT_FALSE(check_user_url("iVBORw0KGgoAAAANSUhEUgAA", "u"));
  EXPECT_FALSE(check_user_url("https://", "u"));
  EXPECT_FALSE(check_user_url("https://user:pw@host/a.png", "u"));
  EXPECT_FALSE(check_user_url("ftp://host/a.png", "u"));
  EXPECT_FALSE(check_user_url("https://127.0.0.1.nip.io/x.png", "u"));
  EXPECT_FALSE(check_user_url("https://host/" + std::string(3000, 'a'), "u"));
}

}  // namespace
}  // namespace ig::core
