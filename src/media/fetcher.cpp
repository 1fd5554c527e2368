#include "media/fetcher.hpp"

#include <algorithm>
#include <utility>
#include <variant>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include "http/async_client.hpp"
#include "media/detail/hop.hpp"

namespace ig::media {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace detail {

/// Everything a fetch needs. Immutable after construction; the client is thread-safe.
struct FetcherState {
  FetchConfig config;
  AddressPolicy policy;
  std::unique_ptr<http::AsyncClient> owned;  // unless a shared client was given
  http::AsyncClient* client = nullptr;
};

}  // namespace detail

namespace {

constexpr std::size_t kMaxAddressesShown = 3;
constexpr std::string_view kUserAgent = "imagegate/0.1";

using State = detail::FetcherState;
using detail::Hop;

/// What one hop produced: an object, a redirect, or an error.
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

std::string ms_text(milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/// The refusal in the words users know, naming what the host resolved to.
HopOutcome refused(const Hop& hop, const std::vector<asio::ip::address>& addresses) {
  if (hop.literal) {
    return hop_error(FetchFailure::kAddressRefused,
                     "host " + hop.host + " is a private or reserved address");
  }
  std::string shown;
  for (std::size_t i = 0; i < addresses.size() && i < kMaxAddressesShown; ++i) {
    shown.append(i == 0 ? "" : ", ").append(addresses[i].to_string());
  }
  return hop_error(
      FetchFailure::kAddressRefused,
      "host " + hop.host + " resolves to a private or reserved address (" + shown + ")");
}

/// The client's timeout, with the whole fetch's budget instead of this hop's remainder; a
/// connect attempt that timed out before the deadline is a failed connect, as it always was.
HopOutcome timed_out(const http::Error& e, const Hop& hop, milliseconds hop_total,
                     const FetchConfig& config) {
  const std::string connect_prefix =
      "timed out after " + ms_text(config.connect_timeout) + " connecting to ";
  if (e.message.starts_with(connect_prefix)) {
    return hop_error(FetchFailure::kConnectFailed,
                     "could not connect to " + hop.host_header + " (connection timed out)");
  }
  std::string message = e.message;
  const std::string hop_prefix = "timed out after " + ms_text(hop_total);
  if (message.starts_with(hop_prefix)) {
    message.replace(0, hop_prefix.size(), "timed out after " + ms_text(config.total_timeout));
  }
  return hop_error(FetchFailure::kTimeout, std::move(message));
}

HopOutcome failure(const http::Error& e, const Hop& hop, std::size_t cap, milliseconds hop_total,
                   const std::vector<asio::ip::address>& refused_addresses,
                   const FetchConfig& config) {
  switch (e.kind) {
    case http::ErrorKind::kAddressRefused:
      return refused(hop, refused_addresses);
    case http::ErrorKind::kResolve:
      return hop_error(FetchFailure::kResolveFailed, "could not resolve host " + hop.host);
    case http::ErrorKind::kConnect:
      return hop_error(FetchFailure::kConnectFailed, "could not connect to " + hop.host_header);
    case http::ErrorKind::kTls:
      return hop_error(FetchFailure::kTlsFailed, e.message);
    case http::ErrorKind::kTimeout:
      return timed_out(e, hop, hop_total, config);
    case http::ErrorKind::kTooLarge:
      return hop_error(FetchFailure::kTooLarge,
                       "response is larger than the limit of " + std::to_string(cap) + " bytes");
    case http::ErrorKind::kInvalidUrl:
      return hop_error(FetchFailure::kInvalidUrl, e.message);
    case http::ErrorKind::kTooManyRedirects:
      return hop_error(FetchFailure::kTooManyRedirects, e.message);
    case http::ErrorKind::kCancelled:
      return hop_error(FetchFailure::kBadResponse, "the fetch was cancelled");
    case http::ErrorKind::kProtocol:
      break;
  }
  return hop_error(FetchFailure::kBadResponse, e.message);
}

/// One hop: a GET through the client with the policy as its address filter, within what is
/// left of the fetch's deadline.
asio::awaitable<HopOutcome> run_hop(const Hop& hop, std::size_t cap, Clock::time_point deadline,
                                    std::shared_ptr<State> state) {
  const auto& config = state->config;
  const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) {
    co_return hop_error(FetchFailure::kTimeout, "timed out after " + ms_text(config.total_timeout) +
                                                    " downloading from " + hop.host_header);
  }
  http::Request request;
  request.url = "https://" + hop.host_header + hop.target;  // numeric host forms made canonical
  request.headers = {{"Accept", "image/*"}, {"User-Agent", std::string(kUserAgent)}};
  http::CallOptions options;
  options.limits.connect_timeout = config.connect_timeout;
  options.limits.total_timeout = left;
  options.limits.max_body_bytes = cap;
  options.reuse_connection = false;
  options.use_proxy = false;
  // Filled on the call's strand, read after it completed.
  auto refused_addresses = std::make_shared<std::vector<asio::ip::address>>();
  options.allow = [state, refused_addresses](const asio::ip::address& a) {
    if (state->policy.allowed(a)) {
      return true;
    }
    auto& seen = *refused_addresses;
    if (std::find(seen.begin(), seen.end(), a) == seen.end()) {
      seen.push_back(a);
    }
    return false;
  };
  auto response = co_await state->client->send(std::move(request), std::move(options));
  if (!response) {
    co_return failure(response.error(), hop, cap, left, *refused_addresses, config);
  }
  const unsigned status = response->status;
  if (is_redirect(status)) {
    const std::string_view location = response->header("Location");
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
  FetchedObject object{std::move(response->body), std::string(response->header("Content-Type")),
                       hop.url};
  co_return HopOutcome{std::move(object), std::nullopt, std::nullopt};
}

FetchResult failed(FetchError error) {
  return FetchResult{std::nullopt, std::move(error)};
}

/// Hops until an object, an error or too many redirects; each hop's URL is checked first.
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
  http::AsyncClientConfig client_config;
  client_config.user_agent = std::string(kUserAgent);
  client_config.extra_ca_file = config.extra_ca_file;
  client_config.max_idle_per_origin = 0;  // never pooled: every fetch connects afresh
  client_config.proxy_from_environment = false;
  state_->owned = std::make_unique<http::AsyncClient>(io_, std::move(client_config));
  state_->client = state_->owned.get();
  state_->policy = AddressPolicy(config.unsafe_allow);
  state_->config = std::move(config);
}

Fetcher::Fetcher(asio::any_io_executor io, FetchConfig config, http::AsyncClient& client)
    : io_(std::move(io)), state_(std::make_shared<detail::FetcherState>()) {
  state_->client = &client;
  state_->policy = AddressPolicy(config.unsafe_allow);
  state_->config = std::move(config);
}

asio::awaitable<FetchResult> Fetcher::fetch(std::string url, std::size_t max_bytes) {
  std::size_t cap = state_->config.max_bytes;
  if (max_bytes != 0) {
    cap = std::min(cap, max_bytes);
  }
  FetchResult result;
  try {
    // No co_spawn here: the client shields its calls from the awaiter's cancellation, which
    // ends a hop with kCancelled (or, at the next hop's start, asio's usual operation_aborted).
    result = co_await run_fetch(std::move(url), cap, state_);
  } catch (const boost::system::system_error& e) {
    result =
        failed(make_error(FetchFailure::kBadResponse, e.code() == asio::error::operation_aborted
                                                          ? "the fetch was cancelled"
                                                          : "unexpected error while fetching"));
  } catch (...) {
    result = failed(make_error(FetchFailure::kBadResponse, "unexpected error while fetching"));
  }
  co_return result;
}

}  // namespace ig::media
