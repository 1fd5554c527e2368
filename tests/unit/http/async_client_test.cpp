#include "http/async_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "unit/http/test_server.hpp"
#include "unit/http/test_support.hpp"
#include "unit/media/test_https_server.hpp"

namespace ig::http {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using media::testing::test_certs;
using testing::describe;
using testing::eventually;
using testing::run;
using testing::TestProxy;
using testing::TestServer;
using Clock = std::chrono::steady_clock;

AsyncClientConfig test_config() {
  AsyncClientConfig config;
  config.user_agent = "imagegate-test";
  config.extra_ca_file = test_certs().ca;
  config.proxy_from_environment = false;
  return config;
}

TestServer::Options tls_options(bool other_name = false) {
  TestServer::Options options;
  options.tls = true;
  options.cert = other_name ? test_certs().other_cert : test_certs().server_cert;
  options.key = other_name ? test_certs().other_key : test_certs().server_key;
  return options;
}

Request get(std::string url) {
  Request request;
  request.url = std::move(url);
  return request;
}

/// A port on 127.0.0.1 that nothing listens on.
unsigned short closed_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
  return probe.local_endpoint().port();
}

/// A listening socket whose accept queue is full: further connects hang in SYN_SENT.
struct FullBacklog {
  FullBacklog() : acceptor(io), filler(io) {
    acceptor.open(asio::ip::tcp::v4());
    acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor.listen(0);
    filler.connect(acceptor.local_endpoint());
  }
  unsigned short port() const { return acceptor.local_endpoint().port(); }
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor;
  asio::ip::tcp::socket filler;
};

class AsyncClientTest : public ::testing::Test {
 protected:
  asio::io_context io;
};

TEST_F(AsyncClientTest, PlainHttpRequestAndResponse) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  Request request;
  request.method = "POST";
  request.url = server.url("/echo?x=1#fragment");
  request.headers = {{"X-Custom", "42"}, {"Content-Type", "text/plain"}};
  request.body = "ping";
  auto r = run(io, client.send(request));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->header("x-echo"), "yes");
  EXPECT_EQ(r->url, server.url("/echo?x=1"));
  const auto seen = server.requests().at(0);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/echo?x=1");
  EXPECT_EQ(seen.header("Host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(seen.header("User-Agent"), "imagegate-test");
  EXPECT_EQ(seen.header("Content-Length"), "4");
  EXPECT_EQ(seen.header("X-Custom"), "42");
  EXPECT_EQ(seen.body, "ping");
  EXPECT_NE(r->body.find("POST /echo?x=1\n"), std::string::npos) << r->body;
}

TEST_F(AsyncClientTest, HttpsVerifiesThePeerAndSendsSniForNamesOnly) {
  TestServer server(tls_options());
  AsyncClient client(io.get_executor(), test_config());
  auto by_ip = run(io, client.send(get(server.url("/hello"))));
  ASSERT_TRUE(by_ip) << describe(by_ip);
  EXPECT_EQ(by_ip->body, "hello");
  EXPECT_EQ(server.requests().back().sni, "");

  const std::string by_name_url = "https://localhost:" + std::to_string(server.port()) + "/hello";
  auto by_name = run(io, client.send(get(by_name_url)));
  ASSERT_TRUE(by_name) << describe(by_name);
  EXPECT_EQ(server.requests().back().sni, "localhost");
}

TEST_F(AsyncClientTest, RedirectsAreReturnedNotFollowed) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  auto r = run(io, client.send(get(server.url("/redirect"))));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->status, 302u);
  EXPECT_EQ(r->header("Location"), "/hello");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(AsyncClientTest, InterimResponsesAreSkipped) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  auto r = run(io, client.send(get(server.url("/interim"))));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->body, "final");
}

