#include "media/fetcher.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/async_client.hpp"

#include "unit/media/test_https_server.hpp"

namespace ig::media {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::test_certs;
using testing::TestHttpsServer;

const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + "pretend pixels";

/// Runs one fetch to completion on a private io_context.
FetchResult fetch_now(const FetchConfig& config, const std::string& url,
                      std::size_t max_bytes = 0) {
  asio::io_context io;
  Fetcher fetcher(io.get_executor(), config);
  std::optional<FetchResult> out;
  asio::co_spawn(io, fetcher.fetch(url, max_bytes), [&](std::exception_ptr e, FetchResult result) {
    EXPECT_FALSE(e) << "fetch threw";
    out = std::move(result);
  });
  io.run();
  EXPECT_TRUE(out.has_value());
  return out.value_or(FetchResult{});
}

/// The test-only setup: trusts the test CA and allows 127.0.0.1 only.
FetchConfig local_config() {
  FetchConfig config;
  config.unsafe_allow = {*parse_cidr("127.0.0.1/32")};
  config.extra_ca_file = test_certs().ca;
  config.max_bytes = 1u << 20;
  return config;
}

/// Percent-encodes the characters a query may not hold literally.
std::string query_escape(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '[') {
      out += "%5B";
    } else if (c == ']') {
      out += "%5D";
    } else {
      out += c;
    }
  }
  return out;
}

std::string describe(const FetchResult& r) {
  if (r.error) {
    return std::string(to_string(r.error->kind)) + ": " + r.error->message;
  }
  if (r.object) {
    return "object of " + std::to_string(r.object->body.size()) + " bytes";
  }
  return "neither object nor error";
}

#define EXPECT_FETCH_FAILS(result, expected_kind)             \
  do {                                                        \
    const FetchResult& r_ = (result);                         \
    EXPECT_FALSE(r_.object.has_value()) << describe(r_);      \
    ASSERT_TRUE(r_.error.has_value()) << describe(r_);        \
    EXPECT_EQ(r_.error->kind, expected_kind) << describe(r_); \
    EXPECT_FALSE(r_.error->message.empty());                  \
  } while (false)

class FetcherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new TestHttpsServer(test_certs().server_cert, test_certs().server_key, kPng);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static TestHttpsServer& server() { return *server_; }
  static std::string url(std::string_view path) { return server_->url(path); }

  static TestHttpsServer* server_;
};

TestHttpsServer* FetcherTest::server_ = nullptr;

TEST_F(FetcherTest, FetchesOverVerifiedTlsWithTestAllowance) {
  const auto before = server().requests().size();
  auto r = fetch_now(local_config(), url("/image.png"));
  ASSERT_TRUE(r.object) << describe(r);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.object->body, kPng);
  EXPECT_EQ(r.object->content_type, "image/png");
  EXPECT_EQ(r.object->final_url, url("/image.png"));

  auto seen = server().requests();
  ASSERT_EQ(seen.size(), before + 1);
  EXPECT_EQ(seen.back().target, "/image.png");
  EXPECT_EQ(seen.back().host, "127.0.0.1:" + std::to_string(server().port()));
  EXPECT_EQ(seen.back().user_agent, "imagegate/0.1");
  EXPECT_EQ(seen.back().accept, "image/*");
  EXPECT_EQ(seen.back().sni, "") << "no SNI for an IP literal";
}

TEST_F(FetcherTest, HostNameIsResolvedSentAsSniAndVerified) {
  auto config = local_config();
  config.unsafe_allow.push_back(*parse_cidr("::1/128"));
  const std::string target =
      "https://localhost:" + std::to_string(server().port()) + "/image.png?x=1#frag";
  auto r = fetch_now(config, target);
  ASSERT_TRUE(r.object) << describe(r);
  EXPECT_EQ(r.object->final_url,
            "https://localhost:" + std::to_string(server().port()) + "/image.png?x=1");
  auto seen = server().requests();
  EXPECT_EQ(seen.back().sni, "localhost");
  EXPECT_EQ(seen.back().target, "/image.png?x=1");
  EXPECT_EQ(seen.back().host, "localhost:" + std::to_string(server().port()));

  // Scheme and host are case-insensitive; what goes on the wire is lower case.
  auto upper = fetch_now(config, "HTTPS://LocalHost:" + std::to_string(server().port()) + "/");
  EXPECT_FETCH_FAILS(upper, FetchFailure::kHttpStatus);
  EXPECT_EQ(server().requests().back().sni, "localhost");
}

