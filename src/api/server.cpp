#include "api/server.hpp"

#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "api/metrics.hpp"
#include "core/ids.hpp"

namespace ig::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using asio::use_awaitable;
constexpr auto kTuple = asio::as_tuple(use_awaitable);
constexpr std::size_t kSmallBody = 4096;
constexpr std::size_t kBodyReadChunk = 64 * 1024;
// What the idle keep-alive read asks for at least, as Beast's own reads do (it reads on if the
// request is longer). The buffer's capacity is used when larger, and is not grown for this: an
// idle connection keeps its buffer, and ten thousand of them at 4 KiB each would be 40 MB.
constexpr std::size_t kIdleReadBytes = 512;
// Drain: how often it looks whether the connections are gone, and how long the 503s of the
// handlers it cancelled at its deadline may take to be written before every socket is closed.
constexpr std::chrono::milliseconds kDrainPoll{20};
constexpr std::chrono::milliseconds kAnswerGrace{1000};

/// One accepted socket. Shared by its session coroutine, its deadline timer and the server's
/// registry (for drain); all of them run on the connection's strand.
struct Server::Connection {
  using Clock = std::chrono::steady_clock;
  explicit Connection(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}

  // Arms the deadline of the operations that follow: when it passes, the socket's pending
  // operations are cancelled and `timed_out` tells the session why. disarm() takes it back.
  //
  // Both only set `deadline`: a request arms and disarms three or four deadlines, and a timer
  // wait started and cancelled for each cost a heap insert, a cancelled handler run through
  // the scheduler and, often, a timerfd_settime call. The timer waits for the earliest
  // deadline it has been given and is moved only when a deadline comes before it; when it
  // fires it looks at the deadline of that moment: none, or one still ahead (the operation it
  // was set for completed and another was armed), and it waits again or rests. An expiry
  // already queued when its operation completes therefore never cancels the next operation.
  void arm(std::chrono::milliseconds d, const std::shared_ptr<Connection>& self) {
    timed_out = false;
    deadline = Clock::now() + d;
    if (!timer_waiting || deadline < timer_at) {
      wait_until(deadline, self);
    }
  }
  void disarm() { deadline = Clock::time_point::max(); }
  // Ends the timer's wait (its handler holds the connection): the session is over.
  void stop_deadlines() {
    disarm();
    ++timer_generation;
    timer_waiting = false;
    timer.cancel();
  }

  void wait_until(Clock::time_point at, const std::shared_ptr<Connection>& self) {
    const std::uint64_t generation = ++timer_generation;  // a wait being replaced is ignored
    timer_waiting = true;
    timer_at = at;
    timer.expires_at(at);
    timer.async_wait([self, generation](boost::system::error_code ec) {
      if (ec || generation != self->timer_generation) {
        return;
      }
      self->timer_waiting = false;
      if (self->deadline == Clock::time_point::max()) {
        return;  // nothing armed: the next arm() starts the timer again
      }
      if (Clock::now() < self->deadline) {
        self->wait_until(self->deadline, self);
        return;
      }
      self->timed_out = true;
      boost::system::error_code ignored;
      self->socket.cancel(ignored);
    });
  }

  tcp::socket socket;
  asio::steady_timer timer;
  beast::flat_buffer buffer;
  std::shared_ptr<Connection> self;  // set while the session runs, for arm()
  std::string remote;
  boost::asio::ip::address peer;  // unspecified when unknown
  std::size_t context = 0;        // the listener whose context serves it (open_)
  bool timed_out = false;
  Clock::time_point deadline = Clock::time_point::max();  // max: none armed
  Clock::time_point timer_at;                             // when the waiting timer fires
  bool timer_waiting = false;
  std::uint64_t timer_generation = 0;  // counts the timer's waits
  bool busy = false;                      // a request is being read, handled or written
  // The session's cancellation slot: drain() cancels the request in progress through it, and
  // only while `in_handler` (a handler, the upload gate or a stream's body runs).
  asio::cancellation_signal cancel;
  bool in_handler = false;
  bool cancelled = false;  // drain() cancelled the handler that ran last
};

/// What the peer watch of a streamed response found. On the connection's strand.
struct Server::StreamState {
  bool peer_gone = false;  // the client closed (or sent something: a stream takes no requests)
  bool done = false;       // the stream is over: the watch stops
};

