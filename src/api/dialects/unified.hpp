#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "api/dialects/common.hpp"
#include "core/error.hpp"
#include "core/request.hpp"
#include "core/result.hpp"
#include "core/task.hpp"

/// The `unified` dialect (seed 001, EvoLink): POST /v1/images/generations with a flat body,
/// GET /v1/tasks/{id} and POST /v1/tasks/{id}/cancel, all answered with the same task object.
/// Pure translation between its JSON and the canonical types; stateless, so every function is
/// thread-safe.
namespace ig::api::unified {

inline constexpr std::string_view kModel = "gpt-image-2";
inline constexpr std::string_view kTaskIdPrefix = "task-unified-";
inline constexpr std::size_t kMaxPromptChars = 32000;  // Unicode code points
inline constexpr std::size_t kMaxImageUrls = 16;
inline constexpr int kMaxImages = 10;  // n
inline constexpr std::size_t kMaxCallbackChars = 2048;
/// `task_info.estimated_time` while a task is queued or running: the seed's example value.
inline constexpr int kEstimatedSeconds = 100;
/// `progress` while running. The dialect has no real progress signal; 50 says "started".
inline constexpr int kRunningProgress = 50;

using dialects::ParsedCreate;

/// Parses and validates a create body. Every client mistake is kInvalidRequest (structure:
/// not JSON, a required field missing, a wrong JSON type) or kValidationFailed (a value breaks a
/// documented rule), both 400 `invalid_parameters` here; an unknown model is kModelNotFound
/// (404 `model_not_found`). Unknown fields are ignored.
///
/// `size` is "auto" (default), one of the seed's 15 ratios, or "WxH" / "W×H" (U+00D7),
/// case-insensitively. A ratio is sized by core::unified_budget_size at `resolution` (default
/// 1K); an explicit size is used as given (resolution is validated but ignored; the request's
/// tier is core::tier_for_size's); "auto" is 1:1 at 1K for text-to-image and {0,0}
/// (the dispatcher sizes it from the first reference) with image_urls. `mask_url` without
/// image_urls is dropped unchecked (the seed: silently ignored); only its JSON type is checked.
core::Result<ParsedCreate> parse_create(std::string_view body);

/// The dialect's status word: pending | processing | completed | failed (cancelled is failed).
std::string_view status_word(core::TaskState s);

/// 0 queued, kRunningProgress running, 100 once terminal (whatever the outcome).
int progress_for(core::TaskState s);

/// The task object, for the create answer, GET and cancel:
/// {created (Unix s), [error], id, model, object:"image.generation.task", progress, [results],
///  status, task_info:{can_cancel, [estimated_time]}, type:"image",
///  usage:{billing_rule:"per_call", credits_reserved, user_group:"default"}}.
/// `results` (the signed URLs) only when completed; `error {code, message, type:"task_error"}`
/// only when failed, with code = task.fail_code, or "request_cancelled" for a cancelled task;
/// `estimated_time` only while the task can still be cancelled (queued or running).
std::string render_task(const core::Task& task, const std::vector<std::string>& result_urls);

/// `code` and `type` of the error envelope for an error.
struct ErrorWords {
  std::string_view code;
  std::string_view type;
};
/// kInvalidRequest with param "task_id" (from check_task_id) is `invalid_task_id`; other
/// request errors are `invalid_parameters`; see the table in unified.cpp for the rest.
ErrorWords error_words(const core::Error& e);

/// HTTP status: core::http_status, except kValidationFailed, which is 400 (the dialect has no 422).
unsigned error_status(const core::Error& e);

/// `{"error":{"code","message","type","param"}}`; param is e.param, or null when empty.
std::string render_error(const core::Error& e);

/// Ids are "task-unified-<unix seconds>-<8 of [a-z0-9]>"; anything else is kInvalidRequest with
/// param "task_id" (rendered as 400 `invalid_task_id`).
core::Status check_task_id(std::string_view id);

}  // namespace ig::api::unified
