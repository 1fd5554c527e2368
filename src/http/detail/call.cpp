#include "http/detail/call.hpp"

#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ig::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using std::chrono::milliseconds;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxAddressesShown = 5;
constexpr int kMaxInterimResponses = 8;

/// When a wait ends: at `at`, and a timeout there is reported as `shown` milliseconds.
struct Bound {
  Clock::time_point at;
  milliseconds shown;
};

/// The earlier of now + `limit` (0: none) and the call's deadline.
Bound bound(const Plan& plan, milliseconds limit) {
  const auto now = Clock::now();
  if (limit.count() > 0 && now + limit < plan.deadline) {
    return {now + limit, limit};
  }
  return {plan.deadline, plan.options.limits.total_timeout};
}

Error timed_out(const Bound& b, std::string_view doing, std::string_view where, bool sent) {
  return make_error(ErrorKind::kTimeout,
                    "timed out after " + std::to_string(b.shown.count()) + " ms " +
                        std::string(doing) + " " + std::string(where),
                    sent);
}

std::optional<asio::ip::address> as_address(const std::string& host) {
  error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    return std::nullopt;
  }
  return address;
}

using Endpoints = std::vector<tcp::endpoint>;

/// DNS for a named host, bounded by the call's deadline; IP literals skip it.
asio::awaitable<Result<Endpoints>> resolve(Call& call, const Plan& plan, const std::string& host,
                                           std::uint16_t port) {
  if (auto ip = as_address(host)) {
    co_return Endpoints{tcp::endpoint(*ip, port)};
  }
  auto wait = std::make_shared<ResolveWait>(call.strand);
  call.resolving = wait;
  wait->signal.expires_at(plan.deadline);
  wait->resolver.async_resolve(host, std::to_string(port), tcp::resolver::numeric_service,
                               [wait](error_code ec, tcp::resolver::results_type results) {
                                 wait->ec = ec;
                                 wait->results = std::move(results);
                                 wait->done = true;
                                 wait->signal.cancel();
                               });
  co_await wait->signal.async_wait(kNoThrow);
  call.resolving.reset();
  if (!wait->done) {
    wait->resolver.cancel();  // a no-op for a lookup already running; its result is dropped
  }
  if (call.cancelled) {
    co_return cancelled_error(plan, false);
  }
  if (!wait->done) {
    co_return timed_out(Bound{plan.deadline, plan.options.limits.total_timeout}, "resolving", host,
                        false);
  }
  if (wait->ec || wait->results.empty()) {
    const std::string reason = wait->ec ? wait->ec.message() : "no addresses";
    co_return make_error(ErrorKind::kResolve, "cannot resolve " + host + ": " + reason);
  }
  Endpoints endpoints;
  for (const auto& entry : wait->results) {
    endpoints.push_back(entry.endpoint());
  }
  co_return endpoints;
}

/// Keeps the endpoints the caller's filter allows, in resolver order.
Result<Endpoints> filter_allowed(const Plan& plan, const Endpoints& endpoints) {
  Endpoints allowed;
  std::string refused;
  std::size_t shown = 0;
  for (const auto& ep : endpoints) {
    if (plan.options.allow(ep.address())) {
      allowed.push_back(ep);
      continue;
    }
    if (shown < kMaxAddressesShown) {
      refused.append(shown == 0 ? "" : ", ").append(ep.address().to_string());
      ++shown;
    }
  }
  if (!allowed.empty()) {
    return allowed;
  }
  if (plan.target.host_is_ip) {
    return make_error(ErrorKind::kAddressRefused,
                      "host " + plan.target.host + " is a refused address");
  }
  return make_error(
      ErrorKind::kAddressRefused,
      "host " + plan.target.host + " resolves only to refused addresses (" + refused + ")");
}

