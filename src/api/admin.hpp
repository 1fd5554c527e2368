#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api/http.hpp"
#include "core/clock.hpp"
#include "runtime/offload.hpp"
#include "store/store.hpp"

namespace ig::tasks {
class TaskService;
struct RouteStatus;
}  // namespace ig::tasks

namespace ig::api {

class Authenticator;

/// What the admin API's views of tasks, providers and the server need from the rest of the
/// server, wired in main once it is built (before the server starts).
struct AdminLinks {
  tasks::TaskService* tasks = nullptr;  // cancels tasks; none: cancel answers 503
  std::function<std::vector<tasks::RouteStatus>()> routes;  // the routes now; none: no routes
  /// The signed URL of a stored object (a result, an uploaded reference) until `expires_s`.
  std::function<std::string(std::string_view key, std::int64_t expires_s)> file_url;
  std::int64_t result_ttl_s = 86'400;  // result URLs expire this long after completion
};

/// The operator's API under /admin/v1: keys (create, list, read, change, disable, rotate),
/// accounts (read, top up, adjust), every key's tasks and daily usage. It answers only the
/// admin token (`Authorization: Bearer <token>`); an API key gets 403, nothing or a wrong token
/// 401. Secrets are shown once, when a key is created or rotated. Errors are
/// `{"error":{"code","message","param"}}`. Thread-safe.
class AdminApi {
 public:
  AdminApi(std::string token, store::Store& store, Authenticator& auth,
           runtime::BlockingExecutor pool, const core::Clock& clock);

  boost::asio::awaitable<Response> handle(Request& req, RequestInfo& info, std::string_view path,
                                          std::string_view query);

  /// Called after a callback is queued again (the sender looks at its outbox).
  void set_on_redeliver(std::function<void()> f) { on_redeliver_ = std::move(f); }
  void set_links(AdminLinks links) { links_ = std::move(links); }

 private:
  using Handler = boost::asio::awaitable<Response>;
  Handler create_key(Request& req);
  /// Every key; with `page`, `page_size` or `q` in the query, one page of those matching `q`.
  Handler list_keys(std::string_view query);
  Handler get_key(std::int64_t id);
  Handler patch_key(Request& req, std::int64_t id);
  Handler rotate_key(std::int64_t id);
  Handler get_account(std::int64_t id);
  Handler add_credits(Request& req, std::int64_t id);
  Handler list_tasks(std::string_view query);
  Handler usage(std::string_view query);
  /// The row of the task with this public id (kNotFound when none).
  boost::asio::awaitable<core::Result<std::int64_t>> task_row(const std::string& id);
  Handler task_callback(std::string_view task_id);
  Handler redeliver(std::string_view task_id);
  Handler rotate_webhook_secret(std::int64_t account_id);

  // admin_views.cpp: what the web console shows.
  /// Version, uptime, tasks per state and the routes' breakers.
  Handler status();
  /// A task with its request, results, upstream calls, timeline and charge.
  Handler task_detail(std::string_view task_id);
  Handler cancel_task(std::string_view task_id);
  Handler list_accounts(std::string_view query);
  Handler ledger(std::int64_t account_id, std::string_view query);
  /// Per route: calls, errors and latency over a window, and its breaker now.
  Handler providers(std::string_view query);
  /// Until when the signed URLs of a task's results and uploads work.
  std::int64_t urls_expire_at_s(const core::Task& task) const;

  std::string token_;
  store::Store& store_;
  Authenticator& auth_;
  runtime::BlockingExecutor pool_;
  const core::Clock& clock_;
  std::function<void()> on_redeliver_;
  AdminLinks links_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace ig::api
