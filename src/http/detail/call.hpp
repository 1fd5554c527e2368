#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "http/async_client.hpp"
#include "http/detail/tls.hpp"
#include "http/proxy.hpp"
#include "http/url.hpp"

/// The steps of one AsyncClient call: open a connection (DNS, address filter, TCP, proxy
/// tunnel, TLS) and run one request/response exchange on it. Everything here runs on the call's
/// strand; nothing is thread-safe on its own.
namespace ig::http::detail {

using Clock = std::chrono::steady_clock;

/// One TCP connection, plain or TLS, possibly pooled. Its I/O objects live on `strand`, and
/// only code running there touches them. `pooled` and `generation` are guarded by the pool's
/// mutex.
struct Connection {
  explicit Connection(boost::asio::any_io_executor ex) : strand(ex), idle_timer(ex) {}

  boost::beast::tcp_stream& tcp() { return tls ? tls->next_layer() : *plain; }
  /// Closes the socket: pending operations end with operation_aborted. No TLS close_notify
  /// (a stalled peer could hold it up).
  void close();

  const boost::asio::any_io_executor strand;
  std::optional<boost::beast::tcp_stream> plain;  // until the TLS stream takes it over
  std::optional<TlsStream> tls;
  boost::asio::steady_timer idle_timer;  // closes the connection after idling in the pool
  std::string key;                       // the pool's key; empty: never pooled
  bool pooled = false;
  std::uint64_t generation = 0;  // bumped whenever it enters or leaves the pool
};

/// A DNS lookup the call may walk away from (deadline, cancellation) while the system resolver,
/// which cannot be interrupted, still runs: its completion handler keeps this alive.
struct ResolveWait {
  explicit ResolveWait(const boost::asio::any_io_executor& ex) : resolver(ex), signal(ex) {}
  boost::asio::ip::tcp::resolver resolver;
  boost::asio::steady_timer signal;
  boost::system::error_code ec;
  boost::asio::ip::tcp::resolver::results_type results;
  bool done = false;
};

/// The mutable state of one call, shared by its coroutine and its cancellation handler, which
/// posts cancel() to `strand`.
struct Call {
  explicit Call(boost::asio::any_io_executor ex) : strand(std::move(ex)) {}

  /// Marks the call cancelled and interrupts what it waits for; the coroutine notices on
  /// resuming. Runs on `strand`.
  void cancel();

  const boost::asio::any_io_executor strand;
  bool cancelled = false;
  std::shared_ptr<Connection> conn;        // the connection being opened or used
  std::shared_ptr<ResolveWait> resolving;  // the lookup being waited for
};

/// What a call does, fixed before it starts. A plain value.
struct Plan {
  Request request;
  CallOptions options;
  Target target;
  std::optional<Proxy> proxy;
  std::string where;     // the origin's host:port (IPv6 in brackets), for messages
  std::string pool_key;  // empty: the call neither takes from nor gives to the pool
  Clock::time_point deadline;
  std::string user_agent;
};

/// What one exchange on one connection produced.
struct Attempt {
  Result<Response> result;
  bool dead = false;      // failed before any byte of a response arrived (a stale connection)
  bool reusable = false;  // a complete keep-alive response with nothing left over
};

/// The error of a cancelled call.
Error cancelled_error(const Plan& plan, bool sent);

/// DNS (bounded by the deadline), the address filter, TCP connect attempts (each bounded by
/// connect_timeout), the proxy tunnel and the TLS handshake. Sets `call.conn` while it works.
boost::asio::awaitable<Result<std::shared_ptr<Connection>>> open_connection(
    Call& call, const Plan& plan, boost::asio::ssl::context& tls);

/// Writes the request and reads the response on `conn`, which `call.conn` points at.
boost::asio::awaitable<Attempt> exchange(Call& call, Connection& conn, const Plan& plan);

}  // namespace ig::http::detail