TEST_F(AsyncClientTest, InvalidUrl) {
  AsyncClient client(io.get_executor(), test_config());
  auto r = run(io, client.send(get("ftp://example.com/")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalidUrl);
  EXPECT_FALSE(r.error().sent);
}

TEST_F(AsyncClientTest, KeepAliveConnectionsArePooledPerOrigin) {
  for (bool tls : {false, true}) {
    TestServer server(tls ? tls_options() : TestServer::Options());
    AsyncClient client(io.get_executor(), test_config());
    for (int i = 0; i < 3; ++i) {
      auto r = run(io, client.send(get(server.url("/hello"))));
      ASSERT_TRUE(r) << describe(r);
      EXPECT_EQ(client.idle_connections(), 1u);
    }
    EXPECT_EQ(server.connections(), 1) << (tls ? "https" : "http");
    EXPECT_EQ(server.requests().size(), 3u);
  }
}

TEST_F(AsyncClientTest, PooledConnectionsCloseAfterTheIdleTimeout) {
  TestServer server;
  auto config = test_config();
  config.pool_idle_timeout = 150ms;
  AsyncClient client(io.get_executor(), config);
  ASSERT_TRUE(run(io, client.send(get(server.url("/hello")))));
  EXPECT_EQ(client.idle_connections(), 1u);
  testing::run_for(io, 400ms);
  EXPECT_EQ(client.idle_connections(), 0u);
  EXPECT_TRUE(eventually([&] { return server.closed_by_client() == 1; }));
}

TEST_F(AsyncClientTest, IdleConnectionsPerOriginAreCapped) {
  TestServer server;
  auto config = test_config();
  config.max_idle_per_origin = 1;
  AsyncClient client(io.get_executor(), config);
  auto both = [&]() -> asio::awaitable<int> {
    auto [a, b] =
        co_await (client.send(get(server.url("/slow"))) && client.send(get(server.url("/slow"))));
    co_return (a ? 1 : 0) + (b ? 1 : 0);
  };
  EXPECT_EQ(run(io, both()), 2);
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(client.idle_connections(), 1u);
}

TEST_F(AsyncClientTest, ConnectionsThatCannotBeReusedAreNotPooled) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  ASSERT_TRUE(run(io, client.send(get(server.url("/close")))));
  EXPECT_EQ(client.idle_connections(), 0u);
  // The body ends after the declared 10 bytes; what follows makes the connection unusable.
  auto lying = run(io, client.send(get(server.url("/lying-length"))));
  ASSERT_TRUE(lying) << describe(lying);
  EXPECT_EQ(lying->body.size(), 10u);
  EXPECT_EQ(client.idle_connections(), 0u);

  CallOptions once;
  once.reuse_connection = false;
  auto r = run(io, client.send(get(server.url("/hello")), once));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(server.requests().back().header("Connection"), "close");
  EXPECT_EQ(client.idle_connections(), 0u);

  CallOptions filtered;
  filtered.allow = [](const asio::ip::address&) { return true; };
  ASSERT_TRUE(run(io, client.send(get(server.url("/hello")), filtered)));
  EXPECT_EQ(client.idle_connections(), 0u);
  EXPECT_EQ(server.connections(), 4);
}

TEST_F(AsyncClientTest, DeadPooledConnectionIsRetriedOnceOnAFreshOne) {
  for (bool tls : {false, true}) {
    TestServer server(tls ? tls_options() : TestServer::Options());
    AsyncClient client(io.get_executor(), test_config());
    // Looks keep-alive, but the server closes it right after answering.
    ASSERT_TRUE(run(io, client.send(get(server.url("/drop")))));
    ASSERT_EQ(client.idle_connections(), 1u);
    ASSERT_TRUE(eventually([&] { return server.connections() == 1; }));
    std::this_thread::sleep_for(50ms);  // let the FIN arrive

    Request post;
    post.method = "POST";
    post.url = server.url("/echo");
    post.body = "once";
    auto r = run(io, client.send(post));
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(server.connections(), 2);
    ASSERT_EQ(server.requests().size(), 2u) << "the stale connection must not have been used";
    EXPECT_EQ(server.requests()[1].connection, 2);
    EXPECT_EQ(client.idle_connections(), 1u);
  }
}

TEST_F(AsyncClientTest, NoRetryOnceResponseBytesArrived) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  ASSERT_TRUE(run(io, client.send(get(server.url("/hello")))));
  auto r = run(io, client.send(get(server.url("/partial"))));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kProtocol) << describe(r);
  EXPECT_TRUE(r.error().sent);
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(client.idle_connections(), 0u);
}

TEST_F(AsyncClientTest, RefusedConnectionWasNotSent) {
  AsyncClient client(io.get_executor(), test_config());
  auto r = run(io, client.send(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kConnect) << describe(r);
  EXPECT_FALSE(r.error().sent);
}

TEST_F(AsyncClientTest, ConnectAttemptTimesOut) {
  FullBacklog backlog;
  AsyncClient client(io.get_executor(), test_config());
  CallOptions options;
  options.limits.connect_timeout = 200ms;
  const auto start = Clock::now();
  auto r = run(
      io, client.send(get("http://127.0.0.1:" + std::to_string(backlog.port()) + "/"), options));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kTimeout) << describe(r);
  EXPECT_EQ(r.error().message,
            "timed out after 200 ms connecting to 127.0.0.1:" + std::to_string(backlog.port()));
  EXPECT_FALSE(r.error().sent);
  EXPECT_LT(Clock::now() - start, 1500ms);
}

