#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "http/client.hpp"  // Request, Response, Headers
#include "http/error.hpp"

namespace ig::http {

/// Bounds of one asynchronous call.
struct CallLimits {
  std::chrono::milliseconds connect_timeout{10'000};  // each TCP connect and TLS handshake
  std::chrono::milliseconds total_timeout{60'000};    // the whole call, DNS to last byte
  /// The longest silence while the response is awaited or read; 0: only total_timeout.
  std::chrono::milliseconds idle_timeout{0};
  std::size_t max_body_bytes = 64u * 1024 * 1024;
};

/// Which resolved addresses a call may connect to (SSRF checks of user-given URLs). Called for
/// every resolved address and again for the connected peer. Thread-safe.
using AddressFilter = std::function<bool(const boost::asio::ip::address&)>;

/// How one call is made.
struct CallOptions {
  CallLimits limits;
  /// Empty: any address. Set: only allowed addresses are connected to (never through a
  /// proxy), and a refusal is ErrorKind::kAddressRefused.
  AddressFilter allow;
  bool reuse_connection = true;  // take and return a pooled keep-alive connection
  bool use_proxy = true;         // honour HTTPS_PROXY/HTTP_PROXY/NO_PROXY (when not `allow`)
};

struct AsyncClientConfig {
  std::string user_agent = "imagegate";
  std::string extra_ca_file;            // PEM trusted besides the system store; "" none
  std::size_t max_idle_per_origin = 32;  // pooled idle connections kept per origin
  std::chrono::milliseconds pool_idle_timeout{55'000};  // an idle pooled connection is closed
  /// Proxy settings; by default read once from the environment (HTTPS_PROXY, https_proxy,
  /// HTTP_PROXY, http_proxy, NO_PROXY, no_proxy).
  std::string https_proxy;
  std::string http_proxy;
  std::string no_proxy;
  bool proxy_from_environment = true;
};

/// Asynchronous HTTP/1.1 client on Asio/Beast coroutines for the server's outbound calls
/// (upstream providers, input images): http:// and https:// (peer and host name verified against
/// the system store plus `extra_ca_file`), pooled keep-alive connections per origin, connect /
/// idle / total timeouts, a response size cap, HTTP CONNECT through HTTPS_PROXY. Redirects are
/// returned to the caller as they are.
///
/// Thread-safe: one instance serves the whole process; a call runs on its own strand and may be
/// awaited from any executor. Cancelling the awaiting coroutine ends the call promptly with
/// ErrorKind::kCancelled (never by terminating the process); its connection is closed, not
/// pooled. An Error's `sent` says whether any of the request had been written before it failed
/// (then the peer may have acted on it).
class AsyncClient {
 public:
  /// Throws std::runtime_error when extra_ca_file cannot be loaded (a start-up error).
  AsyncClient(boost::asio::any_io_executor io, AsyncClientConfig config = {});
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  boost::asio::awaitable<Result<Response>> send(Request request, CallOptions options = {});

  /// Idle pooled connections right now (tests, metrics).
  std::size_t idle_connections() const;

 private:
  struct State;
  boost::asio::any_io_executor io_;
  std::shared_ptr<State> state_;
};

}  // namespace ig::http
