// ig_http (src/http/) tests; they live here because `generate` is that module's only user today.
#include "http/client.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/url.hpp"

namespace ig::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

// --- URLs

TEST(HttpUrl, DefaultPortsHostHeaderAndTarget) {
  auto t = parse_target("http://Example.COM/a/b?x=1#frag");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_FALSE(t->tls);
  EXPECT_EQ(t->host, "example.com");
  EXPECT_EQ(t->port, 80);
  EXPECT_EQ(t->host_header, "example.com");
  EXPECT_EQ(t->target, "/a/b?x=1");
  EXPECT_EQ(t->url, "http://example.com/a/b?x=1");

  auto s = parse_target("https://api.example.com");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->tls);
  EXPECT_EQ(s->port, 443);
  EXPECT_EQ(s->target, "/");
  EXPECT_FALSE(s->host_is_ip);
}

TEST(HttpUrl, ExplicitPortsAndIpLiterals) {
  auto v4 = parse_target("http://127.0.0.1:8080/x");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->host_is_ip);
  EXPECT_EQ(v4->host_header, "127.0.0.1:8080");
  auto v6 = parse_target("https://[::1]:8443/");
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->host_header, "[::1]:8443");
  auto same = parse_target("https://example.com:443/");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->host_header, "example.com");
}

TEST(HttpUrl, RefusesWhatItCannotConnectTo) {
  for (const char* bad :
       {"ftp://example.com/", "example.com", "/relative", "http://", "http://user:pw@example.com/",
        "http://example.com:0/", "http://example.com:70000/", "http://1.2.3.4.nip.io/"}) {
    auto t = parse_target(bad);
    EXPECT_FALSE(t) << bad;
    if (!t) {
      EXPECT_EQ(t.error().kind, ErrorKind::kInvalidUrl) << bad;
    }
  }
}

TEST(HttpUrl, LocationsResolveAgainstTheAnsweringUrl) {
  EXPECT_EQ(*resolve_location("http://h:1/a/b?q", "/c"), "http://h:1/c");
  EXPECT_EQ(*resolve_location("http://h:1/a/b", "c?d=1"), "http://h:1/a/c?d=1");
  EXPECT_EQ(*resolve_location("http://h:1/a", "https://other/x"), "https://other/x");
}

// --- a loopback HTTP/1.1 server, one connection at a time

struct Seen {
  std::string method;
  std::string target;
  std::string authorization;
  std::string content_type;
  std::string body;
};

/// Answers each request with what `answer` returns (raw bytes), or holds the connection
/// silently for a second when it returns nullopt.
class LoopbackServer {
 public:
  using Answer = std::function<std::optional<std::string>(const Seen&)>;

  explicit LoopbackServer(Answer answer)
      : answer_(std::move(answer)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }

  ~LoopbackServer() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket wake(io_);
    wake.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }

  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  void serve() {
    while (!stop_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stop_) {
        return;
      }
      beast::flat_buffer buffer;
      bhttp::request<bhttp::string_body> req;
      bhttp::read(socket, buffer, req, ec);
      if (ec) {
        continue;
      }
      Seen s{std::string(req.method_string()), std::string(req.target()),
             std::string(req[bhttp::field::authorization]),
             std::string(req[bhttp::field::content_type]), req.body()};
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(s);
      }
      auto raw = answer_(s);
      if (!raw) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      asio::write(socket, asio::buffer(*raw), ec);
    }
  }

  Answer answer_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Seen> seen_;
  std::thread thread_;
};

std::string reply(int status, std::string_view body, std::string_view extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(body);
}

Limits limits(int redirects = 0, std::size_t cap = 1024 * 1024,
              milliseconds timeout = milliseconds(5000)) {
  return Limits{timeout, cap, redirects};
}

TEST(HttpClient, PostsTheBodyAndReadsStatusHeadersAndBody) {
  LoopbackServer server([](const Seen& s) {
    return reply(201, "echo:" + s.body, "Content-Type: application/json\r\n");
  });
  Client client;
  Request req{"POST",
              server.url("/v1/tasks"),
              {{"Authorization", "Bearer sk-1"}, {"Content-Type", "application/json"}},
              R"({"a":1})"};
  auto r = client.send(req, limits());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 201u);
  EXPECT_EQ(r->body, R"(echo:{"a":1})");
  EXPECT_EQ(r->header("content-type"), "application/json");
  EXPECT_EQ(r->header("X-Missing"), "");
  ASSERT_EQ(server.seen().size(), 1u);
  EXPECT_EQ(server.seen()[0].method, "POST");
  EXPECT_EQ(server.seen()[0].target, "/v1/tasks");
  EXPECT_EQ(server.seen()[0].authorization, "Bearer sk-1");
}