TEST_F(FetcherTest, DefaultConfigRefusesLoopbackWithoutConnecting) {
  FetchConfig config;  // no allowance: the production default
  config.extra_ca_file = test_certs().ca;
  const int connections = server().connections();

  auto r = fetch_now(config, url("/image.png"));
  EXPECT_FETCH_FAILS(r, FetchFailure::kAddressRefused);
  EXPECT_NE(r.error->message.find("127.0.0.1"), std::string::npos) << r.error->message;

  auto by_name = fetch_now(config, "https://localhost:" + std::to_string(server().port()) + "/");
  EXPECT_FETCH_FAILS(by_name, FetchFailure::kAddressRefused);
  EXPECT_NE(by_name.error->message.find("resolves to a private or reserved address"),
            std::string::npos)
      << by_name.error->message;

  EXPECT_EQ(server().connections(), connections) << "a refused address was connected to";
}

TEST_F(FetcherTest, NumericHostFormsAreAddressesToo) {
  FetchConfig config;
  config.extra_ca_file = test_certs().ca;
  const std::string port = std::to_string(server().port());
  const int connections = server().connections();
  for (const char* host : {"2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001",
                           "%31%32%37.0.0.1", "[::ffff:127.0.0.1]", "[::1]", "0"}) {
    auto r = fetch_now(config, "https://" + std::string(host) + ":" + port + "/image.png");
    EXPECT_FETCH_FAILS(r, FetchFailure::kAddressRefused);
  }
  EXPECT_FETCH_FAILS(fetch_now(config, "https://1.2.3.256:" + port + "/"),
                     FetchFailure::kInvalidUrl);
  EXPECT_EQ(server().connections(), connections);

  // With the allowance, an unusual spelling reaches the same verified peer.
  auto allowed = fetch_now(local_config(), "https://0x7f.0.0.1:" + port + "/image.png");
  ASSERT_TRUE(allowed.object) << describe(allowed);
}

TEST_F(FetcherTest, RefusesEverythingButHttps) {
  auto config = local_config();
  const std::string port = std::to_string(server().port());
  EXPECT_FETCH_FAILS(fetch_now(config, "http://127.0.0.1:" + port + "/image.png"),
                     FetchFailure::kNotHttps);
  EXPECT_FETCH_FAILS(fetch_now(config, "ftp://127.0.0.1/image.png"), FetchFailure::kNotHttps);
  EXPECT_FETCH_FAILS(fetch_now(config, "file:///etc/passwd"), FetchFailure::kNotHttps);
  EXPECT_FETCH_FAILS(fetch_now(config, "data:image/png;base64,iVBORw0KGgo="),
                     FetchFailure::kInvalidUrl);
  EXPECT_FETCH_FAILS(fetch_now(config, "not a url"), FetchFailure::kInvalidUrl);
  EXPECT_FETCH_FAILS(fetch_now(config, "/image.png"), FetchFailure::kInvalidUrl);
  EXPECT_FETCH_FAILS(fetch_now(config, "https:///image.png"), FetchFailure::kInvalidUrl);
  EXPECT_FETCH_FAILS(fetch_now(config, "https://user:pw@127.0.0.1:" + port + "/image.png"),
                     FetchFailure::kInvalidUrl);
  EXPECT_FETCH_FAILS(fetch_now(config, "https://127.0.0.1:0/image.png"), FetchFailure::kInvalidUrl);
  EXPECT_FETCH_FAILS(fetch_now(config, "https://127.0.0.1:99999/image.png"),
                     FetchFailure::kInvalidUrl);
  EXPECT_FETCH_FAILS(fetch_now(config, "https://ex%00ample.com/"), FetchFailure::kInvalidUrl);
}

