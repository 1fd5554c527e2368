#include "app/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace ig::app {
namespace {

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  auto p = std::filesystem::temp_directory_path() / name;
  std::ofstream(p) << text;
  return p;
}

TEST(Config, DefaultsMatchTheCommandLineContract) {
  Config c;
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.data_dir, std::filesystem::path("./data"));
  EXPECT_EQ(c.max_header_bytes, 16 * 1024);
  EXPECT_EQ(c.max_body_bytes, 1024 * 1024);
  EXPECT_EQ(c.result_ttl_s, 86400);
  EXPECT_EQ(c.input_max_bytes, 50 * 1024 * 1024);
  EXPECT_TRUE(c.unsafe_allow_cidrs.empty());
  EXPECT_EQ(c.io_slice_us, 300);
}

TEST(Config, TomlFileSetsEveryKind) {
  auto file = write_file("ig-config-test.toml", R"(
[server]
listen = "0.0.0.0:9000"
io_threads = 3
io_slice_us = 0
[sandbox]
failure_rate = 0.25
latency_ms = 5
[media]
unsafe_allow_cidrs = ["127.0.0.1/32", "::1/128"]
)");
  Config c;
  auto st = load_toml(c, file);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.io_threads, 3);
  EXPECT_EQ(c.io_slice_us, 0);
  EXPECT_DOUBLE_EQ(c.sandbox_failure_rate, 0.25);
  EXPECT_EQ(c.sandbox_latency_ms, 5);
  EXPECT_EQ(c.unsafe_allow_cidrs, (std::vector<std::string>{"127.0.0.1/32", "::1/128"}));
}

TEST(Config, TomlErrorsNameTheProblem) {
  Config c;
  auto unknown = load_toml(c, write_file("ig-config-bad1.toml", "[server]\nlisten_on = \"x\"\n"));
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("server.listen_on: unknown option"), std::string::npos);
  auto range = load_toml(c, write_file("ig-config-bad2.toml", "[sandbox]\nfailure_rate = 2.0\n"));
  ASSERT_FALSE(range);
  EXPECT_NE(range.error().message.find("sandbox.failure_rate"), std::string::npos);
  auto syntax = load_toml(c, write_file("ig-config-bad3.toml", "[server\n"));
  ASSERT_FALSE(syntax);
  auto type = load_toml(c, write_file("ig-config-bad4.toml", "[server]\nio_threads = \"many\"\n"));
  ASSERT_FALSE(type);
  EXPECT_NE(type.error().message.find("expected an integer"), std::string::npos);
}

TEST(Config, TomlTextReadsLikeAFileAndNamesItsSource) {
  Config c;
  const std::string text =
      "[server]\nlisten = \"0.0.0.0:9001\"\n[routing]\n\"gpt-image-2\" = [\"a\"]\n";
  auto st = load_toml_text(c, text, "inline.toml");
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.listen, "0.0.0.0:9001");
  ASSERT_EQ(c.routing.size(), 1u);
  EXPECT_EQ(c.routing[0].second, std::vector<std::string>{"a"});
  auto syntax = load_toml_text(c, "[server\n", "inline.toml");
  ASSERT_FALSE(syntax);
  EXPECT_NE(syntax.error().message.find("config inline.toml: "), std::string::npos);
  auto prices = load_toml_text(c, "[prices]\nnot_a_price = 1\n", "inline.toml");
  ASSERT_FALSE(prices);
  EXPECT_NE(prices.error().message.find("config inline.toml: "), std::string::npos);
}

TEST(Config, EnvironmentOverridesAndShorthands) {
  std::string a = "IMAGEGATE_SERVER_LISTEN=127.0.0.1:7000";
  std::string b = "IMAGEGATE_DATA_DIR=/tmp/igdata";
  std::string c_ = "IMAGEGATE_DISPATCHER_CONCURRENCY=9";
  std::string d = "IMAGEGATE_SOMETHING_ELSE=1";  // not ours: ignored
  std::string e = "PATH=/bin";
  char* env[] = {a.data(), b.data(), c_.data(), d.data(), e.data(), nullptr};
  Config c;
  auto st = load_env(c, env);
  ASSERT_TRUE(st) << st.error().message;
  EXPECT_EQ(c.listen, "127.0.0.1:7000");
  EXPECT_EQ(c.data_dir, std::filesystem::path("/tmp/igdata"));
  EXPECT_EQ(c.concurrency, 9);
}