/// Tries `endpoints` in order, each attempt bounded by connect_timeout; with a filter, the
/// connected peer is checked again.
asio::awaitable<Result<void>> connect_tcp(Call& call, const Plan& plan, Connection& conn,
                                          const Endpoints& endpoints, const std::string& what) {
  const auto& limits = plan.options.limits;
  error_code last_ec;
  Bound last_bound{plan.deadline, limits.total_timeout};
  std::string refused_peer;
  for (const auto& ep : endpoints) {
    if (Clock::now() >= plan.deadline) {
      break;
    }
    conn.plain.emplace(call.strand);
    const Bound b = bound(plan, limits.connect_timeout);
    conn.plain->expires_at(b.at);
    auto [ec] = co_await conn.plain->async_connect(ep, kNoThrow);
    if (call.cancelled) {
      co_return cancelled_error(plan, false);
    }
    if (ec) {
      last_ec = ec;
      last_bound = b;
      continue;
    }
    if (plan.options.allow) {
      error_code remote_ec;
      const auto remote = conn.plain->socket().remote_endpoint(remote_ec);
      if (remote_ec || !plan.options.allow(remote.address())) {
        refused_peer = remote_ec ? ep.address().to_string() : remote.address().to_string();
        conn.close();
        continue;
      }
    }
    conn.plain->expires_never();
    co_return Result<void>();
  }
  if (Clock::now() >= plan.deadline) {
    co_return timed_out(Bound{plan.deadline, limits.total_timeout}, "connecting to", what, false);
  }
  if (!refused_peer.empty()) {
    co_return make_error(
        ErrorKind::kAddressRefused,
        "host " + plan.target.host + " connected to a refused address (" + refused_peer + ")");
  }
  if (last_ec == beast::error::timeout) {
    co_return timed_out(last_bound, "connecting to", what, false);
  }
  co_return make_error(ErrorKind::kConnect, "cannot connect to " + what + ": " +
                                                (last_ec ? last_ec.message() : "no address"));
}

/// HTTP CONNECT through the proxy to the origin, bounded like a connect attempt.
asio::awaitable<Result<void>> open_tunnel(Call& call, const Plan& plan, Connection& conn) {
  const Proxy& proxy = *plan.proxy;
  const std::string what = "the proxy " + proxy.where;
  bhttp::request<bhttp::empty_body> req{bhttp::verb::connect, plan.where, 11};
  req.set(bhttp::field::host, plan.where);
  req.set(bhttp::field::user_agent, plan.user_agent);
  if (!proxy.authorization.empty()) {
    req.set(bhttp::field::proxy_authorization, proxy.authorization);
  }
  const Bound b = bound(plan, plan.options.limits.connect_timeout);
  auto& tcp = *conn.plain;
  tcp.expires_at(b.at);
  auto [wec, written] = co_await bhttp::async_write(tcp, req, kNoThrow);
  if (call.cancelled) {
    co_return cancelled_error(plan, false);
  }
  const std::string doing = "connecting through " + what + " to";
  if (wec == beast::error::timeout) {
    co_return timed_out(b, doing, plan.where, false);
  }
  if (wec) {
    co_return make_error(ErrorKind::kConnect,
                         "sending the tunnel request to " + what + " failed: " + wec.message());
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.skip(true);  // a 2xx to CONNECT has no body: the tunnel starts after the header
  auto [rec, read] = co_await bhttp::async_read_header(tcp, buffer, parser, kNoThrow);
  if (call.cancelled) {
    co_return cancelled_error(plan, false);
  }
  if (rec == beast::error::timeout) {
    co_return timed_out(b, doing, plan.where, false);
  }
  if (rec) {
    co_return make_error(ErrorKind::kConnect,
                         "reading the tunnel response from " + what + " failed: " + rec.message());
  }
  const unsigned status = parser.get().result_int();
  if (status < 200 || status > 299) {
    co_return make_error(ErrorKind::kConnect, what + " answered HTTP " + std::to_string(status) +
                                                  " to the tunnel request for " + plan.where);
  }
  if (buffer.size() != 0) {
    co_return make_error(ErrorKind::kConnect,
                         what + " sent unexpected bytes after opening the tunnel");
  }
  tcp.expires_never();
  co_return Result<void>();
}

asio::awaitable<Result<void>> handshake(Call& call, const Plan& plan, Connection& conn,
                                        ssl::context& tls) {
  conn.tls.emplace(std::move(*conn.plain), tls);
  conn.plain.reset();
  error_code ec;
  configure_tls(*conn.tls, plan.target, ec);
  if (ec) {
    co_return make_error(ErrorKind::kTls,
                         "cannot set up TLS for " + plan.where + ": " + ec.message());
  }
  const Bound b = bound(plan, plan.options.limits.connect_timeout);
  conn.tcp().expires_at(b.at);
  auto [hec] = co_await conn.tls->async_handshake(ssl::stream_base::client, kNoThrow);
  if (call.cancelled) {
    co_return cancelled_error(plan, false);
  }
  if (hec == beast::error::timeout) {
    co_return timed_out(b, "in the TLS handshake with", plan.where, false);
  }
  if (hec) {
    co_return make_error(ErrorKind::kTls, "TLS handshake with " + plan.where + " failed: " +
                                              tls_reason(hec, conn.tls->native_handle()));
  }
  conn.tcp().expires_never();
  co_return Result<void>();
}

bool skipped_header(std::string_view name) {
  return beast::iequals(name, "Host") || beast::iequals(name, "Content-Length") ||
         beast::iequals(name, "Transfer-Encoding");
}

bhttp::request<bhttp::string_body> build_request(const Plan& plan) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(plan.request.method);
  // Plain http:// through a proxy: the absolute form, which tells the proxy where to go.
  req.target(plan.proxy && !plan.target.tls ? plan.target.url : plan.target.target);
  req.version(11);
  req.set(bhttp::field::host, plan.target.host_header);
  req.set(bhttp::field::user_agent, plan.user_agent);
  for (const auto& [name, value] : plan.request.headers) {
    if (skipped_header(name)) {
      continue;
    }
    if (beast::iequals(name, "User-Agent")) {
      req.set(bhttp::field::user_agent, value);
      continue;
    }
    req.insert(name, value);
  }
  if (plan.proxy && !plan.target.tls && !plan.proxy->authorization.empty()) {
    req.set(bhttp::field::proxy_authorization, plan.proxy->authorization);
  }
  if (plan.pool_key.empty() && req.count(bhttp::field::connection) == 0) {
    req.set(bhttp::field::connection, "close");
  }
  req.body() = plan.request.body;
  req.prepare_payload();
  return req;
}