TEST_F(AsyncClientTest, StalledHandshakeTimesOut) {
  TestServer::Options silent = tls_options();
  silent.read_requests = false;
  TestServer server(silent);
  AsyncClient client(io.get_executor(), test_config());
  CallOptions options;
  options.limits.connect_timeout = 200ms;
  auto r = run(io, client.send(get(server.url("/hello")), options));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kTimeout) << describe(r);
  EXPECT_NE(r.error().message.find("TLS handshake"), std::string::npos) << describe(r);
  EXPECT_FALSE(r.error().sent);
}

TEST_F(AsyncClientTest, SilenceWhileWaitingOrReadingTimesOutAsSent) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  CallOptions options;
  options.limits.idle_timeout = 200ms;
  const std::string where = "127.0.0.1:" + std::to_string(server.port());

  auto waiting = run(io, client.send(get(server.url("/stall")), options));
  ASSERT_FALSE(waiting);
  EXPECT_EQ(waiting.error().kind, ErrorKind::kTimeout);
  EXPECT_EQ(waiting.error().message,
            "timed out after 200 ms waiting for the response from " + where);
  EXPECT_TRUE(waiting.error().sent);

  const auto start = Clock::now();
  auto reading = run(io, client.send(get(server.url("/stall-body")), options));
  ASSERT_FALSE(reading);
  EXPECT_EQ(reading.error().kind, ErrorKind::kTimeout);
  EXPECT_EQ(reading.error().message, "timed out after 200 ms reading the response from " + where);
  EXPECT_TRUE(reading.error().sent);
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_TRUE(eventually([&] { return server.closed_by_client() == 2; }));
}

TEST_F(AsyncClientTest, IdleTimeoutIsSilenceNotDuration) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  CallOptions options;
  options.limits.idle_timeout = 400ms;  // a byte comes every 100 ms for a second
  auto r = run(io, client.send(get(server.url("/slow")), options));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->body.size(), 10u);

  options.limits.total_timeout = 500ms;
  auto total = run(io, client.send(get(server.url("/slow")), options));
  ASSERT_FALSE(total);
  EXPECT_EQ(total.error().kind, ErrorKind::kTimeout);
  EXPECT_EQ(total.error().message, "timed out after 500 ms reading the response from 127.0.0.1:" +
                                       std::to_string(server.port()));
  EXPECT_TRUE(total.error().sent);
}

TEST_F(AsyncClientTest, BodyCapHoldsAgainstLiesAndEndlessBodies) {
  for (bool tls : {false, true}) {
    TestServer server(tls ? tls_options() : TestServer::Options());
    AsyncClient client(io.get_executor(), test_config());
    CallOptions options;
    options.limits.max_body_bytes = 1u << 20;
    for (const char* path : {"/huge-length", "/chunked-endless", "/close-delimited"}) {
      const auto start = Clock::now();
      auto r = run(io, client.send(get(server.url(path)), options));
      ASSERT_FALSE(r) << path;
      EXPECT_EQ(r.error().kind, ErrorKind::kTooLarge) << path << ": " << describe(r);
      EXPECT_NE(r.error().message.find("1048576 bytes"), std::string::npos) << describe(r);
      EXPECT_TRUE(r.error().sent);
      EXPECT_LT(Clock::now() - start, 2s) << path;
    }
    EXPECT_EQ(client.idle_connections(), 0u);
  }
}

TEST_F(AsyncClientTest, UntrustedOrMismatchedCertificatesAreRefused) {
  TestServer server(tls_options());
  auto config = test_config();
  config.extra_ca_file.clear();
  AsyncClient strict(io.get_executor(), config);
  auto untrusted = run(io, strict.send(get(server.url("/hello"))));
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().kind, ErrorKind::kTls);
  EXPECT_NE(untrusted.error().message.find("certificate"), std::string::npos)
      << describe(untrusted);
  EXPECT_FALSE(untrusted.error().sent);

  TestServer other(tls_options(true));
  AsyncClient client(io.get_executor(), test_config());
  auto mismatch = run(io, client.send(get(other.url("/hello"))));
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().kind, ErrorKind::kTls);
  EXPECT_NE(mismatch.error().message.find("mismatch"), std::string::npos) << describe(mismatch);
  EXPECT_TRUE(other.requests().empty());
}

