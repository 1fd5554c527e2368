// The HTTP server on a real socket (127.0.0.1, port 0) with a handler of the test's own: its
// deadlines, and how it drains.

#include "api/server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include "api/metrics.hpp"

namespace ig::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// What the test handler saw; shared with the test's thread.
struct Seen {
  std::atomic<bool> started{false};
  std::atomic<bool> ended{false};
};

struct Ended {
  Seen& seen;
  ~Ended() { seen.ended = true; }
};

/// Writes "first", then waits a minute without looking whether the stream is still open.
asio::awaitable<void> slow_stream(StreamWriter& out, Seen& seen) {
  Ended ended{seen};
  co_await out.write("first");
  seen.started = true;
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::minutes(1));
  co_await timer.async_wait(asio::use_awaitable);
  co_await out.write("second");
}

/// Writes "first", then fails, as a download whose store stops answering mid-file.
asio::awaitable<void> broken_stream(StreamWriter& out) {
  co_await out.write("first");
  throw std::runtime_error("the result store stopped answering");
}

/// GET /wait?ms=N waits N ms on a timer, then answers 200 "waited"; GET /stream is a
/// slow_stream; anything else echoes its body. `seen` follows the waiting handler's life.
asio::awaitable<Response> test_handler(Request& req, RequestInfo& info, Seen& seen) {
  if (req.target() == "/stream") {
    info.stream = [&seen](StreamWriter& out) { return slow_stream(out, seen); };
    co_return stream_response("text/plain");
  }
  if (req.target() == "/broken-stream") {
    info.stream = [](StreamWriter& out) { return broken_stream(out); };
    co_return stream_response("application/octet-stream");
  }
  if (!req.target().starts_with("/wait")) {
    co_return text_response(200, req.body(), "text/plain");
  }
  const auto ms = std::stoi(std::string(req.target().substr(req.target().find('=') + 1)));
  Ended ended{seen};
  seen.started = true;
  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await timer.async_wait(asio::use_awaitable);
  co_return text_response(200, "waited", "text/plain");
}

