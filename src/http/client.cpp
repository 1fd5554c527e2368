#include "http/client.hpp"

#include <exception>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/detail/tls.hpp"
#include "http/url.hpp"

namespace ig::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// Socket operations end at the deadline by themselves (tcp_stream); the grace covers only a
// DNS lookup that outlives it, which the system resolver cannot be asked to abandon.
constexpr auto kGrace = std::chrono::milliseconds(200);

using detail::configure_tls;
using detail::tls_reason;
using detail::TlsStream;

/// One request/response exchange on one connection. The references outlive the exchange.
struct Exchange {
  const Target& target;
  const Request& request;
  std::size_t max_body;
  Clock::time_point deadline;
  std::chrono::milliseconds timeout;  // for messages
  const std::string& user_agent;
};

Error timed_out(const Exchange& x, std::string_view doing) {
  return make_error(ErrorKind::kTimeout, "timed out after " + std::to_string(x.timeout.count()) +
                                             " ms " + std::string(doing) + " " +
                                             x.target.host_header);
}

bhttp::request<bhttp::string_body> build_request(const Exchange& x) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(x.request.method);
  req.target(x.target.target);
  req.version(11);
  req.set(bhttp::field::host, x.target.host_header);
  req.set(bhttp::field::user_agent, x.user_agent);
  for (const auto& [name, value] : x.request.headers) {
    req.insert(name, value);
  }
  req.set(bhttp::field::connection, "close");
  req.body() = x.request.body;
  req.prepare_payload();
  return req;
}

Error read_failure(const error_code& ec, const Exchange& x) {
  if (ec == bhttp::error::body_limit) {
    return make_error(ErrorKind::kTooLarge, "the response from " + x.target.host_header +
                                                " is larger than the limit of " +
                                                std::to_string(x.max_body) + " bytes");
  }
  if (ec == beast::error::timeout) {
    return timed_out(x, "reading the response from");
  }
  if (ec == bhttp::error::header_limit) {
    return make_error(ErrorKind::kProtocol,
                      "the response headers from " + x.target.host_header + " are too large");
  }
  return make_error(ErrorKind::kProtocol, "reading the response from " + x.target.host_header +
                                              " failed: " + ec.message());
}

template <class Stream>
asio::awaitable<Result<Response>> write_read(Stream& stream, beast::tcp_stream& tcp,
                                             const Exchange& x) {
  auto req = build_request(x);
  tcp.expires_at(x.deadline);
  auto [wec, written] = co_await bhttp::async_write(stream, req, kNoThrow);
  if (wec) {
    if (wec == beast::error::timeout) {
      co_return timed_out(x, "sending the request to");
    }
    co_return make_error(ErrorKind::kProtocol, "sending the request to " + x.target.host_header +
                                                   " failed: " + wec.message());
  }
  beast::flat_buffer buffer;
  buffer.reserve(64 * 1024);  // an empty buffer is read 512 bytes at a time
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(x.max_body);
  parser.skip(x.request.method == "HEAD");
  auto [rec, read] = co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
  if (rec) {
    co_return read_failure(rec, x);
  }
  auto message = parser.release();
  Response out;
  out.status = message.result_int();
  for (const auto& field : message) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(message.body());
  out.url = x.target.url;
  // No TLS close_notify: the response is complete and the connection is not reused.
  co_return out;
}

