#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "api/http.hpp"
#include "core/clock.hpp"
#include "runtime/offload.hpp"
#include "store/store.hpp"

namespace ig::api {

class Authenticator;

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

 private:
  using Handler = boost::asio::awaitable<Response>;
  Handler create_key(Request& req);
  Handler list_keys();
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

  std::string token_;
  store::Store& store_;
  Authenticator& auth_;
  runtime::BlockingExecutor pool_;
  const core::Clock& clock_;
  std::function<void()> on_redeliver_;
};

}  // namespace ig::api