/// The body of a streamed response: chunks (HTTP/1.1) or raw bytes up to the close (HTTP/1.0),
/// each write under the write timeout. On the connection's strand.
class Server::StreamSink final : public StreamWriter {
 public:
  StreamSink(Connection& conn, bool chunked, std::chrono::milliseconds write_timeout,
             const std::atomic<bool>& draining, std::shared_ptr<const StreamState> state)
      : conn_(conn),
        chunked_(chunked),
        write_timeout_(write_timeout),
        draining_(draining),
        state_(std::move(state)) {}

  asio::awaitable<bool> write(std::string_view bytes) override {
    if (failed_ || state_->peer_gone) {
      co_return false;
    }
    if (bytes.empty()) {
      co_return true;  // an empty chunk would end the body
    }
    conn_.arm(write_timeout_, conn_.self);
    boost::system::error_code ec;
    const asio::const_buffer buffer(bytes.data(), bytes.size());
    if (chunked_) {
      std::tie(ec, std::ignore) =
          co_await asio::async_write(conn_.socket, http::make_chunk(buffer), kTuple);
    } else {
      std::tie(ec, std::ignore) = co_await asio::async_write(conn_.socket, buffer, kTuple);
    }
    conn_.disarm();
    if (ec) {
      failed_ = true;
      co_return false;
    }
    sent_ += bytes.size();
    co_return true;
  }

  bool open() const override { return !failed_ && !state_->peer_gone && !draining_.load(); }

  bool failed() const { return failed_; }
  std::size_t sent() const { return sent_; }

 private:
  Connection& conn_;
  const bool chunked_;
  const std::chrono::milliseconds write_timeout_;
  const std::atomic<bool>& draining_;
  std::shared_ptr<const StreamState> state_;
  bool failed_ = false;
  std::size_t sent_ = 0;
};

namespace {

std::string valid_request_id(std::string_view v) {
  if (v.empty() || v.size() > 128) {
    return {};
  }
  for (char c : v) {
    if (c < 0x21 || c > 0x7e) {
      return {};
    }
  }
  return std::string(v);
}

std::string new_request_id() {
  static const core::RandomSource rnd = core::default_random();
  unsigned char b[8];
  const std::uint64_t v = rnd();
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<unsigned char>(v >> (8 * i));
  }
  return core::to_hex(b, 8);
}

}  // namespace

Server::Server(asio::io_context& ioc, ServerLimits limits, Handler handler,
               ErrorRenderer render_error, Metrics& metrics)
    : Server(std::vector<asio::io_context*>{&ioc}, limits, std::move(handler),
             std::move(render_error), metrics) {
  strand_per_connection_ = true;
}

Server::Server(std::vector<asio::io_context*> iocs, ServerLimits limits, Handler handler,
               ErrorRenderer render_error, Metrics& metrics)
    : limits_(limits),
      handler_(std::move(handler)),
      render_error_(std::move(render_error)),
      metrics_(metrics),
      upload_memory_(limits_.upload_memory_bytes),
      strand_per_connection_(false) {
  listeners_.reserve(iocs.size());
  for (auto* ioc : iocs) {
    listeners_.push_back(Listener{listeners_.size(), ioc, tcp::acceptor(asio::make_strand(*ioc))});
  }
  open_.assign(listeners_.size(), 0);
}

Server::~Server() = default;

core::Status Server::listen(const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  auto& first = listeners_.front().acceptor;
  first.open(endpoint.protocol(), ec);
  if (!ec) {
    first.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    first.bind(endpoint, ec);
  }
  if (!ec) {
    first.listen(asio::socket_base::max_listen_connections, ec);
  }
  // The other contexts accept from the same listening socket through a descriptor of their
  // own, each in its own event loop. (SO_REUSEPORT would let another process of the same user
  // join the port unnoticed, and take a share of its connections.)
  for (std::size_t i = 1; i < listeners_.size() && !ec; ++i) {
    const int fd = ::dup(first.native_handle());
    if (fd < 0) {
      ec.assign(errno, boost::system::system_category());
      break;
    }
    listeners_[i].acceptor.assign(endpoint.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
    }
  }
  if (ec) {
    return core::make_error(core::ErrorCode::kInternal,
                            "cannot listen on " + endpoint.address().to_string() + ":" +
                                std::to_string(endpoint.port()) + ": " + ec.message());
  }
  return core::ok_status();
}

