// [results] storage and [s3]: the configuration issue #11 fixes, from TOML and from
// IMAGEGATE_* variables.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "app/config.hpp"

namespace ig::app {
namespace {

TEST(S3Config, DefaultsAreLocalFiles) {
  Config c;
  EXPECT_EQ(c.result_storage, "fs");
  EXPECT_TRUE(c.signing_key_file.empty());
  EXPECT_EQ(c.s3_serve, "signed");
  EXPECT_TRUE(c.s3_path_style);
}

TEST(S3Config, TheDocumentedTomlLoadsAsWritten) {
  const auto file = std::filesystem::temp_directory_path() / "ig-s3-config-test.toml";
  std::ofstream(file) << R"([results]
storage = "s3"                  # "fs" (default) | "s3"
signing_key_file = "/etc/imagegate/url-signing.key"   # every node signs and verifies alike
[s3]
endpoint = "http://127.0.0.1:4569"   # empty = AWS for the region
bucket = "imagegate"
region = "us-east-1"
path_style = true
access_key_env = "S3_ACCESS_KEY_ID"
secret_key_env = "S3_SECRET_ACCESS_KEY"
serve = "signed"                # "signed": imagegate's own URLs, streamed from S3; "presigned": S3 URLs
)";
  Config c;
  ASSERT_TRUE(load_toml(c, file));
  std::filesystem::remove(file);
  EXPECT_EQ(c.result_storage, "s3");
  EXPECT_EQ(c.signing_key_file, std::filesystem::path("/etc/imagegate/url-signing.key"));
  EXPECT_EQ(c.s3_endpoint, "http://127.0.0.1:4569");
  EXPECT_EQ(c.s3_bucket, "imagegate");
  EXPECT_EQ(c.s3_region, "us-east-1");
  EXPECT_TRUE(c.s3_path_style);
  EXPECT_EQ(c.s3_access_key_env, "S3_ACCESS_KEY_ID");
  EXPECT_EQ(c.s3_secret_key_env, "S3_SECRET_ACCESS_KEY");
  EXPECT_EQ(c.s3_serve, "signed");
}

TEST(S3Config, EveryOptionIsAnEnvironmentVariable) {
  std::string vars[] = {"IMAGEGATE_RESULTS_STORAGE=s3",
                        "IMAGEGATE_RESULTS_SIGNING_KEY_FILE=/k",
                        "IMAGEGATE_S3_ENDPOINT=https://s3.example.test",
                        "IMAGEGATE_S3_BUCKET=b",
                        "IMAGEGATE_S3_REGION=eu-west-3",
                        "IMAGEGATE_S3_PATH_STYLE=false",
                        "IMAGEGATE_S3_ACCESS_KEY_ENV=AK",
                        "IMAGEGATE_S3_SECRET_KEY_ENV=SK",
                        "IMAGEGATE_S3_CREDENTIALS_FILE=/c",
                        "IMAGEGATE_S3_SERVE=presigned",
                        "IMAGEGATE_S3_TIMEOUT_MS=1234"};
  std::vector<char*> env;
  for (auto& v : vars) {
    env.push_back(v.data());
  }
  env.push_back(nullptr);
  Config c;
  ASSERT_TRUE(load_env(c, env.data()));
  EXPECT_EQ(c.result_storage, "s3");
  EXPECT_EQ(c.signing_key_file, std::filesystem::path("/k"));
  EXPECT_EQ(c.s3_endpoint, "https://s3.example.test");
  EXPECT_EQ(c.s3_bucket, "b");
  EXPECT_EQ(c.s3_region, "eu-west-3");
  EXPECT_FALSE(c.s3_path_style);
  EXPECT_EQ(c.s3_access_key_env, "AK");
  EXPECT_EQ(c.s3_secret_key_env, "SK");
  EXPECT_EQ(c.s3_credentials_file, std::filesystem::path("/c"));
  EXPECT_EQ(c.s3_serve, "presigned");
  EXPECT_EQ(c.s3_timeout_ms, 1234);
}

TEST(S3Config, BadValuesAreRefused) {
  Config c;
  EXPECT_FALSE(set_option(c, "results.storage", "gcs"));
  EXPECT_FALSE(set_option(c, "s3.serve", "public"));
  EXPECT_FALSE(set_option(c, "s3.path_style", "yes"));
  EXPECT_FALSE(set_option(c, "s3.timeout_ms", "5"));
}

}  // namespace
}  // namespace ig::app
