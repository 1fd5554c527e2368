#include "media/fetcher.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <variant>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>

#include "media/detail/hop.hpp"

namespace ig::media {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace urls = boost::urls;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace detail {

/// Everything a fetch needs besides its executor. Immutable after construction except for
/// the OpenSSL context's reference counts, which OpenSSL keeps thread-safe.
struct FetcherState {
  FetchConfig config;
  AddressPolicy policy;
  ssl::context tls{ssl::context::tls_client};
};

}  // namespace detail

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 32 * 1024;
constexpr std::size_t kMaxAddressesShown = 3;

using State = detail::FetcherState;
using detail::Hop;
using detail::shorten;

/// What one request/response exchange produced: an object, a redirect, or an error.
struct HopOutcome {
  std::optional<FetchedObject> object;
  std::optional<std::string> location;
  std::optional<FetchError> error;
};

FetchError make_error(FetchFailure kind, std::string message) {
  return FetchError{kind, std::move(message)};
}

HopOutcome hop_error(FetchFailure kind, std::string message) {
  return HopOutcome{std::nullopt, std::nullopt, make_error(kind, std::move(message))};
}

std::string ms_text(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

/// Shared between the waiting fetch and the resolver's completion, which may arrive after
/// the fetch gave up: the system resolver cannot be interrupted once it has started.
struct ResolveWait {
  explicit ResolveWait(const asio::any_io_executor& ex) : resolver(ex), signal(ex) {}
  tcp::resolver resolver;
  asio::steady_timer signal;
  error_code ec;
  tcp::resolver::results_type results;
  bool done = false;
};

/// DNS for a named host, bounded by the fetch deadline; IP literals skip it.
asio::awaitable<std::variant<std::vector<tcp::endpoint>, FetchError>> resolve(
    const Hop& hop, Clock::time_point deadline, std::chrono::milliseconds total) {
  if (hop.literal) {
    co_return std::vector<tcp::endpoint>{tcp::endpoint(*hop.literal, hop.port)};
  }
  auto ex = co_await asio::this_coro::executor;
  auto wait = std::make_shared<ResolveWait>(ex);
  wait->signal.expires_at(deadline);
  wait->resolver.async_resolve(hop.host, std::to_string(hop.port), tcp::resolver::numeric_service,
                               [wait](error_code ec, tcp::resolver::results_type results) {
                                 wait->ec = ec;
                                 wait->results = std::move(results);
                                 wait->done = true;
                                 wait->signal.cancel();
                               });
  co_await wait->signal.async_wait(kNoThrow);
  if (!wait->done) {
    wait->resolver.cancel();
    co_return make_error(FetchFailure::kTimeout,
                         "timed out after " + ms_text(total) + " resolving " + hop.host);
  }
  if (wait->ec || wait->results.empty()) {
    co_return make_error(FetchFailure::kResolveFailed, "could not resolve host " + hop.host);
  }
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : wait->results) {
    endpoints.push_back(entry.endpoint());
  }
  co_return endpoints;
}

/// Keeps only the endpoints the policy allows, in resolver order.
std::variant<std::vector<tcp::endpoint>, FetchError> filter_allowed(
    const Hop& hop, const std::vector<tcp::endpoint>& endpoints, const AddressPolicy& policy) {
  std::vector<tcp::endpoint> allowed;
  std::string refused;
  std::size_t shown = 0;
  for (const auto& ep : endpoints) {
    if (policy.allowed(ep.address())) {
      allowed.push_back(ep);
      continue;
    }
    if (shown < kMaxAddressesShown) {
      refused += (shown == 0 ? "" : ", ") + ep.address().to_string();
      ++shown;
    }
  }
  if (!allowed.empty()) {
    return allowed;
  }
  if (hop.literal) {
    return make_error(FetchFailure::kAddressRefused,
                      "host " + hop.host + " is a private or reserved address");
  }
  return make_error(
      FetchFailure::kAddressRefused,
      "host " + hop.host + " resolves to a private or reserved address (" + refused + ")");
}

/// Tries the allowed endpoints in order, each with its own connect timeout.
asio::awaitable<std::variant<beast::tcp_stream, FetchError>> connect(
    const Hop& hop, const std::vector<tcp::endpoint>& endpoints, const State& state,
    Clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  bool attempt_timed_out = false;
  for (const auto& ep : endpoints) {
    if (Clock::now() >= deadline) {
      break;
    }
    beast::tcp_stream tcp(ex);
    tcp.expires_at(std::min(Clock::now() + state.config.connect_timeout, deadline));
    auto [ec] = co_await tcp.async_connect(ep, kNoThrow);
    if (ec) {
      attempt_timed_out = attempt_timed_out || ec == beast::error::timeout;
      continue;
    }
    // Defence in depth: the peer we are actually connected to must be allowed too.
    error_code remote_ec;
    auto remote = tcp.socket().remote_endpoint(remote_ec);
    if (remote_ec || !state.policy.allowed(remote.address())) {
      continue;
    }
    co_return std::move(tcp);
  }
  if (Clock::now() >= deadline) {
    co_return make_error(FetchFailure::kTimeout, "timed out after " +
                                                     ms_text(state.config.total_timeout) +
                                                     " connecting to " + hop.host_header);
  }
  co_return make_error(FetchFailure::kConnectFailed,
                       "could not connect to " + hop.host_header +
                           (attempt_timed_out ? " (connection timed out)" : ""));
}

/// Why the TLS handshake failed, in words a client can act on.
std::string tls_reason(SSL* ssl, const error_code& ec) {
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    if (const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) {
      return reason;
    }
  }
  return ec.message();
}