tcp::endpoint Server::local_endpoint() const {
  boost::system::error_code ec;
  return listeners_.front().acceptor.local_endpoint(ec);
}

std::size_t Server::least_loaded(std::size_t accepting) const {
  std::lock_guard lock(mu_);
  std::size_t best = accepting;
  for (std::size_t i = 0; i < open_.size(); ++i) {
    if (open_[i] < open_[best]) {
      best = i;
    }
  }
  return best;
}

std::vector<std::size_t> Server::open_connections() const {
  std::lock_guard lock(mu_);
  return open_;
}

void Server::start() {
  for (auto& l : listeners_) {
    ++accepting_;
    asio::co_spawn(l.acceptor.get_executor(), accept_loop(l), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("accept loop ended: {}", ex.what());
        }
      }
      --accepting_;
    });
  }
}

asio::awaitable<void> Server::accept_loop(Listener& listener) {
  auto& acceptor = listener.acceptor;
  asio::steady_timer backoff(acceptor.get_executor());
  std::chrono::steady_clock::time_point last_warning{};
  std::size_t failures = 0;
  while (!draining_) {
    // Chosen when the accept starts: in a burst each accept completes at once, so the choice
    // sees every connection accepted before it (two loops racing may both pick one context).
    const std::size_t target = least_loaded(listener.index);
    asio::io_context& ioc = *listeners_[target].ioc;
    const asio::any_io_executor where = strand_per_connection_
                                            ? asio::any_io_executor(asio::make_strand(ioc))
                                            : asio::any_io_executor(ioc.get_executor());
    auto [ec, socket] = co_await acceptor.async_accept(where, kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || draining_) {
        co_return;
      }
      // Out of descriptors (EMFILE/ENFILE) or memory: the pending connection stays in the
      // backlog, so retrying at once would spin; wait a moment. Other errors (a connection
      // reset before it was accepted) concern one client: go on. Warn at most every 5 s.
      ++failures;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_warning >= std::chrono::seconds(5)) {
        spdlog::warn("accept failed ({} time(s) since the last warning): {}", failures,
                     ec.message());
        last_warning = now;
        failures = 0;
      }
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory || ec.value() == ENFILE) {
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(kTuple);
      }
      continue;
    }
    auto conn = std::make_shared<Connection>(std::move(socket));
    conn->context = target;
    {
      std::lock_guard lock(mu_);
      if (connections_.size() >= limits_.max_connections) {
        spdlog::warn("connection limit {} reached, refusing a connection",
                     limits_.max_connections);
        continue;  // the socket closes as conn goes out of scope
      }
      connections_.insert(conn);
      ++open_[target];
    }
    boost::system::error_code rec;
    auto ep = conn->socket.remote_endpoint(rec);
    conn->remote = rec ? "-" : ep.address().to_string() + ":" + std::to_string(ep.port());
    if (!rec) {
      conn->peer = ep.address();
    }
    conn->socket.set_option(tcp::no_delay(true), rec);
    // Bound to `cancel`, through which drain() cancels the request in progress. The completion
    // holds the Connection, so the signal outlives the session.
    asio::co_spawn(
        conn->socket.get_executor(), session(conn),
        asio::bind_cancellation_slot(conn->cancel.slot(), [this, conn](std::exception_ptr e) {
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              spdlog::error("connection {} ended by an exception: {}", conn->remote, ex.what());
            }
          }
          conn->stop_deadlines();  // also after an exception: the timer holds the connection
          conn->self.reset();
          std::lock_guard lock(mu_);
          if (connections_.erase(conn) != 0) {
            --open_[conn->context];
          }
        }));
  }
}

asio::awaitable<void> Server::session(std::shared_ptr<Connection> conn) {
  conn->self = conn;
  while (co_await serve_one(*conn)) {
  }
  conn->stop_deadlines();
  boost::system::error_code ec;
  conn->socket.shutdown(tcp::socket::shutdown_both, ec);
  conn->socket.close(ec);
}

