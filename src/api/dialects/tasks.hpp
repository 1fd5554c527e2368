#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/dialects/common.hpp"
#include "core/error.hpp"
#include "core/result.hpp"
#include "core/task.hpp"

/// The `tasks` dialect (seed 003, HiAPI's unified async API): POST /v1/tasks, GET /v1/tasks/:id
/// and GET /v1/tasks (the key's own tasks, paged). Pure translation between its JSON and the
/// canonical types; stateless, so every function is thread-safe.
namespace ig::api::tasks_dialect {

/// The seed's model. Prompt-only generation is also accepted under kTextToImage (the sibling
/// HiAPI model name, as in the `jobs` dialect); input_urls are then refused.
inline constexpr std::string_view kImageToImage = "gpt-image-2-image-to-image";
inline constexpr std::string_view kTextToImage = "gpt-image-2-text-to-image";
/// HiAPI's other spellings: the family name (mode from `input.input_urls`) and slash forms.
inline constexpr std::string_view kFamily = "gpt-image-2";
inline constexpr std::string_view kTextToImageSlash = "gpt-image-2/text-to-image";
inline constexpr std::string_view kImageToImageSlash = "gpt-image-2/image-to-image";
inline constexpr std::size_t kMaxPromptChars = 20000;
inline constexpr std::size_t kMaxInputUrls = 16;
inline constexpr int kDefaultPageSize = 20;
inline constexpr int kMaxPageSize = 100;

using dialects::ParsedCreate;

/// Parses and validates a create body. Structural problems (not JSON, a required field missing,
/// a wrong JSON type) are kInvalidRequest (400); values that break a documented rule are
/// kValidationFailed (422); an unknown model is kModelNotFound (404).
/// Seed 000's image-to-image restrictions of the `jobs` dialect (auto aspect only at 1K, no 4K
/// at 1:1) are not part of seed 003 and are not applied here.
core::Result<ParsedCreate> parse_create(std::string_view body);

/// `{"code":200,"message":"success","data":{"taskId":…}}`
std::string render_created(const core::Task& task);

/// `{"code":200,"message":"success","data":{taskId, model, status, created, completed, output,
/// error?}}`. `created`/`completed` are Unix seconds, `completed` is 0 until the task is
/// terminal; `output` is `[]` until success, then one `{url, type:"image", expireAt}` per
/// result with `expireAt = urls_expire_at_s`; `error {code, message}` only when it failed.
std::string render_task(const core::Task& task, const std::vector<std::string>& result_urls,
                        std::int64_t urls_expire_at_s);

/// The paged list, in the shape HiAPI documents for GET /v1/tasks:
/// `{"code":200,"message":"success","data":{"page","size","total","tasks":[…]}}` where each
/// entry is render_task's `data` object and `urls[i]` belongs to `tasks[i]`. The list has no
/// per-task expiry, so each output's `expireAt` is read from its signed URL's `expires=` query
/// parameter; a URL without one is given `now_s` (no promise beyond the listing itself).
std::string render_list(const std::vector<core::Task>& tasks,
                        const std::vector<std::vector<std::string>>& urls, std::int64_t now_s,
                        int page, int page_size, std::int64_t total);

/// `page` and `page_size` query values ({page, page_size}): empty means the default (1 and
/// kDefaultPageSize); anything but a decimal integer, a page below 1 or a size outside
/// 1..kMaxPageSize is kInvalidRequest.
core::Result<std::pair<int, int>> parse_list_query(std::string_view page,
                                                   std::string_view page_size);

/// The dialect's status word: queued | handling | success | fail.
std::string_view status_word(core::TaskState s);

/// The upper-snake `error_code` of an error ("INVALID_REQUEST", "TASK_NOT_FOUND", …).
std::string_view error_code_word(core::ErrorCode code);

/// HTTP status for an error in this dialect (equals the body's `code`): core::http_status.
unsigned error_status(const core::Error& e);

/// `{"code":N,"message":…,"data":null,"error_code":"…"}` with N == error_status(e).
std::string render_error(const core::Error& e);

}  // namespace ig::api::tasks_dialect
