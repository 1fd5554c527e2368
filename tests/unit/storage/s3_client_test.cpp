// The S3 client's parsing, addressing and failure paths. Talking to a real S3 server is the
// integration test's part (tests/integration/test_s3.py, with s3rver and @aws-sdk/client-s3).
#include "storage/s3_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "storage/s3_storage.hpp"
#include "unit/storage/temp_dir.hpp"

namespace ig::storage {
namespace {

using namespace std::chrono_literals;

/// A TCP server on 127.0.0.1 that answers every connection with `answer` (or, when empty,
/// reads and never answers), counting connections.
class CannedServer {
 public:
  explicit CannedServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~CannedServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }

 private:
  void run() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        return;
      }
      ++connections_;
      char buf[65536];
      (void)::recv(c, buf, sizeof buf, 0);
      if (!answer_.empty()) {
        (void)::send(c, answer_.data(), answer_.size(), MSG_NOSIGNAL);
      } else {
        std::this_thread::sleep_for(1500ms);
      }
      ::close(c);
    }
  }
  std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

S3Settings settings_for(std::string endpoint, bool path_style = true) {
  S3Settings s;
  s.endpoint = std::move(endpoint);
  s.bucket = "imagegate";
  s.region = "us-east-1";
  s.path_style = path_style;
  s.credentials = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  s.timeout = 500ms;
  return s;
}

/// A complete HTTP/1.1 answer with `body`.
std::string answer(std::string_view status, std::string_view body) {
  return "HTTP/1.1 " + std::string(status) + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + std::string(body);
}

core::ManualClock clock_at_2013() {
  return core::ManualClock(1369353600000);
}

TEST(S3Xml, ValuesInOrderWithEntitiesDecoded) {
  const std::string xml =
      "<ListBucketResult><Contents><Key>a/1.png</Key></Contents>"
      "<Contents><Key>b&amp;c</Key></Contents><IsTruncated>false</IsTruncated>"
      "</ListBucketResult>";
  EXPECT_EQ(xml_values(xml, "Key"), (std::vector<std::string>{"a/1.png", "b&c"}));
  EXPECT_EQ(xml_values(xml, "Contents").size(), 2u);
  EXPECT_TRUE(xml_values(xml, "Missing").empty());
}

TEST(S3Xml, LastModifiedIsUtcWithMilliseconds) {
  EXPECT_EQ(parse_iso8601_ms("2009-10-12T17:50:30.000Z"), 1255369830000);
  EXPECT_EQ(parse_iso8601_ms("2013-05-24T00:00:00.250Z"), 1369353600250);
  EXPECT_EQ(parse_iso8601_ms("2013-05-24T00:00:00Z"), 1369353600000);
  EXPECT_EQ(parse_iso8601_ms("yesterday"), std::nullopt);
}

TEST(S3Addressing, PathStyleVirtualHostedAndAwsDefault) {
  auto clock = clock_at_2013();
  S3Client path(settings_for("http://127.0.0.1:4569"), clock);
  EXPECT_TRUE(path.presign_get("t/1.png", 1369353600, 60)
                  .starts_with("http://127.0.0.1:4569/imagegate/t/1.png?X-Amz-Algorithm="));
  S3Client virt(settings_for("http://localhost:4569/", false), clock);
  EXPECT_TRUE(virt.presign_get("t/1.png", 1369353600, 60)
                  .starts_with("http://imagegate.localhost:4569/t/1.png?X-Amz-Algorithm="));
  auto aws = settings_for("", false);
  aws.region = "eu-west-3";
  S3Client on_aws(aws, clock);
  const std::string url = on_aws.presign_get("t/1.png", 1369353600, 86400);
  EXPECT_TRUE(url.starts_with("https://imagegate.s3.eu-west-3.amazonaws.com/t/1.png?"));
  EXPECT_NE(url.find("%2F20130524%2Feu-west-3%2Fs3%2Faws4_request"), std::string::npos);
  EXPECT_NE(url.find("X-Amz-Expires=86400&"), std::string::npos);
}

