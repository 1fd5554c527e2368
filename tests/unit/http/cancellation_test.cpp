// Cancelling a coroutine that awaits AsyncClient::send ends the call promptly with kCancelled,
// closes its connection and never terminates the process (Boost 1.81's co_spawn forwarding
// could; see runtime/offload.hpp).
#include "http/async_client.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

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
using testing::TestServer;
using Clock = std::chrono::steady_clock;

AsyncClientConfig test_config() {
  AsyncClientConfig config;
  config.extra_ca_file = test_certs().ca;
  config.proxy_from_environment = false;
  return config;
}

Request get(std::string url) {
  Request request;
  request.url = std::move(url);
  return request;
}

enum class Filter { kDefault, kPartial, kTotal };

asio::awaitable<void> send_into(AsyncClient& client, Request request, CallOptions options,
                                Filter filter, std::optional<Result<Response>>& out) {
  if (filter == Filter::kPartial) {
    co_await asio::this_coro::reset_cancellation_state(asio::enable_partial_cancellation());
  } else if (filter == Filter::kTotal) {
    co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation());
  }
  out = co_await client.send(std::move(request), std::move(options));
}

struct Outcome {
  std::optional<Result<Response>> result;
  std::exception_ptr error;
  Clock::duration elapsed{};
};

/// Sends from a coroutine bound to a cancellation signal that is emitted after `delay`.
Outcome cancel_after(asio::io_context& io, AsyncClient& client, Request request,
                     std::chrono::milliseconds delay,
                     asio::cancellation_type type = asio::cancellation_type::terminal,
                     Filter filter = Filter::kDefault, CallOptions options = {}) {
  asio::cancellation_signal signal;
  Outcome out;
  bool done = false;
  const auto start = Clock::now();
  asio::co_spawn(io, send_into(client, std::move(request), std::move(options), filter, out.result),
                 asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) {
                   out.error = e;
                   out.elapsed = Clock::now() - start;
                   done = true;
                 }));
  asio::steady_timer kick(io, delay);
  kick.async_wait([&signal, type](boost::system::error_code ec) {
    if (!ec) {
      signal.emit(type);
    }
  });
  const auto until = start + 20s;
  while (!done && Clock::now() < until) {
    if (io.stopped()) {
      io.restart();
    }
    io.run_one_for(100ms);
  }
  EXPECT_TRUE(done) << "the call did not end";
  kick.cancel();
  testing::run_for(io, 10ms);  // the cancelled kick, before `signal` goes
  return out;
}

void expect_cancelled(const Outcome& out, bool sent) {
  ASSERT_FALSE(out.error) << "the awaiting coroutine threw";
  ASSERT_TRUE(out.result.has_value());
  ASSERT_FALSE(*out.result) << describe(*out.result);
  EXPECT_EQ(out.result->error().kind, ErrorKind::kCancelled) << describe(*out.result);
  EXPECT_EQ(out.result->error().sent, sent) << describe(*out.result);
  EXPECT_LT(out.elapsed, 1500ms);
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

class CancellationTest : public ::testing::Test {
 protected:
  asio::io_context io;
};

TEST_F(CancellationTest, WhileConnecting) {
  FullBacklog backlog;
  AsyncClient client(io.get_executor(), test_config());
  auto out = cancel_after(io, client,
                          get("http://127.0.0.1:" + std::to_string(backlog.port()) + "/"), 100ms);
  expect_cancelled(out, false);
  EXPECT_EQ(out.result->error().message,
            "the request to 127.0.0.1:" + std::to_string(backlog.port()) + " was cancelled");
}

TEST_F(CancellationTest, InTheTlsHandshake) {
  TestServer::Options silent{true, test_certs().server_cert, test_certs().server_key, false};
  TestServer server(silent);
  AsyncClient client(io.get_executor(), test_config());
  expect_cancelled(cancel_after(io, client, get(server.url("/hello")), 100ms), false);
}

TEST_F(CancellationTest, WhileWritingTheRequest) {
  TestServer::Options deaf;
  deaf.read_requests = false;
  TestServer server(deaf);
  AsyncClient client(io.get_executor(), test_config());
  Request big;
  big.method = "POST";
  big.url = server.url("/upload");
  big.body.assign(64u << 20, 'b');  // far more than the socket buffers hold
  expect_cancelled(cancel_after(io, client, std::move(big), 200ms), true);
}

TEST_F(CancellationTest, WhileWaitingForTheResponseClosesTheConnection) {
  for (bool tls : {false, true}) {
    TestServer::Options options;
    if (tls) {
      options = {true, test_certs().server_cert, test_certs().server_key, true};
    }
    TestServer server(options);
    AsyncClient client(io.get_executor(), test_config());
    expect_cancelled(cancel_after(io, client, get(server.url("/stall")), 100ms), true);
    EXPECT_TRUE(eventually([&] { return server.closed_by_client() == 1; }))
        << "the server still holds the connection";
    expect_cancelled(cancel_after(io, client, get(server.url("/stall-body")), 100ms), true);
    EXPECT_TRUE(eventually([&] { return server.closed_by_client() == 2; }));
    EXPECT_EQ(client.idle_connections(), 0u);
  }
}

TEST_F(CancellationTest, PartialAndTotalWhenTheAwaiterAcceptsThem) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  expect_cancelled(cancel_after(io, client, get(server.url("/stall")), 50ms,
                                asio::cancellation_type::partial, Filter::kPartial),
                   true);
  expect_cancelled(cancel_after(io, client, get(server.url("/stall")), 50ms,
                                asio::cancellation_type::total, Filter::kTotal),
                   true);
  // Filtered out by the awaiter's (default, terminal-only) state: the call goes on to its end.
  CallOptions short_call;
  short_call.limits.total_timeout = 300ms;
  auto ignored = cancel_after(io, client, get(server.url("/stall")), 50ms,
                              asio::cancellation_type::partial, Filter::kDefault, short_call);
  ASSERT_TRUE(ignored.result.has_value());
  ASSERT_FALSE(*ignored.result);
  EXPECT_EQ(ignored.result->error().kind, ErrorKind::kTimeout);
}