using TlsStream = ssl::stream<beast::tcp_stream>;

/// Peer verification against the trust store plus the hop's name or IP; a mismatch is recorded
/// in the verify result so that the error message can name it.
void configure_tls(TlsStream& stream, const Hop& hop, error_code& ec) {
  stream.set_verify_mode(ssl::verify_peer, ec);
  if (ec) {
    return;
  }
  stream.set_verify_callback(
      [check = ssl::host_name_verification(hop.host), is_ip = hop.literal.has_value()](
          bool preverified, ssl::verify_context& ctx) mutable {
        bool ok = check(preverified, ctx);
        if (preverified && !ok) {
          X509_STORE_CTX_set_error(ctx.native_handle(), is_ip ? X509_V_ERR_IP_ADDRESS_MISMATCH
                                                              : X509_V_ERR_HOSTNAME_MISMATCH);
        }
        return ok;
      },
      ec);
  if (ec || hop.literal) {
    return;  // RFC 6066: no SNI for IP literals
  }
  if (SSL_set_tlsext_host_name(stream.native_handle(), hop.host.c_str()) != 1) {
    ec = error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category());
  }
}

/// Maps a failed read of the response to a client-facing error.
HopOutcome read_failure(const error_code& ec, const Hop& hop, std::size_t cap,
                        Clock::time_point deadline, const State& state) {
  if (ec == http::error::body_limit) {
    return hop_error(FetchFailure::kTooLarge,
                     "response is larger than the limit of " + std::to_string(cap) + " bytes");
  }
  if (ec == beast::error::timeout || Clock::now() >= deadline) {
    return hop_error(FetchFailure::kTimeout, "timed out after " +
                                                 ms_text(state.config.total_timeout) +
                                                 " downloading from " + hop.host_header);
  }
  if (ec == http::error::header_limit) {
    return hop_error(FetchFailure::kBadResponse,
                     "response headers from " + hop.host_header + " are too large");
  }
  if (ec == http::error::partial_message || ec == http::error::end_of_stream ||
      ec == asio::error::eof || ec == ssl::error::stream_truncated) {
    return hop_error(FetchFailure::kBadResponse,
                     "connection to " + hop.host_header + " closed before the response ended");
  }
  return hop_error(FetchFailure::kBadResponse, "invalid HTTP response from " + hop.host_header);
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/// Sends the GET and reads the answer: header first, then the body within the cap.
asio::awaitable<HopOutcome> exchange(TlsStream& stream, const Hop& hop, std::size_t cap,
                                     Clock::time_point deadline, const State& state) {
  auto& tcp = beast::get_lowest_layer(stream);
  tcp.expires_at(deadline);
  http::request<http::empty_body> req{http::verb::get, hop.target, 11};
  req.set(http::field::host, hop.host_header);
  req.set(http::field::user_agent, "imagegate/0.1");
  req.set(http::field::accept, "image/*");
  req.set(http::field::connection, "close");
  auto [write_ec, written] = co_await http::async_write(stream, req, kNoThrow);
  if (write_ec) {
    co_return read_failure(write_ec, hop, cap, deadline, state);
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(cap);
  auto [header_ec, header_bytes] =
      co_await http::async_read_header(stream, buffer, parser, kNoThrow);
  if (header_ec) {
    co_return read_failure(header_ec, hop, cap, deadline, state);
  }
  const unsigned status = parser.get().result_int();
  if (is_redirect(status)) {
    auto location = parser.get()[http::field::location];
    if (location.empty()) {
      co_return hop_error(FetchFailure::kBadResponse, "HTTP " + std::to_string(status) + " from " +
                                                          hop.host_header +
                                                          " without a Location header");
    }
    co_return HopOutcome{std::nullopt, std::string(location), std::nullopt};
  }
  if (status < 200 || status > 299) {
    co_return hop_error(FetchFailure::kHttpStatus,
                        "HTTP " + std::to_string(status) + " from " + hop.host_header);
  }
  auto [body_ec, body_bytes] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  if (body_ec) {
    co_return read_failure(body_ec, hop, cap, deadline, state);
  }
  auto response = parser.release();
  FetchedObject object{std::move(response.body()), std::string(response[http::field::content_type]),
                       hop.url};
  co_return HopOutcome{std::move(object), std::nullopt, std::nullopt};
}

/// One hop: DNS, address classification, connect, TLS, request and response.
asio::awaitable<HopOutcome> run_hop(const Hop& hop, std::size_t cap, Clock::time_point deadline,
                                    std::shared_ptr<State> state) {
  auto resolved = co_await resolve(hop, deadline, state->config.total_timeout);
  if (auto* error = std::get_if<FetchError>(&resolved)) {
    co_return HopOutcome{std::nullopt, std::nullopt, std::move(*error)};
  }
  auto allowed = filter_allowed(hop, std::get<0>(resolved), state->policy);
  if (auto* error = std::get_if<FetchError>(&allowed)) {
    co_return HopOutcome{std::nullopt, std::nullopt, std::move(*error)};
  }
  auto connected = co_await connect(hop, std::get<0>(allowed), *state, deadline);
  if (auto* error = std::get_if<FetchError>(&connected)) {
    co_return HopOutcome{std::nullopt, std::nullopt, std::move(*error)};
  }
  TlsStream stream(std::move(std::get<0>(connected)), state->tls);
  error_code ec;
  configure_tls(stream, hop, ec);
  if (ec) {
    co_return hop_error(FetchFailure::kTlsFailed, "TLS setup for " + hop.host + " failed");
  }
  beast::get_lowest_layer(stream).expires_at(
      std::min(Clock::now() + state->config.connect_timeout, deadline));
  auto [handshake_ec] = co_await stream.async_handshake(ssl::stream_base::client, kNoThrow);
  if (handshake_ec == beast::error::timeout || Clock::now() >= deadline) {
    co_return hop_error(FetchFailure::kTimeout,
                        "timed out in the TLS handshake with " + hop.host_header);
  }
  if (handshake_ec) {
    co_return hop_error(FetchFailure::kTlsFailed,
                        "TLS handshake with " + hop.host_header +
                            " failed: " + tls_reason(stream.native_handle(), handshake_ec));
  }
  // No TLS shutdown: the connection is never reused and a peer could stall the close_notify.
  co_return co_await exchange(stream, hop, cap, deadline, *state);
}

FetchResult failed(FetchError error) {
  return FetchResult{std::nullopt, std::move(error)};
}

/// The whole fetch on one strand: hops until an object, an error or too many redirects.
asio::awaitable<FetchResult> run_fetch(std::string url, std::size_t cap,
                                       std::shared_ptr<State> state) {
  const auto deadline = Clock::now() + state->config.total_timeout;
  std::string current = std::move(url);
  for (int redirects = 0;; ++redirects) {
    auto prefix = [&] {
      return redirects == 0 ? std::string() : "redirect to " + detail::origin_of(current) + ": ";
    };
    auto checked = detail::check_url(current);
    if (auto* error = std::get_if<FetchError>(&checked)) {
      error->message = prefix() + error->message;
      co_return failed(std::move(*error));
    }
    const Hop& hop = std::get<Hop>(checked);
    HopOutcome outcome = co_await run_hop(hop, cap, deadline, state);
    if (outcome.error) {
      outcome.error->message = prefix() + outcome.error->message;
      co_return failed(std::move(*outcome.error));
    }
    if (outcome.object) {
      co_return FetchResult{std::move(outcome.object), std::nullopt};
    }
    if (redirects >= state->config.max_redirects) {
      co_return failed(
          make_error(FetchFailure::kTooManyRedirects,
                     "more than " + std::to_string(state->config.max_redirects) + " redirects"));
    }
    auto next = detail::resolve_location(hop.url, *outcome.location);
    if (auto* error = std::get_if<FetchError>(&next)) {
      co_return failed(std::move(*error));
    }
    current = std::move(std::get<std::string>(next));
  }
}

}  // namespace

std::string_view to_string(FetchFailure failure) {
  switch (failure) {
    case FetchFailure::kInvalidUrl:
      return "invalid_url";
    case FetchFailure::kNotHttps:
      return "not_https";
    case FetchFailure::kAddressRefused:
      return "address_refused";
    case FetchFailure::kResolveFailed:
      return "resolve_failed";
    case FetchFailure::kConnectFailed:
      return "connect_failed";
    case FetchFailure::kTlsFailed:
      return "tls_failed";
    case FetchFailure::kHttpStatus:
      return "http_status";
    case FetchFailure::kTooLarge:
      return "too_large";
    case FetchFailure::kTimeout:
      return "timeout";
    case FetchFailure::kTooManyRedirects:
      return "too_many_redirects";
    case FetchFailure::kBadResponse:
      return "bad_response";
  }
  return "unknown";
}

Fetcher::Fetcher(asio::any_io_executor io, FetchConfig config)
    : io_(std::move(io)), state_(std::make_shared<detail::FetcherState>()) {
  state_->policy = AddressPolicy(config.unsafe_allow);
  state_->config = std::move(config);
  auto& tls = state_->tls;
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                  ssl::context::no_compression);
  tls.set_verify_mode(ssl::verify_peer);
  tls.set_default_verify_paths();
  if (!state_->config.extra_ca_file.empty()) {
    error_code ec;
    tls.load_verify_file(state_->config.extra_ca_file, ec);
    if (ec) {
      throw std::runtime_error("cannot load CA file " + state_->config.extra_ca_file + ": " +
                               ec.message());
    }
  }
}

asio::awaitable<FetchResult> Fetcher::fetch(std::string url, std::size_t max_bytes) {
  std::size_t cap = state_->config.max_bytes;
  if (max_bytes != 0) {
    cap = std::min(cap, max_bytes);
  }
  FetchResult result;
  try {
    // A strand per fetch: Beast's timeouts and the resolver callback touch the same objects
    // as the coroutine, whatever thread count `io_` runs with.
    result = co_await asio::co_spawn(asio::make_strand(io_), run_fetch(std::move(url), cap, state_),
                                     asio::use_awaitable);
  } catch (...) {
    result = failed(make_error(FetchFailure::kBadResponse, "unexpected error while fetching"));
  }
  co_return result;
}

}  // namespace ig::media