TEST(Config, BadEnvironmentValueIsAnError) {
  std::string a = "IMAGEGATE_DISPATCHER_CONCURRENCY=0";
  char* env[] = {a.data(), nullptr};
  Config c;
  EXPECT_FALSE(load_env(c, env));
}

TEST(Config, SetOption) {
  Config c;
  EXPECT_TRUE(set_option(c, "results.ttl_s", "60"));
  EXPECT_EQ(c.result_ttl_s, 60);
  EXPECT_FALSE(set_option(c, "results.ttl_s", "sixty"));
  EXPECT_FALSE(set_option(c, "results.ttl_s", "60s"));
  EXPECT_FALSE(set_option(c, "nope.nope", "1"));
  EXPECT_TRUE(set_option(c, "media.unsafe_allow_cidrs", "127.0.0.1/32,10.0.0.0/8"));
  EXPECT_EQ(c.unsafe_allow_cidrs.size(), 2u);
}

TEST(Config, LogLevelIsOneOfSpdlogs) {
  Config c;
  EXPECT_TRUE(set_option(c, "log.level", "debug"));
  EXPECT_EQ(c.log_level, "debug");
  auto bad = set_option(c, "log.level", "inf");  // a typo must not silence the logs
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("must be one of"), std::string::npos);
  EXPECT_EQ(c.log_level, "debug");
}

TEST(Config, ProvidersAndRoutingTables) {
  auto file = write_file("ig-config-providers.toml", R"(
[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
timeout_ms = 600000
concurrency = 8

[providers.kie]
kind = "relay"
dialect = "jobs"
base_url = "https://api.kie.ai"

[routing]
"gpt-image-2" = ["openai", "kie"]
"*" = "sandbox"
)");
  Config c;
  auto st = load_toml(c, file);
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_EQ(c.providers.size(), 2u);
  const auto& openai = *std::find_if(c.providers.begin(), c.providers.end(),
                                     [](const auto& p) { return p.name == "openai"; });
  EXPECT_EQ(openai.kind, "openai");
  EXPECT_EQ(openai.options.at("base_url"), "https://api.openai.com/v1");
  EXPECT_EQ(openai.options.at("timeout_ms"), "600000");
  EXPECT_FALSE(openai.options.contains("kind"));
  ASSERT_EQ(c.routing.size(), 2u);
  auto route = [&c](std::string_view family) {
    for (const auto& [f, names] : c.routing) {
      if (f == family) {
        return names;
      }
    }
    return std::vector<std::string>{};
  };
  EXPECT_EQ(route("gpt-image-2"), (std::vector<std::string>{"openai", "kie"}));
  EXPECT_EQ(route("*"), std::vector<std::string>{"sandbox"});
}

TEST(Config, ProviderSectionsAreChecked) {
  Config c;
  auto no_kind = load_toml(c, write_file("ig-config-nokind.toml", "[providers.a]\nbase_url = \"x\"\n"));
  ASSERT_FALSE(no_kind);
  EXPECT_NE(no_kind.error().message.find("providers.a.kind"), std::string::npos);
  auto sandbox = load_toml(c, write_file("ig-config-sandbox.toml", "[providers.sandbox]\nkind = \"openai\"\n"));
  EXPECT_FALSE(sandbox);
  auto routing = load_toml(c, write_file("ig-config-routing.toml", "[routing]\n\"gpt-image-2\" = [1]\n"));
  ASSERT_FALSE(routing);
  EXPECT_NE(routing.error().message.find("routing.gpt-image-2"), std::string::npos);
  auto nested = load_toml(c, write_file("ig-config-nested.toml", "[server.x]\ny = 1\n"));
  EXPECT_FALSE(nested);
}

}  // namespace
}  // namespace ig::app
