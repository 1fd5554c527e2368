#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "api/http.hpp"
#include "core/error.hpp"
#include "core/result.hpp"
#include "runtime/memory_budget.hpp"

namespace ig::api {

class Metrics;

/// Limits that protect the server from oversized or slow clients.
struct ServerLimits {
  std::size_t max_header_bytes = 16 * 1024;  // larger header block → 431
  std::size_t max_body_bytes = 1024 * 1024;  // larger body → 413, not read
  std::size_t max_upload_bytes = 64 * 1024 * 1024;  // the same for upload paths (multipart)
  std::vector<std::string> upload_paths = {"/openai/v1/images/edits"};
  // Bodies of upload paths held at once, process-wide (0: no cap): an upload that does not fit
  // is answered 503 with Retry-After before its body is read.
  std::size_t upload_memory_bytes = 256 * 1024 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive wait for the next request
  std::chrono::milliseconds request_timeout{10'000};  // first byte → header read, else 408
  // The body then has request_timeout more, plus the time its size needs at this rate: a large
  // upload on a modest link is not cut off, a trickling one still is.
  std::size_t min_body_bytes_per_s = 64 * 1024;
  std::chrono::milliseconds write_timeout{30'000};
  std::size_t max_connections = 10'000;
};

/// HTTP/1.1 server on Boost.Beast with C++20 coroutines: one coroutine per connection, a fresh
/// parser per request, header/body/time limits, keep-alive, X-Request-ID,
/// streamed responses (RequestInfo::stream, chunked), graceful drain. Thread-safe: start/drain may
/// be called from any thread.
class Server {
 public:
  using Handler = std::function<boost::asio::awaitable<Response>(Request&, RequestInfo&)>;
  /// Renders an error the server raises itself (431, 413, 408, 400) in the envelope that suits
  /// the request target (which may be empty when the header could not be parsed).
  using ErrorRenderer = std::function<Response(std::string_view target, const core::Error&)>;
  /// Looks at the header of a request to an upload path before its (large) body is read; a
  /// response it returns is sent instead and the body is never buffered. Used to authenticate
  /// uploads first, so that no one without a key can make the server hold 64 MiB.
  using UploadGate = std::function<boost::asio::awaitable<std::optional<Response>>(
      const Request::header_type& header)>;

  /// One listener on `ioc`, which any number of threads may run: each connection gets its own
  /// strand.
  Server(boost::asio::io_context& ioc, ServerLimits limits, Handler handler,
         ErrorRenderer render_error, Metrics& metrics);
  /// One listening socket, accepted from by every context (each through a descriptor of its
  /// own, in its own event loop), each context run by exactly one thread. Each accepted
  /// connection goes to the context with the fewest open connections (the accepting one on a
  /// tie) and stays there; it needs no strand, and no lock or wake-up is shared between the
  /// threads on the request path.
  Server(std::vector<boost::asio::io_context*> iocs, ServerLimits limits, Handler handler,
         ErrorRenderer render_error, Metrics& metrics);
  ~Server();

  /// Set before start().
  void set_upload_gate(UploadGate gate) { upload_gate_ = std::move(gate); }

  core::Status listen(const boost::asio::ip::tcp::endpoint& endpoint);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void start();

  /// Stops accepting, closes idle connections and lets in-flight requests finish. At the
  /// deadline every handler still running (a synchronous `openai` request waiting for its
  /// images, a stream) is cancelled through its request's cancellation slot, and its request
  /// is answered 503 with Retry-After; the other connections (reading a request, writing an
  /// answer) are closed, and so is every connection still open a moment later. Completes when
  /// no connection, handler or accept is left, so that nothing the handlers use is needed
  /// afterwards.
  boost::asio::awaitable<void> drain(std::chrono::milliseconds deadline);
  bool draining() const { return draining_.load(); }

  /// Open connections served by each context, in the order the contexts were given.
  std::vector<std::size_t> open_connections() const;

 private:
  struct Connection;
  struct StreamState;
  class StreamSink;
  struct Listener {
    std::size_t index;  // in listeners_ and open_
    boost::asio::io_context* ioc;
    boost::asio::ip::tcp::acceptor acceptor;
  };
  /// The context the next connection accepted by `accepting` goes to.
  std::size_t least_loaded(std::size_t accepting) const;
  boost::asio::awaitable<void> accept_loop(Listener& listener);
  boost::asio::awaitable<void> session(std::shared_ptr<Connection> conn);
  boost::asio::awaitable<bool> serve_one(Connection& conn);
  /// Awaits `work` (a handler's) as the connection's request in progress, which drain() may
  /// cancel through the session's cancellation slot; the cancellation is cleared once `work`
  /// has ended, so that the session can still answer.
  template <class T>
  static boost::asio::awaitable<T> cancellable(Connection& conn, boost::asio::awaitable<T> work);
  /// The 503 of a request whose handler drain() cancelled.
  Response shutting_down(std::string_view target) const;
  /// Sends `res` as the header of a streamed response whose body info.stream writes; true when
  /// the connection can serve another request afterwards.
  boost::asio::awaitable<bool> stream(Connection& conn, const Request& req, const Response& res,
                                      RequestInfo& info);
  /// Sends the header of `res`, then info.file_length bytes of info.file with sendfile(2);
  /// false when the connection cannot be used again.
  boost::asio::awaitable<bool> send_file(Connection& conn, const Request& req,
                                         const Response& res, RequestInfo& info);
  static void watch_peer(std::shared_ptr<Connection> conn, std::shared_ptr<StreamState> state);
  boost::asio::awaitable<void> write_and_close(Connection& conn, Response res, RequestInfo& info);
  bool is_upload_path(std::string_view target) const;
  std::size_t body_limit_for(std::string_view target) const;
  void finish_log(const Request* req, const Response& res, const RequestInfo& info,
                  std::size_t streamed_bytes = 0);
  /// No connection (so no handler) and no accept loop is left.
  bool drained();
  /// Posts `act` to every connection's strand.
  void for_each_connection(const std::function<void(const std::shared_ptr<Connection>&)>& act);

  ServerLimits limits_;
  Handler handler_;
  ErrorRenderer render_error_;
  UploadGate upload_gate_;
  Metrics& metrics_;
  runtime::MemoryBudget upload_memory_;
  bool strand_per_connection_;  // the contexts may be run by several threads each
  std::vector<Listener> listeners_;
  std::atomic<bool> draining_{false};
  std::atomic<int> accepting_{0};  // accept loops running
  mutable std::mutex mu_;
  std::unordered_set<std::shared_ptr<Connection>> connections_;
  // Per context, the connections of connections_ it serves. A burst of connections would
  // otherwise mostly land on whichever thread woke first: it accepts what the backlog holds.
  std::vector<std::size_t> open_;
};

}  // namespace ig::api