bool closed_early(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == asio::error::eof || ec == ssl::error::stream_truncated ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

using Parser = bhttp::response_parser<bhttp::string_body>;

void set_limits(Parser& parser, const Plan& plan) {
  parser.header_limit(kHeaderLimit);
  parser.body_limit(plan.options.limits.max_body_bytes);
  parser.skip(plan.request.method == "HEAD");
}

Attempt read_failure(const error_code& ec, const Plan& plan, const Parser& parser, const Bound& b,
                     bool got_any) {
  const std::string& where = plan.where;
  const unsigned status = parser.is_header_done() ? parser.get().result_int() : 0;
  if (ec == bhttp::error::body_limit) {
    Error e = make_error(ErrorKind::kTooLarge,
                         "the response from " + where + " is larger than the limit of " +
                             std::to_string(plan.options.limits.max_body_bytes) + " bytes",
                         true);
    e.status = status;
    return {std::move(e)};
  }
  if (ec == beast::error::timeout) {
    Error e = timed_out(
        b, parser.is_header_done() ? "reading the response from" : "waiting for the response from",
        where, true);
    e.status = status;
    return {std::move(e)};
  }
  if (ec == bhttp::error::header_limit) {
    return {make_error(ErrorKind::kProtocol,
                       "the response headers from " + where + " are too large", true)};
  }
  if (!got_any && closed_early(ec)) {
    return {
        make_error(ErrorKind::kProtocol, where + " closed the connection without a response", true),
        true};
  }
  if (closed_early(ec)) {
    return {make_error(ErrorKind::kProtocol,
                       "the connection to " + where + " closed before the response ended", true)};
  }
  return {make_error(ErrorKind::kProtocol,
                     "invalid HTTP response from " + where + ": " + ec.message(), true),
          !got_any};
}

template <class Stream>
asio::awaitable<Attempt> exchange_on(Stream& stream, Call& call, Connection& conn,
                                     const Plan& plan) {
  auto req = build_request(plan);
  const bool close_sent = !req.keep_alive();
  const Bound whole{plan.deadline, plan.options.limits.total_timeout};
  conn.tcp().expires_at(plan.deadline);
  auto [wec, written] = co_await bhttp::async_write(stream, req, kNoThrow);
  if (call.cancelled) {
    co_return Attempt{cancelled_error(plan, written > 0)};
  }
  if (wec == beast::error::timeout) {
    co_return Attempt{timed_out(whole, "sending the request to", plan.where, written > 0)};
  }
  if (wec) {
    co_return Attempt{
        make_error(ErrorKind::kProtocol,
                   "sending the request to " + plan.where + " failed: " + wec.message(),
                   written > 0),
        true};
  }
  // Reads of up to 64 KiB: an empty flat_buffer makes Beast read 512 bytes at a time, and a
  // 10 MB base64 answer would take 20,000 reads.
  beast::flat_buffer buffer;
  buffer.reserve(kReadChunk);
  std::optional<Parser> parser(std::in_place);
  set_limits(*parser, plan);
  bool got_any = false;
  for (int interim = 0;;) {
    while (!parser->is_done()) {
      const Bound b = bound(plan, plan.options.limits.idle_timeout);
      conn.tcp().expires_at(b.at);
      auto [rec, n] = co_await bhttp::async_read_some(stream, buffer, *parser, kNoThrow);
      if (call.cancelled) {
        co_return Attempt{cancelled_error(plan, true)};
      }
      got_any = got_any || n > 0 || buffer.size() > 0 || parser->got_some();
      if (rec) {
        co_return read_failure(rec, plan, *parser, b, got_any);
      }
    }
    const unsigned status = parser->get().result_int();
    if (status < 100 || status > 199 || status == 101 || ++interim > kMaxInterimResponses) {
      break;
    }
    parser.emplace();  // 1xx: the real response follows on the same connection
    set_limits(*parser, plan);
  }
  conn.tcp().expires_never();
  const bool reusable = !close_sent && parser->keep_alive() && buffer.size() == 0 &&
                        parser->get().result_int() != 101;
  auto message = parser->release();
  Response out;
  out.status = message.result_int();
  for (const auto& field : message) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(message.body());
  out.url = plan.target.url;
  co_return Attempt{std::move(out), false, reusable};
}

}  // namespace

