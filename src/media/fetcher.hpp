#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "media/address_policy.hpp"

namespace ig::http {
class AsyncClient;
}  // namespace ig::http

namespace ig::media {

namespace detail {
struct FetcherState;
}  // namespace detail

/// Limits and trust settings of a Fetcher. A plain value, read once at construction.
struct FetchConfig {
  std::size_t max_bytes = 30u * 1024 * 1024;        // per object; callers may pass a smaller cap
  std::chrono::milliseconds connect_timeout{5000};  // each TCP connect attempt and TLS handshake
  std::chrono::milliseconds total_timeout{30000};   // whole fetch incl. DNS, redirects and body
  int max_redirects = 3;
  std::vector<Cidr> unsafe_allow;  // test-only allowance, empty by default
  std::string extra_ca_file;       // PEM trusted in addition to the system store (tests)
};

/// Why a fetch failed; the stable snake_case name is what logs and metrics show.
enum class FetchFailure {
  kInvalidUrl,
  kNotHttps,
  kAddressRefused,
  kResolveFailed,
  kConnectFailed,
  kTlsFailed,
  kHttpStatus,
  kTooLarge,
  kTimeout,
  kTooManyRedirects,
  kBadResponse,
};

/// snake_case name of a failure, e.g. "address_refused".
std::string_view to_string(FetchFailure failure);

/// A refused or failed fetch. `message` is safe to show a client and says what was refused and
/// why ("host example.com resolves to a private or reserved address (10.0.0.5)"); the caller
/// prefixes the field name. A plain value.
struct FetchError {
  FetchFailure kind;
  std::string message;
};

/// A downloaded object. `final_url` is the URL of the last hop after redirects. A plain value.
struct FetchedObject {
  std::string body;
  std::string content_type;
  std::string final_url;
};

/// Outcome of a fetch: exactly one of `object` and `error` is set. A plain value.
struct FetchResult {
  std::optional<FetchedObject> object;
  std::optional<FetchError> error;
};

/// SSRF-safe HTTPS GET of user-supplied URLs: https only, every resolved address classified by
/// AddressPolicy and only allowed ones connected to, peer certificate and host name verified,
/// redirects re-checked hop by hop, a byte cap that holds against lying or missing
/// Content-Length, a per-attempt connect timeout and a total deadline. No proxies, no pooling.
/// Each hop is one http::AsyncClient call with the policy as its AddressFilter.
/// Thread-safe: one instance serves the whole process; pending fetches keep its state alive.
class Fetcher {
 public:
  /// Throws std::runtime_error when `config.extra_ca_file` cannot be loaded (a startup error).
  Fetcher(boost::asio::any_io_executor io, FetchConfig config);

  /// Fetches through `client`, shared with other users; it must outlive the Fetcher and its
  /// pending fetches. Its trust settings apply (`config.extra_ca_file` is not read).
  Fetcher(boost::asio::any_io_executor io, FetchConfig config, http::AsyncClient& client);

  /// Downloads `url`. `max_bytes` lowers the cap for this call (0 = `config.max_bytes`; a
  /// larger value is clamped to it). Never throws; each request runs on its own strand of the
  /// client's executor, and cancelling the awaiting coroutine ends the fetch promptly.
  boost::asio::awaitable<FetchResult> fetch(std::string url, std::size_t max_bytes = 0);

 private:
  boost::asio::any_io_executor io_;
  std::shared_ptr<detail::FetcherState> state_;  // shared with in-flight fetches
};

}  // namespace ig::media
