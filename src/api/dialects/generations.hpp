#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/dialects/common.hpp"
#include "core/error.hpp"
#include "core/result.hpp"
#include "core/sizes.hpp"
#include "core/task.hpp"

/// The `generations` dialect (seed 004, aivideoapi): POST /v1/images/generations with an
/// `input` object, GET /v1/tasks/{id}. Pure translation between its JSON and the canonical
/// types; stateless, so every function is thread-safe.
namespace ig::api::generations {

inline constexpr std::string_view kModel = "gpt-image-2";
inline constexpr std::string_view kTextToImage = "gpt-image-2-text-to-image";    // metadata
inline constexpr std::string_view kImageToImage = "gpt-image-2-image-to-image";  // metadata
inline constexpr std::size_t kMaxPromptChars = 20000;
inline constexpr std::size_t kMaxImageUrls = 16;

using dialects::ParsedCreate;

/// Parses and validates a create body. Every client mistake is kInvalidRequest or
/// kValidationFailed (both 400 invalid_request here) except an unknown model, kModelNotFound.
///
/// `input.aspect_ratio` is `auto` (treated as 1:1, with or without references, as the seed
/// says), one of the seed's 15 ratios (sized by core::generations_table_size), or an explicit
/// pixel size "WxH" / "W×H". An explicit size is accepted when it is any size printed in the
/// seed's table (including the second sizes of the 1K cells, e.g. 1254x1254) or when it obeys
/// seed 001's explicit rules (multiples of 16, edges 16..3840, 655,360..8,294,400 pixels, at
/// most 3:1). It is used as is: `resolution` is still validated but does not change it, and the
/// request's tier is the tier of the table cell holding the size, else explicit_size_tier.
core::Result<ParsedCreate> parse_create(std::string_view body);

/// An explicit "WxH" / "W×H" pixel size (no validation beyond the syntax).
std::optional<core::Size> parse_pixel_size(std::string_view s);

/// The tier billed for an explicit size: the tier of the seed-004 table cell listing it (the
/// seed says which tier makes it: 2048×1024 is its 1K 2:1), else core::tier_for_size's, as in
/// every other dialect.
core::Tier explicit_size_tier(core::Size size);

/// `{"code":200,"msg":"success","data":{"taskId":…}}`
std::string render_created(const core::Task& task);

/// The GET /v1/tasks/{id} body, as in the seed: {id, status, model, created_at, …}. Times are
/// Unix seconds. pending/processing add `progress: null`; completed adds `completed_at` and
/// `output {urls, metadata {model: text-to-image | image-to-image, costTime (ms of generation)}}`;
/// failed adds `error {code, message}` and, like the seed's failed example, has no
/// `completed_at`. The seed shows no URL expiry, so `urls_expire_at_s` is not rendered.
std::string render_task(const core::Task& task, const std::vector<std::string>& result_urls,
                        std::int64_t urls_expire_at_s);

/// The dialect's status word: pending | processing | completed | failed.
std::string_view status_word(core::TaskState s);

/// The seed's error `code` and `type` for an error code.
struct ErrorWords {
  std::string_view code;
  std::string_view type;
};
ErrorWords error_words(core::ErrorCode code);

/// HTTP status for an error in this dialect (the seed's table; 422 does not exist here: a
/// validation failure is 400).
unsigned error_status(const core::Error& e);

/// `{"error":{"code":…,"message":…,"type":…}}`
std::string render_error(const core::Error& e);

}  // namespace ig::api::generations
