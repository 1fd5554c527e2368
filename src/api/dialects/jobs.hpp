#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/dialects/common.hpp"
#include "core/error.hpp"
#include "core/request.hpp"
#include "core/result.hpp"
#include "core/task.hpp"

/// The `jobs` dialect (seeds 000 and 002): POST /api/v1/jobs/createTask and
/// GET /api/v1/jobs/recordInfo. Pure translation between its JSON and the canonical types.
namespace ig::api::jobs {

inline constexpr std::string_view kTextToImage = "gpt-image-2-text-to-image";
inline constexpr std::string_view kImageToImage = "gpt-image-2-image-to-image";
inline constexpr std::size_t kMaxPromptChars = 20000;
inline constexpr std::size_t kMaxInputUrls = 16;

using dialects::ParsedCreate;

/// Parses and validates a createTask body. Structural problems (not JSON, not an object,
/// a required field missing, a wrong JSON type) are kInvalidRequest (400); values that break a
/// documented rule are kValidationFailed (422).
core::Result<ParsedCreate> parse_create(std::string_view body);

/// `{"code":200,"msg":"success","data":{"taskId":…}}`
std::string render_created(std::string_view task_id);

/// The recordInfo body for a task; `result_urls` are the signed URLs of its results.
std::string render_record(const core::Task& task, const std::vector<std::string>& result_urls);

/// The dialect's state word: waiting | success | fail.
std::string_view state_word(core::TaskState s);

/// HTTP status for an error in this dialect (equals the body's `code`).
unsigned error_status(const core::Error& e);

/// `{"code":N,"msg":…,"data":null}` with N == error_status(e).
std::string render_error(const core::Error& e);

}  // namespace ig::api::jobs