asio::awaitable<bool> Server::serve_one(Connection& conn) {
  conn.busy = false;
  if (draining_) {
    co_return false;
  }
  if (conn.buffer.size() == 0) {
    // Idle keep-alive wait: close quietly when the client sends nothing. A read, not a wait
    // for readability: Asio re-arms the socket's epoll registration (an epoll_ctl call) for
    // every wait, and a read whose socket is known to be empty just queues for the next edge.
    conn.arm(limits_.idle_timeout, conn.self);
    auto [ec, n] =
        co_await conn.socket.async_read_some(
            conn.buffer.prepare(std::max(kIdleReadBytes, conn.buffer.capacity())), kTuple);
    conn.buffer.commit(n);
    conn.disarm();
    if (ec || draining_) {
      co_return false;
    }
  }
  conn.busy = true;
  RequestInfo info;
  info.start = std::chrono::steady_clock::now();
  info.remote = conn.remote;
  info.peer = conn.peer;

  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
  // The body limit is applied once the header is in, so an oversized Content-Length is
  // answered in the envelope of the endpoint it was sent to.
  parser.body_limit(boost::none);

  // The header must arrive within request_timeout, the body within a deadline scaled to its
  // size: a slow client gets 408, an oversized one 431/413 without its body being read.
  conn.arm(limits_.request_timeout, conn.self);
  auto refuse = [&](const core::Error& e) -> Response {
    std::string target;
    if (parser.is_header_done()) {
      target = std::string(parser.get().target());
      info.request_id = valid_request_id(parser.get()["X-Request-ID"]);
    }
    if (info.request_id.empty()) {
      info.request_id = new_request_id();
    }
    return render_error_(target, e);
  };
  auto fail = [&](core::ErrorCode code, std::string msg) -> Response {
    return refuse(core::make_error(code, std::move(msg)));
  };
  auto read_error = [&](boost::system::error_code ec) -> std::optional<Response> {
    if (conn.timed_out) {
      if (!parser.got_some() && conn.buffer.size() == 0) {
        return std::nullopt;
      }
      return fail(core::ErrorCode::kRequestTimeout, "request not received in time");
    }
    if (ec == http::error::header_limit) {
      return fail(core::ErrorCode::kHeadersTooLarge,
                  "request header block exceeds " + std::to_string(limits_.max_header_bytes) +
                      " bytes");
    }
    if (ec == http::error::body_limit) {
      const std::size_t limit =
          parser.is_header_done() ? body_limit_for(parser.get().target()) : limits_.max_body_bytes;
      return fail(core::ErrorCode::kPayloadTooLarge,
                  "request body exceeds " + std::to_string(limit) + " bytes");
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      return std::nullopt;
    }
    return fail(core::ErrorCode::kInvalidRequest, "malformed HTTP request: " + ec.message());
  };

  {
    auto [ec, n] = co_await http::async_read_header(conn.socket, conn.buffer, parser, kTuple);
    if (ec) {
      conn.disarm();
      if (auto res = read_error(ec)) {
        co_await write_and_close(conn, std::move(*res), info);
      }
      co_return false;
    }
  }
  const std::size_t body_limit = body_limit_for(parser.get().target());
  if (auto len = parser.content_length(); len && *len > body_limit) {
    conn.disarm();
    co_await write_and_close(
        conn,
        fail(core::ErrorCode::kPayloadTooLarge,
             "request body exceeds " + std::to_string(body_limit) + " bytes"),
        info);
    co_return false;
  }
  if (upload_gate_ && body_limit > limits_.max_body_bytes) {
    conn.disarm();
    std::optional<Response> rejection;
    try {
      rejection = co_await cancellable(conn, upload_gate_(parser.get().base()));
    } catch (const std::exception&) {
      if (!conn.cancelled) {
        throw;
      }
      rejection = shutting_down(parser.get().target());
    }
    if (rejection) {
      info.request_id = valid_request_id(parser.get()["X-Request-ID"]);
      if (info.request_id.empty()) {
        info.request_id = new_request_id();
      }
      co_await write_and_close(conn, std::move(*rejection), info);
      co_return false;
    }
  }
  if (is_upload_path(parser.get().target())) {
    // Taken before the body is read: each upload may be as large as max_upload_bytes, and
    // together they must stay under the cap.
    const std::size_t expected = parser.content_length().value_or(body_limit);
    info.body_memory = reserve_memory(upload_memory_, expected);
    if (!info.body_memory) {
      spdlog::warn(
          "upload of {} bytes refused: {} of the {} bytes of server.upload_memory_bytes "
          "are held",
          expected, upload_memory_.used(), upload_memory_.capacity());
      core::Error e =
          core::make_error(core::ErrorCode::kUnavailable,
                           "the server is receiving too many uploads at once; retry in a moment");
      e.retry_after_s = 1;
      co_await write_and_close(conn, refuse(e), info);
      co_return false;
    }
  }
  parser.body_limit(body_limit);
  {
    const std::size_t expected = parser.content_length().value_or(body_limit);
    const auto transfer = std::chrono::milliseconds(
        expected * 1000 / std::max<std::size_t>(limits_.min_body_bytes_per_s, 1));
    conn.disarm();
    conn.arm(limits_.request_timeout + transfer, conn.self);
  }
  if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
    http::response<http::empty_body> cont{http::status::continue_, 11};
    auto [ec, n] = co_await http::async_write(conn.socket, cont, kTuple);
    if (ec) {
      conn.disarm();
      co_return false;
    }
  }
  // A large body is read 64 KiB at a time (an empty buffer makes Beast read 512 bytes at a
  // time); the buffer shrinks back afterwards, so idle connections stay small.
  const bool big_body = parser.content_length().value_or(0) > kSmallBody ||
                        parser.chunked();
  if (big_body) {
    conn.buffer.reserve(kBodyReadChunk);
  }
  {
    auto [ec, n] = co_await http::async_read(conn.socket, conn.buffer, parser, kTuple);
    if (big_body) {
      conn.buffer.shrink_to_fit();
    }
    conn.disarm();
    if (ec) {
      if (auto res = read_error(ec)) {
        co_await write_and_close(conn, std::move(*res), info);
      }
      co_return false;
    }
  }

  Request req = parser.release();
  info.request_id = valid_request_id(req["X-Request-ID"]);
  if (info.request_id.empty()) {
    info.request_id = new_request_id();
  }
  Response res;
  try {
    res = co_await cancellable(conn, handler_(req, info));
  } catch (const std::exception& e) {
    if (conn.cancelled) {
      res = shutting_down(req.target());
    } else {
      spdlog::error("[{}] unhandled exception: {}", info.request_id, e.what());
      res = render_error_(req.target(), core::make_error(core::ErrorCode::kInternal,
                                                         "internal error (request id " +
                                                             info.request_id + ")"));
    }
  }
  if (info.stream && res.result() == http::status::ok && req.method() == http::verb::get) {
    co_return co_await stream(conn, req, res, info);
  }
  const bool keep_alive = req.keep_alive() && !draining_;
  res.version(req.version());
  res.keep_alive(keep_alive);
  res.set("X-Request-ID", info.request_id);
  if (req.method() == http::verb::head) {
    // Content-Length says what GET would send; the body stays empty.
    res.body().clear();
  } else if (info.file) {
    co_return co_await send_file(conn, req, res, info) && keep_alive;
  }

  conn.arm(limits_.write_timeout, conn.self);
  auto [wec, wn] = co_await http::async_write(conn.socket, res, kTuple);
  conn.disarm();
  finish_log(&req, res, info);
  if (wec || !keep_alive) {
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> Server::send_file(Connection& conn, const Request& req,
                                        const Response& res, RequestInfo& info) {
  const std::uint64_t length = info.file_length;
  http::response<http::empty_body> head{Response::header_type(res.base())};
  http::response_serializer<http::empty_body> header_writer{head};
  conn.arm(limits_.write_timeout, conn.self);
  auto [hec, hn] = co_await http::async_write_header(conn.socket, header_writer, kTuple);
  std::uint64_t sent = 0;
  bool ok = !hec;
  if (ok) {
    boost::system::error_code ec;
    conn.socket.native_non_blocking(true, ec);  // sendfile must not block the I/O thread
    ok = !ec;
  }
  auto offset = static_cast<off_t>(info.file_offset);
  while (ok && sent < length) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(
        length - sent, std::uint64_t{1} << 30));
    const ssize_t n = ::sendfile(conn.socket.native_handle(), info.file->fd(), &offset, chunk);
    if (n > 0) {
      sent += static_cast<std::uint64_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto [wec] = co_await conn.socket.async_wait(tcp::socket::wait_write, kTuple);
      ok = !wec;
    } else {
      // An error, or the file ended early (n == 0): the Content-Length cannot be kept, so the
      // connection is closed rather than answered short.
      ok = false;
    }
  }
  conn.disarm();
  info.file.reset();
  finish_log(&req, res, info, sent);
  co_return ok;
}