class ServerTest : public ::testing::Test {
 protected:
  // One I/O thread: a test can hold it to make completions pile up.
  void start(ServerLimits limits) {
    server_ = std::make_unique<Server>(
        ioc_, limits,
        [this](Request& req, RequestInfo& info) { return test_handler(req, info, seen_); },
        [](std::string_view, const core::Error& e) {
          Response res = text_response(static_cast<unsigned>(core::http_status(e.code)), e.message,
                                       "text/plain");
          if (e.retry_after_s > 0) {
            res.set(http::field::retry_after, std::to_string(e.retry_after_s));
          }
          return res;
        },
        metrics_);
    ASSERT_TRUE(server_->listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
    server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }

  void TearDown() override {
    if (server_ && thread_.joinable()) {
      asio::co_spawn(ioc_, server_->drain(0ms), asio::use_future).get();
    }
    work_.reset();
    ioc_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  tcp::socket connect() {
    tcp::socket s(client_ioc_);
    s.connect(server_->local_endpoint());
    return s;
  }

  /// Drains with `deadline`; the future says whether the waiting handler had ended by the
  /// time the drain did.
  std::future<bool> drain_then_look(std::chrono::milliseconds deadline) {
    return asio::co_spawn(ioc_, drain_and_look(*server_, seen_, deadline), asio::use_future);
  }
  static asio::awaitable<bool> drain_and_look(Server& server, Seen& seen,
                                              std::chrono::milliseconds deadline) {
    co_await server.drain(deadline);
    co_return seen.ended.load();
  }

  static void send(tcp::socket& s, std::string_view bytes) {
    asio::write(s, asio::buffer(bytes.data(), bytes.size()));
  }

  static http::response<http::string_body> receive(tcp::socket& s) {
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(s, buffer, res);
    return res;
  }

  asio::io_context ioc_{1};
  // Keeps the I/O thread running after a test's own drain, for TearDown's.
  asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
  asio::io_context client_ioc_;
  Metrics metrics_;
  Seen seen_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

// A read and its deadline can complete together: the deadline's completion is then already
// queued when the read's turn comes. It must not cancel the read armed after it.
TEST_F(ServerTest, AnExpiryQueuedWithItsReadDoesNotCancelTheNextRead) {
  ServerLimits limits;
  limits.request_timeout = 1000ms;
  start(limits);
  tcp::socket s = connect();
  send(s, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n");
  std::this_thread::sleep_for(200ms);  // the server reads that and waits for the header's end

  // Hold the server's only thread past the header's deadline while the header's end arrives:
  // when the thread is free, the header read and the expired deadline complete in one go.
  std::promise<void> held;
  std::promise<void> released;
  asio::post(ioc_, [&] {
    held.set_value();
    std::this_thread::sleep_for(1500ms);
    released.set_value();
  });
  held.get_future().wait();
  send(s, "\r\n");
  released.get_future().wait();

  // The body now has a deadline of its own, which it meets.
  send(s, "ok");
  const auto res = receive(s);
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(res.body(), "ok");
}

// The idle read takes what has arrived: two requests sent in one write are both answered, in
// order, and a request whose first bytes came alone is read on to its end.
TEST_F(ServerTest, AnswersPipelinedRequestsAndOnesThatArriveInPieces) {
  start(ServerLimits{});
  tcp::socket s = connect();
  send(s,
       "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
       "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond");
  beast::flat_buffer buffer;
  for (const char* body : {"first", "second"}) {
    http::response<http::string_body> res;
    http::read(s, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), body);
  }
  send(s, "POST /c HT");
  std::this_thread::sleep_for(100ms);  // the server's idle read returns with these bytes
  send(s, "TP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nth");
  std::this_thread::sleep_for(100ms);
  send(s, "ird");
  http::response<http::string_body> res;
  http::read(s, buffer, res);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "third");
}

/// Whether `s` has something to read (bytes, or the end of the stream) within `d`: a test
/// fails instead of waiting as long as a broken deadline would make it.
bool readable_within(tcp::socket& s, std::chrono::milliseconds d) {
  pollfd p{s.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(d.count())) == 1;
}

// A deadline shorter than the one the connection's timer already waits for must still be
// kept. Here the header's 300 ms, armed after the idle wait's minute: a timer that could only
// move later would answer after a minute.
TEST_F(ServerTest, AHeaderDeadlineShorterThanTheIdleWaitIsKept) {
  ServerLimits limits;
  limits.idle_timeout = 60'000ms;
  limits.request_timeout = 300ms;
  start(limits);
  tcp::socket s = connect();
  send(s, "GET /echo HTTP/1.1\r\n");  // and never the rest of the header
  ASSERT_TRUE(readable_within(s, 5'000ms));
  const auto res = receive(s);
  EXPECT_EQ(res.result_int(), 408u);
}

// And the idle wait's 300 ms, armed after the answer's write deadline of 30 s (the handler
// took longer than the first idle wait, so the timer had rested): the connection is closed
// then, not 30 s later. Reading on gets the end of the stream.
TEST_F(ServerTest, AnIdleWaitShorterThanTheWriteDeadlineIsKept) {
  ServerLimits limits;
  limits.idle_timeout = 300ms;
  start(limits);
  tcp::socket s = connect();
  send(s, "GET /wait?ms=500 HTTP/1.1\r\nHost: x\r\n\r\n");
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(s, buffer, res);
  EXPECT_EQ(res.body(), "waited");
  ASSERT_TRUE(readable_within(s, 5'000ms));
  char byte = 0;
  boost::system::error_code ec;
  const std::size_t n = s.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
}

// The drain lets a request in progress finish: its handler's answer is sent, and the drain
// ends after it.
TEST_F(ServerTest, DrainLetsARequestFinishBeforeItsDeadline) {
  start(ServerLimits{});
  tcp::socket s = connect();
  send(s, "GET /wait?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!seen_.started) {
    std::this_thread::sleep_for(1ms);
  }
  auto drained = drain_then_look(10s);
  const auto res = receive(s);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "waited");
  EXPECT_FALSE(res.keep_alive());  // no more requests on a draining server
  ASSERT_EQ(drained.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(drained.get());
}

// A handler that would wait past the deadline (a synchronous request whose task is still
// running) is cancelled there: its client gets a 503 at once, and the drain ends only once
// the handler has.
TEST_F(ServerTest, DrainCancelsAHandlerStillWaitingAtItsDeadlineAndWaitsForIt) {
  start(ServerLimits{});
  tcp::socket s = connect();
  send(s, "GET /wait?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n");
  while (!seen_.started) {
    std::this_thread::sleep_for(1ms);
  }
  const auto began = Clock::now();
  auto drained = drain_then_look(300ms);
  const auto res = receive(s);
  const auto answered_after = Clock::now() - began;
  EXPECT_EQ(res.result_int(), 503u);
  EXPECT_EQ(res[http::field::retry_after], "1");
  EXPECT_EQ(res.body(), "the server is shutting down; retry the request");
  EXPECT_GE(answered_after, 300ms);  // not before the deadline
  EXPECT_LT(answered_after, 5s);
  ASSERT_EQ(drained.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(drained.get());
}

// A stream's body that does not end by itself when the server drains is cancelled at the
// deadline too: the stream ends cleanly after what it had sent.
TEST_F(ServerTest, DrainCancelsAStreamStillRunningAtItsDeadline) {
  start(ServerLimits{});
  tcp::socket s = connect();
  send(s, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  http::read_header(s, buffer, parser);
  while (!seen_.started) {
    std::this_thread::sleep_for(1ms);
  }
  auto drained = drain_then_look(300ms);
  http::read(s, buffer, parser);  // to the last chunk
  EXPECT_EQ(parser.get().body(), "first");
  ASSERT_EQ(drained.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(drained.get());
}

// A stream whose producer fails half-way must not end like a whole body: the client gets
// what was sent, then the connection closes without the last chunk, so it sees a partial
// message rather than a short file it would take for complete.
TEST_F(ServerTest, AStreamThatFailsHalfWayEndsWithoutItsLastChunk) {
  start(ServerLimits{});
  tcp::socket s = connect();
  send(s, "GET /broken-stream HTTP/1.1\r\nHost: x\r\n\r\n");
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  http::read_header(s, buffer, parser);
  EXPECT_TRUE(parser.get().chunked());
  beast::error_code ec;
  http::read(s, buffer, parser, ec);
  EXPECT_EQ(ec, http::error::partial_message) << ec.message();
  EXPECT_FALSE(parser.is_done());
  EXPECT_EQ(parser.get().body(), "first");
}

// The error renderer of the tests on several contexts: the message, as plain text.
Response plain_error(std::string_view, const core::Error& e) {
  return text_response(static_cast<unsigned>(core::http_status(e.code)), e.message,
                       "text/plain");
}

// With one context per I/O thread, each accepts from the listening socket in its own event
// loop. The first request holds its thread until another thread has served one: only the
// other listener can accept the second connection, and it gives it to its own context, the
// one with fewer connections, so the test passes only if both accept and serve. A drain ends
// the accept loops and connections of both.
TEST(ServerOnSeveralContexts, EachContextAcceptsAndServesItsOwnConnections) {
  asio::io_context a{1};
  asio::io_context b{1};
  auto guard_a = asio::make_work_guard(a);
  auto guard_b = asio::make_work_guard(b);
  std::mutex mu;
  std::set<std::thread::id> handler_threads;
  std::promise<void> second_served;
  auto second = second_served.get_future().share();
  Metrics metrics;
  Server server(
      std::vector<asio::io_context*>{&a, &b}, ServerLimits{},
      [&](Request& req, RequestInfo&) -> asio::awaitable<Response> {
        bool first = false;
        {
          std::lock_guard lock(mu);
          first = handler_threads.empty();
          if (handler_threads.insert(std::this_thread::get_id()).second && !first) {
            second_served.set_value();
          }
        }
        if (first) {
          second.wait_for(10s);  // holds this thread: the other must accept the next connection
        }
        co_return text_response(200, req.body(), "text/plain");
      },
      plain_error, metrics);
  ASSERT_TRUE(server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  server.start();
  std::thread ta([&] { a.run(); });
  std::thread tb([&] { b.run(); });

  asio::io_context client;
  auto ask = [&](tcp::socket& s, const std::string& body) {
    const std::string req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    asio::write(s, asio::buffer(req));
  };
  auto answer = [](tcp::socket& s) {
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(s, buffer, res);
    return res;
  };
  tcp::socket one(client);
  one.connect(server.local_endpoint());
  ask(one, "first");
  while (true) {  // until the first request holds its thread
    std::lock_guard lock(mu);
    if (!handler_threads.empty()) {
      break;
    }
  }
  tcp::socket two(client);
  two.connect(server.local_endpoint());
  ask(two, "second");
  EXPECT_EQ(answer(two).body(), "second");
  EXPECT_EQ(answer(one).body(), "first");
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(handler_threads.size(), 2u);
  }
  asio::co_spawn(a, server.drain(1s), asio::use_future).get();
  EXPECT_TRUE(server.draining());
  boost::system::error_code ec;
  tcp::socket late(client);
  late.connect(server.local_endpoint(), ec);
  EXPECT_TRUE(ec) << "a drained server still accepts connections";
  guard_a.reset();
  guard_b.reset();
  ta.join();  // both contexts run out of work: no accept loop or connection is left
  tb.join();
}

// A burst of connections is spread over the contexts: each goes to the context with the
// fewest open connections, whichever thread accepted it. The 40 connections wait in the
// backlog before either context runs, so the thread that starts first finds them all (and
// used to keep them all). Each is then served on the context it was given.
TEST(ServerOnSeveralContexts, ABurstOfConnectionsIsSpreadOverTheContexts) {
  asio::io_context a{1};
  asio::io_context b{1};
  auto guard_a = asio::make_work_guard(a);
  auto guard_b = asio::make_work_guard(b);
  std::mutex mu;
  std::map<std::thread::id, int> served;  // requests per thread
  Metrics metrics;
  Server server(
      std::vector<asio::io_context*>{&a, &b}, ServerLimits{},
      [&](Request& req, RequestInfo&) -> asio::awaitable<Response> {
        {
          std::lock_guard lock(mu);
          ++served[std::this_thread::get_id()];
        }
        co_return text_response(200, req.body(), "text/plain");
      },
      plain_error, metrics);
  ASSERT_TRUE(server.listen(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
  server.start();

  constexpr std::size_t kConnections = 40;
  asio::io_context client;
  std::vector<tcp::socket> sockets;
  for (std::size_t i = 0; i < kConnections; ++i) {
    sockets.emplace_back(client).connect(server.local_endpoint());
  }
  std::thread ta([&] { a.run(); });
  std::thread tb([&] { b.run(); });
  std::vector<std::size_t> open;
  for (int i = 0; i < 500; ++i) {  // until every connection has been accepted (at most 5 s)
    open = server.open_connections();
    if (open.size() == 2 && open[0] + open[1] == kConnections) {
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0] + open[1], kConnections);
  EXPECT_LE(std::max(open[0], open[1]) - std::min(open[0], open[1]), 2u)
      << "context a serves " << open[0] << " connections, b " << open[1];

  for (std::size_t i = 0; i < kConnections; ++i) {
    const std::string body = "n" + std::to_string(i);
    const std::string req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    asio::write(sockets[i], asio::buffer(req));
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(sockets[i], buffer, res);
    EXPECT_EQ(res.body(), body);
  }
  {
    // One request a connection: each thread served as many as its context has connections.
    std::lock_guard lock(mu);
    std::vector<std::size_t> per_thread;
    for (const auto& [thread, n] : served) {
      per_thread.push_back(static_cast<std::size_t>(n));
    }
    std::sort(per_thread.begin(), per_thread.end());
    std::sort(open.begin(), open.end());
    EXPECT_EQ(per_thread, open);
  }
  asio::co_spawn(a, server.drain(1s), asio::use_future).get();
  EXPECT_EQ(server.open_connections(), (std::vector<std::size_t>{0, 0}));
  guard_a.reset();
  guard_b.reset();
  ta.join();
  tb.join();
}

}  // namespace
}  // namespace ig::api