TEST_F(FetcherTest, LyingContentLengthNeverReadsPastTheDeclaredLength) {
  // The server declares 10 bytes and then sends 40 MB: HTTP framing ends the body after 10
  // bytes, the rest is never read, and nothing above the cap is ever buffered.
  auto start = std::chrono::steady_clock::now();
  auto r = fetch_now(local_config(), url("/lying-length"));
  ASSERT_TRUE(r.object) << describe(r);
  EXPECT_EQ(r.object->body.size(), 10u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(FetcherTest, BodyWithoutLengthIsCutAtTheCap) {
  auto r = fetch_now(local_config(), url("/close-delimited"));
  EXPECT_FETCH_FAILS(r, FetchFailure::kTooLarge);
}

TEST_F(FetcherTest, DeclaredLengthAboveCapIsRefusedBeforeReadingTheBody) {
  auto config = local_config();
  config.total_timeout = 10s;
  auto start = std::chrono::steady_clock::now();
  auto r = fetch_now(config, url("/declared-huge"));
  EXPECT_FETCH_FAILS(r, FetchFailure::kTooLarge);
  // The body trickles at 10 KiB/s: waiting for it would take far longer than this.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(FetcherTest, EndlessChunkedBodyIsCutAtTheCap) {
  auto r = fetch_now(local_config(), url("/chunked-endless"));
  EXPECT_FETCH_FAILS(r, FetchFailure::kTooLarge);
  EXPECT_NE(r.error->message.find(std::to_string(1u << 20)), std::string::npos);
}

TEST_F(FetcherTest, PerCallCapOnlyLowersTheLimit) {
  EXPECT_FETCH_FAILS(fetch_now(local_config(), url("/image.png"), 10), FetchFailure::kTooLarge);
  auto exact = fetch_now(local_config(), url("/image.png"), kPng.size());
  ASSERT_TRUE(exact.object) << describe(exact);
  auto config = local_config();
  config.max_bytes = 10;
  EXPECT_FETCH_FAILS(fetch_now(config, url("/image.png"), 1u << 20), FetchFailure::kTooLarge);
}

TEST_F(FetcherTest, FollowsRedirects) {
  auto relative = fetch_now(local_config(), url("/redirect?to=/image.png"));
  ASSERT_TRUE(relative.object) << describe(relative);
  EXPECT_EQ(relative.object->body, kPng);
  EXPECT_EQ(relative.object->final_url, url("/image.png"));

  auto absolute = fetch_now(local_config(), url("/redirect?to=") + url("/text"));
  ASSERT_TRUE(absolute.object) << describe(absolute);
  EXPECT_EQ(absolute.object->body, "hello");
  EXPECT_EQ(absolute.object->content_type, "text/plain");
}

TEST_F(FetcherTest, RedirectChainLimit) {
  auto three = fetch_now(local_config(), url("/redirect-chain/3"));
  ASSERT_TRUE(three.object) << describe(three);
  EXPECT_EQ(three.object->final_url, url("/redirect-chain/0"));

  auto four = fetch_now(local_config(), url("/redirect-chain/4"));
  EXPECT_FETCH_FAILS(four, FetchFailure::kTooManyRedirects);

  auto config = local_config();
  config.max_redirects = 0;
  EXPECT_FETCH_FAILS(fetch_now(config, url("/redirect?to=/image.png")),
                     FetchFailure::kTooManyRedirects);
}

TEST_F(FetcherTest, RedirectIsCheckedLikeTheFirstUrl) {
  const std::string port = std::to_string(server().port());
  auto to_http = fetch_now(local_config(), url("/redirect?to=http://127.0.0.1:" + port + "/"));
  EXPECT_FETCH_FAILS(to_http, FetchFailure::kNotHttps);
  EXPECT_EQ(to_http.error->message.rfind("redirect to http://127.0.0.1", 0), 0u)
      << to_http.error->message;

  for (const std::string& target : std::vector<std::string>{
           "https://10.0.0.5/x", "https://169.254.169.254/latest/",
           "https://[::1]:" + port + "/image.png", "https://127.0.0.2:" + port + "/image.png"}) {
    auto r = fetch_now(local_config(), url("/redirect?to=" + query_escape(target)));
    EXPECT_FETCH_FAILS(r, FetchFailure::kAddressRefused);
  }
}

TEST_F(FetcherTest, RedirectWithoutLocationIsABadResponse) {
  EXPECT_FETCH_FAILS(fetch_now(local_config(), url("/redirect-no-location")),
                     FetchFailure::kBadResponse);
}

TEST_F(FetcherTest, ErrorStatusIsReported) {
  auto r = fetch_now(local_config(), url("/missing.png"));
  EXPECT_FETCH_FAILS(r, FetchFailure::kHttpStatus);
  EXPECT_EQ(r.error->message, "HTTP 404 from 127.0.0.1:" + std::to_string(server().port()));
}

TEST_F(FetcherTest, BodyEndingEarlyIsABadResponse) {
  EXPECT_FETCH_FAILS(fetch_now(local_config(), url("/short-body")), FetchFailure::kBadResponse);
}

TEST_F(FetcherTest, TricklingBodyHitsTheTotalDeadline) {
  auto config = local_config();
  config.total_timeout = 700ms;
  auto start = std::chrono::steady_clock::now();
  auto r = fetch_now(config, url("/slow"));
  EXPECT_FETCH_FAILS(r, FetchFailure::kTimeout);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 600ms);
  EXPECT_LT(elapsed, 2s);
}

TEST_F(FetcherTest, UntrustedCertificateIsRefused) {
  auto config = local_config();
  config.extra_ca_file.clear();  // the system store does not know the test CA
  auto r = fetch_now(config, url("/image.png"));
  EXPECT_FETCH_FAILS(r, FetchFailure::kTlsFailed);
  EXPECT_NE(r.error->message.find("certificate"), std::string::npos) << r.error->message;
}

TEST_F(FetcherTest, CertificateForAnotherNameIsRefused) {
  TestHttpsServer other(test_certs().other_cert, test_certs().other_key, kPng);
  auto r = fetch_now(local_config(), other.url("/image.png"));
  EXPECT_FETCH_FAILS(r, FetchFailure::kTlsFailed);
  EXPECT_NE(r.error->message.find("mismatch"), std::string::npos) << r.error->message;
  EXPECT_TRUE(other.requests().empty());
}

TEST_F(FetcherTest, StalledHandshakeTimesOut) {
  TestHttpsServer silent(test_certs().server_cert, test_certs().server_key, kPng, true);
  auto config = local_config();
  config.connect_timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto r = fetch_now(config, silent.url("/image.png"));
  EXPECT_FETCH_FAILS(r, FetchFailure::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(FetcherTest, ClosedPortFailsToConnect) {
  unsigned short port = 0;
  {
    asio::io_context io;
    asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  auto r = fetch_now(local_config(), "https://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_FETCH_FAILS(r, FetchFailure::kConnectFailed);
}

TEST_F(FetcherTest, UnknownHostFailsToResolve) {
  auto config = local_config();
  config.total_timeout = 3s;
  auto r = fetch_now(config, "https://imagegate-test.invalid/image.png");
  ASSERT_TRUE(r.error) << describe(r);
  // .invalid never resolves; without a reachable DNS server the deadline answers instead.
  EXPECT_TRUE(r.error->kind == FetchFailure::kResolveFailed ||
              r.error->kind == FetchFailure::kTimeout)
      << describe(r);
}

TEST_F(FetcherTest, ConcurrentFetchesOnAMultiThreadedContext) {
  asio::io_context io;
  Fetcher fetcher(io.get_executor(), local_config());
  constexpr int kFetches = 8;
  std::atomic<int> ok{0};
  for (int i = 0; i < kFetches; ++i) {
    const char* path = i % 2 == 0 ? "/image.png" : "/redirect?to=/image.png";
    asio::co_spawn(io, fetcher.fetch(url(path)), [&](std::exception_ptr e, FetchResult r) {
      if (!e && r.object && r.object->body == kPng) {
        ++ok;
      }
    });
  }
  std::thread second([&] { io.run(); });
  io.run();
  second.join();
  EXPECT_EQ(ok.load(), kFetches);
}

// The awaiter's cancellation reaches the fetch as a closed connection, never as a terminate.
TEST_F(FetcherTest, CancellingTheAwaiterEndsTheFetch) {
  asio::io_context io;
  Fetcher fetcher(io.get_executor(), local_config());
  asio::cancellation_signal signal;
  std::optional<FetchResult> out;
  const auto start = std::chrono::steady_clock::now();
  asio::co_spawn(
      io, fetcher.fetch(url("/slow")),
      asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, FetchResult result) {
        EXPECT_FALSE(e) << "fetch threw";
        out = std::move(result);
      }));
  asio::steady_timer kick(io, 100ms);
  kick.async_wait(
      [&](boost::system::error_code) { signal.emit(asio::cancellation_type::terminal); });
  io.run();
  ASSERT_TRUE(out.has_value());
  EXPECT_FETCH_FAILS(*out, FetchFailure::kBadResponse);
  EXPECT_EQ(out->error->message, "the fetch was cancelled");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

asio::awaitable<std::size_t> fetch_or_time_out(Fetcher& fetcher, std::string url) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, 100ms);
  auto raced = co_await (fetcher.fetch(std::move(url)) || timer.async_wait(asio::use_awaitable));
  co_return raced.index();
}

TEST_F(FetcherTest, LosingAnOrRaceDoesNotTerminate) {
  asio::io_context io;
  Fetcher fetcher(io.get_executor(), local_config());
  std::optional<std::size_t> winner;
  asio::co_spawn(io, fetch_or_time_out(fetcher, url("/slow")),
                 [&](std::exception_ptr e, std::size_t index) {
                   EXPECT_FALSE(e);
                   winner = index;
                 });
  io.run();
  EXPECT_EQ(winner, 1u);
}

TEST_F(FetcherTest, SharesAnAsyncClient) {
  asio::io_context io;
  http::AsyncClientConfig client_config;
  client_config.extra_ca_file = test_certs().ca;
  client_config.proxy_from_environment = false;
  http::AsyncClient client(io.get_executor(), client_config);
  auto config = local_config();
  config.extra_ca_file = "/not/read/when/a/client/is/shared.pem";
  Fetcher fetcher(io.get_executor(), config, client);
  std::optional<FetchResult> out;
  asio::co_spawn(io, fetcher.fetch(url("/image.png")), [&](std::exception_ptr e, FetchResult r) {
    EXPECT_FALSE(e);
    out = std::move(r);
  });
  io.run();
  ASSERT_TRUE(out && out->object) << (out ? describe(*out) : "no result");
  EXPECT_EQ(out->object->body, kPng);
  EXPECT_EQ(server().requests().back().user_agent, "imagegate/0.1");
  EXPECT_EQ(client.idle_connections(), 0u) << "fetches never feed the pool";
}

TEST(FetchFailureNames, AreSnakeCase) {
  EXPECT_EQ(to_string(FetchFailure::kInvalidUrl), "invalid_url");
  EXPECT_EQ(to_string(FetchFailure::kNotHttps), "not_https");
  EXPECT_EQ(to_string(FetchFailure::kAddressRefused), "address_refused");
  EXPECT_EQ(to_string(FetchFailure::kResolveFailed), "resolve_failed");
  EXPECT_EQ(to_string(FetchFailure::kConnectFailed), "connect_failed");
  EXPECT_EQ(to_string(FetchFailure::kTlsFailed), "tls_failed");
  EXPECT_EQ(to_string(FetchFailure::kHttpStatus), "http_status");
  EXPECT_EQ(to_string(FetchFailure::kTooLarge), "too_large");
  EXPECT_EQ(to_string(FetchFailure::kTimeout), "timeout");
  EXPECT_EQ(to_string(FetchFailure::kTooManyRedirects), "too_many_redirects");
  EXPECT_EQ(to_string(FetchFailure::kBadResponse), "bad_response");
}

TEST(FetcherConfig, MissingCaFileIsAStartupError) {
  asio::io_context io;
  FetchConfig config;
  config.extra_ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(Fetcher(io.get_executor(), config), std::runtime_error);
}

}  // namespace
}  // namespace ig::media