template <class T>
asio::awaitable<T> Server::cancellable(Connection& conn, asio::awaitable<T> work) {
  conn.in_handler = true;
  conn.cancelled = false;
  std::exception_ptr failed;
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> out;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(work);
    } else {
      out.emplace(co_await std::move(work));
    }
  } catch (...) {
    failed = std::current_exception();
  }
  conn.in_handler = false;
  if (conn.cancelled) {
    // Cancelled, the session would fail every later co_await: it is done with the handler,
    // and still has to answer.
    co_await asio::this_coro::reset_cancellation_state();
  }
  if (failed) {
    std::rethrow_exception(failed);
  }
  if constexpr (!std::is_void_v<T>) {
    co_return std::move(*out);
  }
}

Response Server::shutting_down(std::string_view target) const {
  core::Error e = core::make_error(core::ErrorCode::kUnavailable,
                                   "the server is shutting down; retry the request");
  e.retry_after_s = 1;
  return render_error_(target, e);
}

asio::awaitable<bool> Server::stream(Connection& conn, const Request& req, const Response& res,
                                     RequestInfo& info) {
  // HTTP/1.0 has no chunks: its body ends with the connection.
  const bool chunked = req.version() >= 11;
  bool keep_alive = chunked && req.keep_alive() && !draining_;
  http::response<http::empty_body> head{Response::header_type(res.base())};
  head.version(req.version());
  head.erase(http::field::content_length);
  head.keep_alive(keep_alive);
  head.chunked(chunked);
  head.set("X-Request-ID", info.request_id);
  http::response_serializer<http::empty_body> header_writer{head};
  conn.arm(limits_.write_timeout, conn.self);
  auto [hec, hn] = co_await http::async_write_header(conn.socket, header_writer, kTuple);
  conn.disarm();
  if (hec) {
    finish_log(&req, res, info);
    co_return false;
  }

  auto state = std::make_shared<StreamState>();
  watch_peer(conn.self, state);
  StreamSink sink(conn, chunked, limits_.write_timeout, draining_, state);
  bool broken = false;  // the producer failed: its body is not whole
  try {
    co_await cancellable(conn, info.stream(sink));
  } catch (const std::exception& e) {
    // The header is out. A drain's cancellation ends the stream as cleanly as the end of its
    // events would; any other failure (a result store that stopped answering mid-file) must
    // not look like a whole body: no last chunk, the connection is closed.
    if (!conn.cancelled) {
      spdlog::error("request_id={} stream ended by an exception: {}", info.request_id,
                    e.what());
      broken = true;
    }
    keep_alive = false;
  }
  state->done = true;
  boost::system::error_code ignored;
  conn.socket.cancel(ignored);  // ends the peer watch; no write is pending now
  const bool intact = !broken && !sink.failed() && !state->peer_gone;
  if (intact && chunked) {
    conn.arm(limits_.write_timeout, conn.self);
    auto [lec, ln] = co_await asio::async_write(conn.socket, http::make_chunk_last(), kTuple);
    conn.disarm();
    keep_alive = keep_alive && !lec;
  }
  finish_log(&req, res, info, sink.sent());
  co_return intact && keep_alive && !draining_;
}

