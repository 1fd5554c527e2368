#include "api/dialect_dispatch.hpp"

#include "api/dialects/generations.hpp"
#include "api/dialects/jobs.hpp"
#include "api/dialects/openai.hpp"
#include "api/dialects/tasks.hpp"
#include "api/dialects/unified.hpp"
#include "core/codec.hpp"

namespace ig::api {

namespace {

Response rendered_error(core::Dialect dialect, const core::Error& e);

}  // namespace

Response error_in(core::Dialect dialect, const core::Error& error) {
  // Messages quote client text; whatever a message holds, the body stays valid UTF-8 JSON.
  core::Error e = error;
  e.message = core::to_valid_utf8(error.message);
  Response res = rendered_error(dialect, e);
  if (e.retry_after_s > 0) {
    res.set(http::field::retry_after, std::to_string(e.retry_after_s));
  }
  return res;
}

namespace {

Response rendered_error(core::Dialect dialect, const core::Error& e) {
  switch (dialect) {
    case core::Dialect::kJobs:
      return json_response(jobs::error_status(e), jobs::render_error(e));
    case core::Dialect::kTasks:
      return json_response(tasks_dialect::error_status(e), tasks_dialect::render_error(e));
    case core::Dialect::kGenerations:
      return json_response(generations::error_status(e), generations::render_error(e));
    case core::Dialect::kUnified:
      return json_response(unified::error_status(e), unified::render_error(e));
    case core::Dialect::kOpenAI:
      return json_response(openai_dialect::error_status(e), openai_dialect::render_error(e));
  }
  return json_response(500, "{}");
}

}  // namespace

Response task_in_own_dialect(const core::Task& task, const std::vector<std::string>& urls,
                             std::int64_t urls_expire_at_s) {
  switch (task.request.dialect) {
    case core::Dialect::kJobs:
      return json_response(200, jobs::render_record(task, urls));
    case core::Dialect::kTasks:
      return json_response(200, tasks_dialect::render_task(task, urls, urls_expire_at_s));
    case core::Dialect::kGenerations:
      return json_response(200, generations::render_task(task, urls, urls_expire_at_s));
    case core::Dialect::kUnified:
    case core::Dialect::kOpenAI:
      // An `openai` task is synchronous; should a client poll it, the unified task object is
      // the closest asynchronous view of it.
      return json_response(200, unified::render_task(task, urls));
  }
  return json_response(500, "{}");
}

core::Dialect dialect_for_task_id(std::string_view id) {
  if (id.starts_with("task-unified-")) {
    return core::Dialect::kUnified;
  }
  if (id.starts_with("tk-")) {
    return core::Dialect::kTasks;
  }
  return core::Dialect::kGenerations;
}

}  // namespace ig::api