TEST_F(AsyncClientTest, MissingCaFileIsAStartupError) {
  auto config = test_config();
  config.extra_ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(AsyncClient(io.get_executor(), config), std::runtime_error);
}

TEST_F(AsyncClientTest, AddressFilterRefusesBeforeConnecting) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  CallOptions refuse_all;
  refuse_all.allow = [](const asio::ip::address&) { return false; };
  auto literal = run(io, client.send(get(server.url("/hello")), refuse_all));
  ASSERT_FALSE(literal);
  EXPECT_EQ(literal.error().kind, ErrorKind::kAddressRefused);
  EXPECT_EQ(literal.error().message, "host 127.0.0.1 is a refused address");
  EXPECT_FALSE(literal.error().sent);

  const std::string by_name = "http://localhost:" + std::to_string(server.port()) + "/hello";
  auto name = run(io, client.send(get(by_name), refuse_all));
  ASSERT_FALSE(name);
  EXPECT_EQ(name.error().kind, ErrorKind::kAddressRefused);
  EXPECT_NE(name.error().message.find("host localhost resolves only to refused addresses ("),
            std::string::npos)
      << name.error().message;
  EXPECT_NE(name.error().message.find("127.0.0.1"), std::string::npos) << name.error().message;
  EXPECT_EQ(server.connections(), 0);

  // Only what the filter allows is connected to.
  std::vector<asio::ip::address> asked;
  CallOptions v4_only;
  v4_only.allow = [&asked](const asio::ip::address& a) {
    asked.push_back(a);
    return a == asio::ip::make_address("127.0.0.1");
  };
  auto allowed = run(io, client.send(get(by_name), v4_only));
  ASSERT_TRUE(allowed) << describe(allowed);
  EXPECT_EQ(server.connections(), 1);
  // Every resolved address, then the connected peer once more.
  ASSERT_GE(asked.size(), 2u);
  EXPECT_EQ(asked.back(), asio::ip::make_address("127.0.0.1"));
}

TEST_F(AsyncClientTest, ErrorsNeverCarryRequestHeaders) {
  TestServer server;
  TestServer tls_server(tls_options(true));
  TestProxy refusing_proxy(true);
  const std::string secret = "sk-secret-0123456789";
  auto config = test_config();
  config.https_proxy =
      "http://user:" + secret + "@127.0.0.1:" + std::to_string(refusing_proxy.port());
  AsyncClient client(io.get_executor(), config);
  AsyncClient direct(io.get_executor(), test_config());
  CallOptions options;
  options.limits.total_timeout = 300ms;
  auto with_auth = [&](std::string url) {
    Request r = get(std::move(url));
    r.headers = {{"Authorization", "Bearer " + secret}, {"Cookie", secret}};
    return r;
  };
  std::vector<Result<Response>> results;
  const std::string refused_url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/";
  results.push_back(run(io, direct.send(with_auth(refused_url), options)));
  results.push_back(run(io, direct.send(with_auth(server.url("/partial")), options)));
  results.push_back(run(io, direct.send(with_auth(server.url("/stall")), options)));
  results.push_back(run(io, direct.send(with_auth(tls_server.url("/hello")), options)));
  CallOptions refuse = options;
  refuse.allow = [](const asio::ip::address&) { return false; };
  results.push_back(run(io, direct.send(with_auth(server.url("/hello")), refuse)));
  results.push_back(run(io, client.send(with_auth(tls_server.url("/hello")), options)));
  for (const auto& r : results) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.find(secret), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("Bearer"), std::string::npos) << r.error().message;
  }
}

// --- proxies ---------------------------------------------------------------------------

TEST_F(AsyncClientTest, HttpsGoesThroughAConnectTunnel) {
  TestServer server(tls_options());
  TestProxy proxy;
  auto config = test_config();
  config.https_proxy = "http://user:p%40ss@127.0.0.1:" + std::to_string(proxy.port());
  AsyncClient client(io.get_executor(), config);
  for (int i = 0; i < 2; ++i) {
    auto r = run(io, client.send(get(server.url("/hello"))));
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(r->body, "hello");
  }
  const auto asked = proxy.requests();
  ASSERT_EQ(asked.size(), 1u) << "the tunnel is pooled like a direct connection";
  EXPECT_EQ(asked[0].method, "CONNECT");
  EXPECT_EQ(asked[0].target, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(asked[0].header("Proxy-Authorization"), "Basic dXNlcjpwQHNz");  // user:p@ss
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[0].header("Proxy-Authorization"), "");
  EXPECT_EQ(server.requests()[0].target, "/hello");
}

