#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/error.hpp"

/// A small synchronous HTTP/1.1 client for command-line tools: http:// and https:// (system
/// trust store, SNI, host name verification), a deadline per call, a response body cap, and
/// redirects only when the caller asks for them. Blocking by design: the server's I/O threads
/// must never call it.
namespace ig::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";
  std::string url;  // absolute http:// or https:// URL
  Headers headers;  // sent as given; Host, User-Agent and Content-Length are added
  std::string body;
};

struct Response {
  unsigned status = 0;
  Headers headers;
  std::string body;
  std::string url;  // the URL that answered (differs from the request's after a redirect)

  /// The first header of that name (case-insensitive), or "".
  std::string_view header(std::string_view name) const;
};

/// Bounds of one call.
struct Limits {
  std::chrono::milliseconds timeout{30'000};  // the whole call: DNS to last byte, redirects too
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  int max_redirects = 0;  // 0: a 3xx is returned to the caller as is
};

struct ClientConfig {
  std::string user_agent = "imagegate";
};

/// Sends one request at a time over a fresh connection (no pooling: a CLI polls every few
/// seconds at most). Not thread-safe; use one Client per thread.
class Client {
 public:
  explicit Client(ClientConfig config = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Redirects (301/302/303/307/308, up to `limits.max_redirects`) turn POST into GET for
  /// 301/302/303, drop `Authorization` and `Cookie` when the origin changes, and never go
  /// from https:// to http://. DNS lookups are bounded by the system resolver's own timeout.
  Result<Response> send(const Request& request, const Limits& limits);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// True for the statuses this client may follow.
bool is_redirect(unsigned status);

}  // namespace ig::http