asio::awaitable<Result<Response>> exchange(ssl::context& tls, Exchange x) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(x.target.host, std::to_string(x.target.port), kNoThrow);
  if (rec) {
    co_return make_error(ErrorKind::kResolve,
                         "cannot resolve " + x.target.host + ": " + rec.message());
  }
  beast::tcp_stream tcp(executor);
  tcp.expires_at(x.deadline);
  auto [cec, endpoint] = co_await tcp.async_connect(endpoints, kNoThrow);
  if (cec) {
    if (cec == beast::error::timeout) {
      co_return timed_out(x, "connecting to");
    }
    co_return make_error(ErrorKind::kConnect,
                         "cannot connect to " + x.target.host_header + ": " + cec.message());
  }
  if (!x.target.tls) {
    co_return co_await write_read(tcp, tcp, x);
  }
  TlsStream stream(std::move(tcp), tls);
  error_code ec;
  configure_tls(stream, x.target, ec);
  if (ec) {
    co_return make_error(ErrorKind::kTls, "cannot set up TLS: " + ec.message());
  }
  stream.next_layer().expires_at(x.deadline);
  auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, kNoThrow);
  if (hec) {
    if (hec == beast::error::timeout) {
      co_return timed_out(x, "in the TLS handshake with");
    }
    co_return make_error(ErrorKind::kTls,
                         "TLS handshake with " + x.target.host_header +
                             " failed: " + tls_reason(hec, stream.native_handle()));
  }
  co_return co_await write_read(stream, stream.next_layer(), x);
}

std::string exception_text(const std::exception_ptr& ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

Result<Response> run_exchange(ssl::context& tls, const Exchange& x) {
  asio::io_context io;
  std::optional<Result<Response>> out;
  asio::co_spawn(io, exchange(tls, x), [&out](std::exception_ptr ep, Result<Response> r) {
    if (ep) {
      out = make_error(ErrorKind::kProtocol, "unexpected error: " + exception_text(ep));
      return;
    }
    out = std::move(r);
  });
  io.run_until(x.deadline + kGrace);
  if (!out) {
    return timed_out(x, "resolving");
  }
  return std::move(*out);
}

void erase_header(Headers& headers, std::string_view name) {
  std::erase_if(headers, [name](const auto& h) { return beast::iequals(h.first, name); });
}

}  // namespace

struct Client::Impl {
  ClientConfig config;
  ssl::context tls{ssl::context::tls_client};
};

Client::Client(ClientConfig config) : impl_(std::make_unique<Impl>()) {
  impl_->config = std::move(config);
  detail::configure_client_context(impl_->tls);
}

Client::~Client() = default;

std::string_view Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) {
      return v;
    }
  }
  return {};
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

Result<Response> Client::send(const Request& request, const Limits& limits) {
  const auto deadline = Clock::now() + limits.timeout;
  Request current = request;
  for (int redirects = 0;; ++redirects) {
    auto target = parse_target(current.url);
    if (!target) {
      return target.error();
    }
    const Exchange x{*target,  current,        limits.max_body_bytes,
                     deadline, limits.timeout, impl_->config.user_agent};
    auto response = run_exchange(impl_->tls, x);
    if (!response || limits.max_redirects <= 0 || !is_redirect(response->status)) {
      return response;
    }
    const std::string_view location = response->header("Location");
    if (location.empty()) {
      return response;
    }
    if (redirects >= limits.max_redirects) {
      return make_error(ErrorKind::kTooManyRedirects,
                        "more than " + std::to_string(limits.max_redirects) +
                            " redirects (the last at " + origin_of(*target) + ")");
    }
    auto next_url = resolve_location(target->url, location);
    if (!next_url) {
      return next_url.error();
    }
    auto next = parse_target(*next_url);
    if (!next) {
      return next.error();
    }
    if (target->tls && !next->tls) {
      return make_error(ErrorKind::kProtocol,
                        "refusing a redirect from https:// to " + origin_of(*next));
    }
    if (origin_of(*target) != origin_of(*next)) {
      erase_header(current.headers, "Authorization");
      erase_header(current.headers, "Proxy-Authorization");
      erase_header(current.headers, "Cookie");
    }
    const unsigned status = response->status;
    if (status == 303 || ((status == 301 || status == 302) && current.method == "POST")) {
      current.method = "GET";
      current.body.clear();
      erase_header(current.headers, "Content-Type");
    }
    current.url = std::move(*next_url);
  }
}

}  // namespace ig::http