TEST(S3Addressing, PresignedLifetimeIsCappedAtSevenDays) {
  auto clock = clock_at_2013();
  S3Client c(settings_for("http://127.0.0.1:4569"), clock);
  EXPECT_NE(c.presign_get("k", 1369353600, 30 * 86400).find("X-Amz-Expires=604800&"),
            std::string::npos);
}

TEST(S3Failures, UnreachableServerIsAnError) {
  auto clock = clock_at_2013();
  int port = 0;
  {
    CannedServer closed("x");  // bound, then closed: nothing listens on its port afterwards
    port = std::stoi(closed.url().substr(closed.url().rfind(':') + 1));
  }
  S3Client c(settings_for("http://127.0.0.1:" + std::to_string(port)), clock);
  auto put = c.put_object("a/1.png", "bytes");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, core::ErrorCode::kInternal);
  EXPECT_NE(put.error().message.find("s3 PUT a/1.png"), std::string::npos);
}

TEST(S3Failures, ServerErrorIsTriedTwiceThenAnError) {
  auto clock = clock_at_2013();
  CannedServer server(
      answer("500 Internal Server Error", "<Error><Code>InternalError</Code></Error>"));
  S3Client c(settings_for(server.url()), clock);
  auto got = c.get_object("a/1.png", 0, 10);
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("HTTP 500 InternalError"), std::string::npos)
      << got.error().message;
  EXPECT_EQ(server.connections(), 2);
}

TEST(S3Failures, MissingKeyIsNotFoundAndBadCredentialsAreNot) {
  auto clock = clock_at_2013();
  CannedServer missing(answer("404 Not Found", "<Error><Code>NoSuchKey</Code></Error>"));
  S3Client a(settings_for(missing.url()), clock);
  auto got = a.get_object("a/1.png", 0, 10);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, core::ErrorCode::kNotFound);

  CannedServer denied(answer("403 Forbidden", "<Error><Code>SignatureDoesNotMatch</Code></Error>"));
  S3Client b(settings_for(denied.url()), clock);
  auto put = b.put_object("a/1.png", "x");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, core::ErrorCode::kInternal);
  EXPECT_NE(put.error().message.find("403 SignatureDoesNotMatch"), std::string::npos);
  EXPECT_EQ(denied.connections(), 1);  // a 4xx is final
}

TEST(S3Failures, SilentServerTimesOut) {
  auto clock = clock_at_2013();
  CannedServer silent("");
  S3Client c(settings_for(silent.url()), clock);
  const auto start = std::chrono::steady_clock::now();
  auto got = c.head_object("a/1.png");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("timed out"), std::string::npos);
  EXPECT_LT(took, 3s);  // two attempts of 500 ms and a pause, not a hang
}

TEST(S3Credentials, FromNamedEnvironmentVariables) {
  ::setenv("IG_TEST_S3_AK", "AKID", 1);
  ::setenv("IG_TEST_S3_SK", "SECRET", 1);
  auto c = load_s3_credentials("IG_TEST_S3_AK", "IG_TEST_S3_SK", {});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->access_key_id, "AKID");
  EXPECT_EQ(c->secret_access_key, "SECRET");
  ::unsetenv("IG_TEST_S3_SK");
  auto missing = load_s3_credentials("IG_TEST_S3_AK", "IG_TEST_S3_SK", {});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("IG_TEST_S3_SK"), std::string::npos);
  ::unsetenv("IG_TEST_S3_AK");
}

TEST(S3Credentials, FromASharedCredentialsFile) {
  test::TempDir dir;
  const auto file = dir.path() / "credentials";
  std::ofstream(file) << "[other]\naws_access_key_id = NOPE\n\n[default]\n"
                         "aws_access_key_id = AKID\naws_secret_access_key = S/E+CRET\n";
  auto c = load_s3_credentials("UNSET_A", "UNSET_B", file);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->access_key_id, "AKID");
  EXPECT_EQ(c->secret_access_key, "S/E+CRET");
  EXPECT_FALSE(load_s3_credentials("UNSET_A", "UNSET_B", dir.path() / "absent"));
}

}  // namespace
}  // namespace ig::storage