void Connection::close() {
  idle_timer.cancel();
  if (!plain && !tls) {
    return;
  }
  error_code ignored;
  tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
  tcp().close();
}

void Call::cancel() {
  cancelled = true;
  if (resolving) {
    resolving->signal.cancel();
  }
  if (conn) {
    conn->close();
  }
}

Error cancelled_error(const Plan& plan, bool sent) {
  return make_error(ErrorKind::kCancelled, "the request to " + plan.where + " was cancelled", sent);
}

asio::awaitable<Result<std::shared_ptr<Connection>>> open_connection(Call& call, const Plan& plan,
                                                                     ssl::context& tls) {
  const bool via_proxy = plan.proxy.has_value();
  const std::string& host = via_proxy ? plan.proxy->host : plan.target.host;
  const std::uint16_t port = via_proxy ? plan.proxy->port : plan.target.port;
  auto resolved = co_await resolve(call, plan, host, port);
  if (!resolved) {
    co_return resolved.error();
  }
  if (plan.options.allow) {
    resolved = filter_allowed(plan, *resolved);
    if (!resolved) {
      co_return resolved.error();
    }
  }
  auto conn = std::make_shared<Connection>(call.strand);
  conn->key = plan.pool_key;
  call.conn = conn;
  const std::string what = via_proxy ? "the proxy " + plan.proxy->where : plan.where;
  if (auto connected = co_await connect_tcp(call, plan, *conn, *resolved, what); !connected) {
    co_return connected.error();
  }
  if (via_proxy && plan.target.tls) {
    if (auto tunnel = co_await open_tunnel(call, plan, *conn); !tunnel) {
      co_return tunnel.error();
    }
  }
  if (plan.target.tls) {
    if (auto shaken = co_await handshake(call, plan, *conn, tls); !shaken) {
      co_return shaken.error();
    }
  }
  co_return conn;
}

asio::awaitable<Attempt> exchange(Call& call, Connection& conn, const Plan& plan) {
  if (conn.tls) {
    co_return co_await exchange_on(*conn.tls, call, conn, plan);
  }
  co_return co_await exchange_on(*conn.plain, call, conn, plan);
}

}  // namespace ig::http::detail