TEST_F(CancellationTest, AfterTheCallEndedChangesNothing) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  auto out = cancel_after(io, client, get(server.url("/hello")), 300ms);
  ASSERT_FALSE(out.error);
  ASSERT_TRUE(out.result && *out.result) << describe(*out.result);
  EXPECT_EQ(client.idle_connections(), 1u);
  auto again = run(io, client.send(get(server.url("/hello"))));
  ASSERT_TRUE(again) << describe(again);
  EXPECT_EQ(server.connections(), 1);
}

asio::awaitable<void> wait_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<int> race_then_call(AsyncClient& client, std::string stall, std::string hello) {
  auto raced = co_await (client.send(get(stall)) || wait_for(100ms));
  if (raced.index() != 1) {
    co_return -1;
  }
  auto after = co_await client.send(get(hello));
  co_return after ? 1 : 0;
}

TEST_F(CancellationTest, LosingAnOrRaceDoesNotTerminate) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  EXPECT_EQ(run(io, race_then_call(client, server.url("/stall"), server.url("/hello"))), 1);
  EXPECT_TRUE(eventually([&] { return server.closed_by_client() == 1; }));
}

asio::awaitable<Result<Response>> send_when_cancelled(AsyncClient& client, std::string url,
                                                      asio::cancellation_signal& signal) {
  co_await asio::this_coro::throw_if_cancelled(false);
  signal.emit(asio::cancellation_type::terminal);
  co_return co_await client.send(get(url));
}

TEST_F(CancellationTest, AlreadyCancelledAwaiterGetsCancelledAtOnce) {
  TestServer server;
  AsyncClient client(io.get_executor(), test_config());
  asio::cancellation_signal signal;
  std::optional<Result<Response>> out;
  asio::co_spawn(
      io, send_when_cancelled(client, server.url("/hello"), signal),
      asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, Result<Response> r) {
        EXPECT_FALSE(e);
        out = std::move(r);
      }));
  testing::run_for(io, 200ms);
  ASSERT_TRUE(out.has_value());
  ASSERT_FALSE(*out);
  EXPECT_EQ(out->error().kind, ErrorKind::kCancelled);
  EXPECT_EQ(server.connections(), 0);
}

// Calls on a two-thread context awaited from another one, cancelled at random moments: each
// ends with its response or kCancelled, and the client stays usable. Run it under ASan too.
TEST_F(CancellationTest, RandomCancellationsAcrossExecutors) {
  TestServer server;
  asio::io_context client_io;
  auto guard = asio::make_work_guard(client_io);
  std::thread t1([&] { client_io.run(); });
  std::thread t2([&] { client_io.run(); });
  {
    AsyncClient client(client_io.get_executor(), test_config());
    std::mt19937 random(12345);
    int ok = 0;
    int cancelled = 0;
    const char* paths[] = {"/hello", "/stall", "/slow", "/stall-body", "/echo"};
    for (int i = 0; i < 40; ++i) {
      const auto delay = std::chrono::milliseconds(random() % 25);
      auto out = cancel_after(io, client, get(server.url(paths[random() % 5])), delay);
      ASSERT_FALSE(out.error);
      ASSERT_TRUE(out.result.has_value());
      if (*out.result) {
        ++ok;
      } else {
        EXPECT_EQ(out.result->error().kind, ErrorKind::kCancelled) << describe(*out.result);
        ++cancelled;
      }
    }
    EXPECT_GT(cancelled, 0);
    auto last = run(io, client.send(get(server.url("/hello"))));
    ASSERT_TRUE(last) << describe(last);
  }
  guard.reset();
  client_io.stop();
  t1.join();
  t2.join();
}

}  // namespace
}  // namespace ig::http
