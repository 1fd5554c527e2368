#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.hpp"
#include "core/error.hpp"
#include "core/task.hpp"

/// One switch over the dialects, so handlers can answer "in the dialect that created the
/// task" without knowing any dialect's JSON.
namespace ig::api {

/// An error in a dialect's envelope, with that dialect's HTTP status.
Response error_in(core::Dialect dialect, const core::Error& e);

/// A task (GET on any dialect's query path) in the shape of the dialect that created it.
/// `urls` are its signed result URLs, valid until `urls_expire_at_s`.
Response task_in_own_dialect(const core::Task& task, const std::vector<std::string>& urls,
                             std::int64_t urls_expire_at_s);

/// The dialect whose envelope suits an error about task `id` before the task is found, from
/// the id's format: "task-unified-…" → unified, "tk-…" → tasks, otherwise generations (uuid).
core::Dialect dialect_for_task_id(std::string_view id);

}  // namespace ig::api