void Server::watch_peer(std::shared_ptr<Connection> conn, std::shared_ptr<StreamState> state) {
  // A client of a stream sends nothing: the socket turns readable when it closes (or breaks
  // the protocol), and the stream ends then rather than at its next write.
  auto& socket = conn->socket;
  socket.async_wait(tcp::socket::wait_read, [conn = std::move(conn), state = std::move(state)](
                                                boost::system::error_code ec) mutable {
    if (state->done) {
      return;
    }
    if (ec == asio::error::operation_aborted) {
      // A write's deadline cancelled the socket's operations; the write reports that itself.
      watch_peer(std::move(conn), std::move(state));
      return;
    }
    state->peer_gone = true;
  });
}

asio::awaitable<void> Server::write_and_close(Connection& conn, Response res, RequestInfo& info) {
  res.keep_alive(false);
  res.set("X-Request-ID", info.request_id);
  res.prepare_payload();
  conn.arm(limits_.write_timeout, conn.self);
  auto [ec, n] = co_await http::async_write(conn.socket, res, kTuple);
  finish_log(nullptr, res, info);
  if (ec) {
    conn.disarm();
    co_return;
  }
  // Lingering close: stop sending, then discard what the client is still sending for a moment,
  // so its unread request bytes do not turn our response into a connection reset.
  boost::system::error_code ignored;
  conn.socket.shutdown(tcp::socket::shutdown_send, ignored);
  conn.arm(std::chrono::milliseconds(1000), conn.self);
  char sink[16 * 1024];
  std::size_t drained = 0;
  while (drained < 1024 * 1024) {
    auto [rec, rn] = co_await conn.socket.async_read_some(asio::buffer(sink), kTuple);
    if (rec) {
      break;
    }
    drained += rn;
  }
  conn.disarm();
}

