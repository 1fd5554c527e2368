#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api/http.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/task.hpp"
#include "runtime/offload.hpp"

namespace ig::store {
class Store;
}
namespace ig::storage {
class ResultStorage;
class UrlSigner;
}  // namespace ig::storage
namespace ig::tasks {
class TaskService;
}

namespace ig::api {

class Authenticator;
class Metrics;

/// What the router needs; wired in main.
struct RouterDeps {
  tasks::TaskService& tasks;
  Authenticator& auth;
  storage::ResultStorage& results;
  const storage::UrlSigner& signer;
  store::Store& store;
  Metrics& metrics;
  runtime::BlockingExecutor pool;
  const core::Clock& clock;
  std::string public_base;             // "http://127.0.0.1:8080": prefix of result URLs
  std::int64_t result_ttl_s = 86'400;  // result URLs expire this long after completion
  std::function<bool()> ready;         // false while draining
};

/// Maps requests to handlers: dialect endpoints, signed result files, health and metrics.
/// `handle` takes a parsed request and returns a response, so it is testable without a socket.
/// Thread-safe.
class Router {
 public:
  explicit Router(RouterDeps deps);

  boost::asio::awaitable<Response> handle(Request& req, RequestInfo& info);

  /// An error in the envelope that suits `target` (the jobs envelope under /api/v1/jobs/, a
  /// generic `{"error":{…}}` elsewhere).
  Response render_error(std::string_view target, const core::Error& e) const;

  /// Signed, expiring URLs of a succeeded task's results.
  std::vector<std::string> result_urls(const core::Task& task) const;

 private:
  boost::asio::awaitable<Response> jobs_create(Request& req, RequestInfo& info);
  boost::asio::awaitable<Response> jobs_record(Request& req, RequestInfo& info,
                                               std::string_view task_id);
  boost::asio::awaitable<Response> serve_file(Request& req, std::string_view key,
                                              std::string_view expires,
                                              std::string_view signature);
  boost::asio::awaitable<Response> metrics();

  RouterDeps d_;
};

}  // namespace ig::api
