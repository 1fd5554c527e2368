#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "core/result.hpp"
#include "core/task.hpp"
#include "store/store.hpp"

namespace ig::api {

/// Everything the web console shows about one task, read from the store at once. The upstream
/// calls and callback deliveries are operator information: read (and shown) only for the
/// admin API, never for the key that owns the task. A plain value.
struct TaskDetail {
  core::Task task;
  std::vector<store::LedgerEntry> ledger;  // its hold and settlement
  bool operator_view = false;
  std::vector<store::UpstreamCall> calls;  // operator_view only
  std::optional<std::pair<store::CallbackDelivery, std::vector<store::CallbackAttempt>>> callback;
};

/// Reads the task with public id `id` and what goes with it (blocking: on the pool). nullopt
/// when there is no such task.
core::Result<std::optional<TaskDetail>> read_task_detail(store::Store& store, const std::string& id,
                                                         bool operator_view);

/// The signed URL of a stored object (a result or an uploaded reference) until `expires_s`.
using FileUrl = std::function<std::string(std::string_view key, std::int64_t expires_s)>;

/// The task as the admin task list shows it, with `request`, `param`, `results` (signed URLs
/// until `urls_expire_at_s`), `events` (its timeline), `charged` and `settlement`; and in the
/// operator's view `calls` and `callback` too.
boost::json::object task_detail_json(const TaskDetail& d, const FileUrl& file_url,
                                     std::int64_t urls_expire_at_s);

}  // namespace ig::api