TEST(HttpClient, ErrorStatusesAreResponsesNotErrors) {
  LoopbackServer server([](const Seen&) { return reply(401, R"({"code":401})"); });
  Client client;
  auto r = client.send(Request{"GET", server.url("/x"), {}, {}}, limits());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 401u);
}

TEST(HttpClient, BodyOverTheCapIsTooLarge) {
  LoopbackServer server([](const Seen&) { return reply(200, std::string(4096, 'x')); });
  Client client;
  auto r = client.send(Request{"GET", server.url("/big"), {}, {}}, limits(0, 1000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kTooLarge);
}

TEST(HttpClient, SilentServerTimesOutAtTheDeadline) {
  LoopbackServer server([](const Seen&) { return std::nullopt; });
  Client client;
  const auto start = std::chrono::steady_clock::now();
  auto r =
      client.send(Request{"GET", server.url("/slow"), {}, {}}, limits(0, 1024, milliseconds(300)));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kTimeout);
  EXPECT_LT(took, milliseconds(900));
}

TEST(HttpClient, RefusedConnectionIsAConnectError) {
  unsigned short port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  Client client;
  auto r = client.send(Request{"GET", "http://127.0.0.1:" + std::to_string(port) + "/", {}, {}},
                       limits());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kConnect);
}

TEST(HttpClient, RedirectsAreReturnedUnlessAskedFor) {
  LoopbackServer server([](const Seen& s) {
    if (s.target == "/final") {
      return reply(200, "done");
    }
    return reply(302, "", "Location: /final\r\n");
  });
  Client client;
  auto api = client.send(Request{"GET", server.url("/start"), {}, {}}, limits(0));
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 302u);
  auto download = client.send(Request{"GET", server.url("/start"), {}, {}}, limits(3));
  ASSERT_TRUE(download) << download.error().message;
  EXPECT_EQ(download->status, 200u);
  EXPECT_EQ(download->body, "done");
  EXPECT_EQ(download->url, server.url("/final"));
}

TEST(HttpClient, RedirectChainsLongerThanTheLimitFail) {
  LoopbackServer server([](const Seen& s) {
    const int n = std::stoi(s.target.substr(1));
    if (n == 0) {
      return reply(200, "end");
    }
    return reply(307, "", "Location: /" + std::to_string(n - 1) + "\r\n");
  });
  Client client;
  auto three = client.send(Request{"GET", server.url("/3"), {}, {}}, limits(3));
  ASSERT_TRUE(three) << three.error().message;
  EXPECT_EQ(three->body, "end");
  auto four = client.send(Request{"GET", server.url("/4"), {}, {}}, limits(3));
  ASSERT_FALSE(four);
  EXPECT_EQ(four.error().kind, ErrorKind::kTooManyRedirects);
}

TEST(HttpClient, SeeOtherTurnsPostIntoGetAndCredentialsStayOnTheirOrigin) {
  LoopbackServer other([](const Seen&) { return reply(200, "elsewhere"); });
  const std::string elsewhere = other.url("/landed");
  LoopbackServer server([&](const Seen& s) {
    if (s.target == "/create") {
      return reply(303, "", "Location: /created\r\n");
    }
    if (s.target == "/created") {
      return reply(302, "", "Location: " + elsewhere + "\r\n");
    }
    return reply(404, "");
  });
  Client client;
  Request req{"POST",
              server.url("/create"),
              {{"Authorization", "Bearer sk-1"}, {"Content-Type", "application/json"}},
              "{}"};
  auto r = client.send(req, limits(3));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "elsewhere");
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[1].body, "");
  EXPECT_EQ(seen[1].authorization, "Bearer sk-1");  // same origin
  ASSERT_EQ(other.seen().size(), 1u);
  EXPECT_EQ(other.seen()[0].authorization, "");  // another port is another origin
}

TEST(HttpClient, HttpsToAPlainServerFailsTheHandshake) {
  LoopbackServer server([](const Seen&) { return reply(200, "plain"); });
  Client client;
  std::string url = server.url("/");
  url.replace(0, 4, "https");
  auto r = client.send(Request{"GET", url, {}, {}}, limits(0, 1024, milliseconds(2000)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kTls) << r.error().message;
}

}  // namespace
}  // namespace ig::http
