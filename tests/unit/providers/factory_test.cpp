#include "providers/factory.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace ig::providers {
namespace {

ProviderSettings section(std::map<std::string, std::string> options) {
  ProviderSettings s;
  s.name = "up";
  s.kind = "openai";
  s.options = std::move(options);
  return s;
}

TEST(ProviderFactory, CommonSettingsAreRead) {
  ::setenv("IG_FACTORY_TEST_KEY", "  sk-from-env  ", 1);
  auto c = read_common(section({{"base_url", "https://api.example.com/v1/"},
                                {"api_key_env", "IG_FACTORY_TEST_KEY"},
                                {"model", "gpt-image-2"},
                                {"timeout_ms", "1234"},
                                {"connect_timeout_ms", "50"},
                                {"extra_ca_file", "/tmp/ca.pem"}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->base_url, "https://api.example.com/v1");
  EXPECT_EQ(c->api_key, "sk-from-env");
  EXPECT_EQ(c->timeout.count(), 1234);
  EXPECT_EQ(c->connect_timeout.count(), 50);
  EXPECT_EQ(c->extra_ca_file, "/tmp/ca.pem");
}

TEST(ProviderFactory, KeyFromAFile) {
  const auto file = std::filesystem::temp_directory_path() / "ig-factory-key";
  std::ofstream(file) << "sk-from-file\n";
  auto c = read_common(section({{"base_url", "http://127.0.0.1:9/v1"},
                                {"api_key_file", file.string()}}));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->api_key, "sk-from-file");
}

TEST(ProviderFactory, MissingKeysAreClearStartUpErrors) {
  ::unsetenv("IG_FACTORY_TEST_MISSING");
  auto env = read_common(section({{"base_url", "https://x/v1"},
                                  {"api_key_env", "IG_FACTORY_TEST_MISSING"}}));
  ASSERT_FALSE(env);
  EXPECT_NE(env.error().message.find("providers.up.api_key_env"), std::string::npos);
  EXPECT_NE(env.error().message.find("IG_FACTORY_TEST_MISSING"), std::string::npos);
  auto file = read_common(section({{"base_url", "https://x/v1"},
                                   {"api_key_file", "/nonexistent/ig-key"}}));
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message.find("providers.up.api_key_file"), std::string::npos);
  auto both = read_common(section({{"base_url", "https://x/v1"},
                                   {"api_key_file", "/a"},
                                   {"api_key_env", "B"}}));
  EXPECT_FALSE(both);
  auto no_base = read_common(section({}));
  ASSERT_FALSE(no_base);
  EXPECT_NE(no_base.error().message.find("providers.up.base_url"), std::string::npos);
  auto ftp = read_common(section({{"base_url", "ftp://x"}}));
  EXPECT_FALSE(ftp);
  auto bad_int = read_common(section({{"base_url", "https://x"}, {"timeout_ms", "soon"}}));
  ASSERT_FALSE(bad_int);
  EXPECT_NE(bad_int.error().message.find("providers.up.timeout_ms"), std::string::npos);
}

TEST(ProviderFactory, UnknownKeysAreRefused) {
  auto s = section({{"base_url", "https://x"}, {"max_retries", "1"}, {"colour", "blue"}});
  auto st = check_keys(s, {"auth_header"});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("providers.up.colour"), std::string::npos);
  s.options.erase("colour");
  EXPECT_TRUE(check_keys(s, {"auth_header"}));
}

TEST(ProviderFactory, EveryKindHasAFactory) {
  EXPECT_TRUE(factories().contains("openai"));
  EXPECT_TRUE(factories().contains("relay"));
}

}  // namespace
}  // namespace ig::providers