TEST_F(AsyncClientTest, PlainHttpGoesToTheProxyInAbsoluteForm) {
  TestProxy proxy;
  auto config = test_config();
  config.http_proxy = "user:pw@127.0.0.1:" + std::to_string(proxy.port());
  AsyncClient client(io.get_executor(), config);
  auto r = run(io, client.send(get("http://origin.example:8080/a?b=c")));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->body, "proxied http://origin.example:8080/a?b=c");
  const auto asked = proxy.requests();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].header("Host"), "origin.example:8080");
  EXPECT_EQ(asked[0].header("Proxy-Authorization"), "Basic dXNlcjpwdw==");
}

TEST_F(AsyncClientTest, ProxyIsBypassedWhenItMustNotBeUsed) {
  TestServer server;
  TestProxy proxy;
  auto config = test_config();
  config.http_proxy = "http://127.0.0.1:" + std::to_string(proxy.port());
  config.no_proxy = "example.com, 127.0.0.1";
  AsyncClient no_proxy(io.get_executor(), config);
  ASSERT_TRUE(run(io, no_proxy.send(get(server.url("/hello")))));

  config.no_proxy.clear();
  AsyncClient client(io.get_executor(), config);
  CallOptions off;
  off.use_proxy = false;
  ASSERT_TRUE(run(io, client.send(get(server.url("/hello")), off)));
  CallOptions filtered;
  filtered.allow = [](const asio::ip::address&) { return true; };
  ASSERT_TRUE(run(io, client.send(get(server.url("/hello")), filtered)));

  EXPECT_TRUE(proxy.requests().empty());
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(AsyncClientTest, ProxySettingsComeFromTheEnvironment) {
  TestServer server;
  TestProxy proxy;
  ::setenv("HTTP_PROXY", ("http://127.0.0.1:" + std::to_string(proxy.port())).c_str(), 1);
  ::setenv("no_proxy", "127.0.0.1", 1);
  AsyncClientConfig config;  // proxy_from_environment by default
  AsyncClient client(io.get_executor(), config);
  ::unsetenv("HTTP_PROXY");
  ::unsetenv("no_proxy");
  auto r = run(io, client.send(get("http://origin.example/x")));
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->body, "proxied http://origin.example/x");
  auto direct = run(io, client.send(get(server.url("/hello"))));
  ASSERT_TRUE(direct) << describe(direct);
  EXPECT_EQ(direct->body, "hello");
  EXPECT_EQ(proxy.requests().size(), 1u);
}

TEST_F(AsyncClientTest, ProxyFailuresAreConnectErrors) {
  TestServer server(tls_options());
  TestProxy refusing(true);
  auto config = test_config();
  config.https_proxy = "http://u:hunter2@127.0.0.1:" + std::to_string(refusing.port());
  AsyncClient client(io.get_executor(), config);
  auto refused = run(io, client.send(get(server.url("/hello"))));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kConnect);
  EXPECT_EQ(refused.error().message, "the proxy 127.0.0.1:" + std::to_string(refusing.port()) +
                                         " answered HTTP 407 to the tunnel request for "
                                         "127.0.0.1:" +
                                         std::to_string(server.port()));
  EXPECT_FALSE(refused.error().sent);

  config.https_proxy = "http://u:hunter2@127.0.0.1:" + std::to_string(closed_port());
  AsyncClient down(io.get_executor(), config);
  auto unreachable = run(io, down.send(get(server.url("/hello"))));
  ASSERT_FALSE(unreachable);
  EXPECT_EQ(unreachable.error().kind, ErrorKind::kConnect);
  EXPECT_NE(unreachable.error().message.find("the proxy 127.0.0.1:"), std::string::npos);
  EXPECT_EQ(unreachable.error().message.find("hunter2"), std::string::npos);

  config.https_proxy = "socks5://u:hunter2@127.0.0.1:1080";
  AsyncClient unsupported(io.get_executor(), config);
  auto bad = run(io, unsupported.send(get(server.url("/hello"))));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidUrl);
  EXPECT_EQ(bad.error().message.find("hunter2"), std::string::npos);
  EXPECT_NE(bad.error().message.find("HTTPS_PROXY"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace ig::http