bool Server::is_upload_path(std::string_view target) const {
  const std::string_view path = target.substr(0, target.find('?'));
  return std::find(limits_.upload_paths.begin(), limits_.upload_paths.end(), path) !=
         limits_.upload_paths.end();
}

std::size_t Server::body_limit_for(std::string_view target) const {
  return is_upload_path(target) ? limits_.max_upload_bytes : limits_.max_body_bytes;
}

void Server::finish_log(const Request* req, const Response& res, const RequestInfo& info,
                        std::size_t streamed_bytes) {
  const auto elapsed = std::chrono::steady_clock::now() - info.start;
  const double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  const unsigned status = res.result_int();
  const std::string_view route = info.route.empty() ? std::string_view("-") : info.route;
  metrics_.observe_request(route, status, ms / 1000.0);
  if (req != nullptr) {
    spdlog::info("request_id={} remote={} method={} target={} route={} status={} bytes={} ms={:.2f}",
                 info.request_id, info.remote, std::string_view(req->method_string()),
                 std::string_view(req->target()).substr(0, 256), route, status,
                 res.body().size() + streamed_bytes, ms);
  } else {
    spdlog::info("request_id={} remote={} route=- status={} ms={:.2f} (rejected by the server)",
                 info.request_id, info.remote, status, ms);
  }
}

bool Server::drained() {
  std::lock_guard lock(mu_);
  return connections_.empty() && accepting_ == 0;
}

void Server::for_each_connection(
    const std::function<void(const std::shared_ptr<Connection>&)>& act) {
  std::lock_guard lock(mu_);
  for (const auto& c : connections_) {
    asio::post(c->socket.get_executor(), [c, act] { act(c); });
  }
}

asio::awaitable<void> Server::drain(std::chrono::milliseconds deadline) {
  draining_ = true;
  for (auto& l : listeners_) {
    asio::post(l.acceptor.get_executor(), [&a = l.acceptor] {
      boost::system::error_code ec;
      a.close(ec);
    });
  }
  const auto close = [](const std::shared_ptr<Connection>& c) {
    boost::system::error_code ec;
    c->socket.cancel(ec);
    c->socket.close(ec);
  };
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto until = std::chrono::steady_clock::now() + deadline;
  // Until the deadline, requests in progress may finish (the tasks a synchronous request
  // waits for keep running meanwhile); a connection between requests is closed.
  while (!drained() && std::chrono::steady_clock::now() < until) {
    for_each_connection([close](const std::shared_ptr<Connection>& c) {
      if (!c->busy) {
        close(c);
      }
    });
    timer.expires_at(std::min(until, std::chrono::steady_clock::now() + kDrainPoll));
    co_await timer.async_wait(kTuple);
  }
  if (drained()) {
    co_return;
  }
  spdlog::warn("drain deadline reached; cancelling the requests still in flight");
  for_each_connection([close](const std::shared_ptr<Connection>& c) {
    if (c->in_handler) {
      c->cancelled = true;
      c->cancel.emit(asio::cancellation_type::terminal);
      return;
    }
    close(c);  // reading a request or writing an answer: there is nothing left to answer
  });
  // A cancelled handler ends at its next suspension point and its request is answered 503;
  // a client too slow to take that answer is cut off after a moment. The handlers' ends are
  // waited for in any case: they use what the caller tears down once drain() returns.
  const auto grace_until = std::chrono::steady_clock::now() + kAnswerGrace;
  bool closed_all = false;
  while (!drained()) {
    if (!closed_all && std::chrono::steady_clock::now() >= grace_until) {
      for_each_connection(close);
      closed_all = true;
    }
    timer.expires_after(kDrainPoll);
    co_await timer.async_wait(kTuple);
  }
}

}  // namespace ig::api
