#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "api/dialects/common.hpp"
#include "core/error.hpp"
#include "core/request.hpp"
#include "core/result.hpp"
#include "core/sizes.hpp"
#include "core/task.hpp"

/// The `openai` dialect: OpenAI's Images API served synchronously under /openai/v1
/// (POST images/generations as JSON, POST images/edits as multipart/form-data). Pure
/// translation between OpenAI's wire format and the canonical types; no I/O. Stateless and
/// thread-safe.
///
/// Errors use OpenAI's envelope `{"error":{"message","type","param","code"}}`. Every value
/// problem is a 400 `invalid_request_error`, as at OpenAI (never 422). The `code` is derived
/// from the wording of the message, which this file writes in OpenAI's own phrasing
/// ("Invalid 'n': integer above maximum value. …" → `integer_above_max_value`); errors made
/// elsewhere get a code from their ErrorCode, or null.
namespace ig::api::openai_dialect {

/// The model a request names when it omits `model` (OpenAI's current default image model).
inline constexpr std::string_view kDefaultModel = "gpt-image-2";
inline constexpr std::size_t kMaxPromptChars = 32000;
inline constexpr int kMaxN = 10;
inline constexpr std::size_t kMaxEditImages = 16;
/// OpenAI: each input image "less than 50MB", the mask "less than 4MB" (binary megabytes).
inline constexpr std::size_t kMaxImageBytes = 50u * 1024 * 1024;
inline constexpr std::size_t kMaxMaskBytes = 4u * 1024 * 1024;
/// Auto-sized text-to-image output (OpenAI's `auto` for a prompt alone is square).
inline constexpr core::Size kAutoSize{1024, 1024};

using dialects::ParsedCreate;

/// True for every model id this dialect serves (all are served by our one model).
bool is_served_model(std::string_view model);

/// POST /openai/v1/images/generations (JSON body). Text-to-image; `size` auto → 1024x1024 at 1K,
/// an explicit WxH at core::tier_for_size's tier.
core::Result<ParsedCreate> parse_generation(std::string_view json_body);

/// POST /openai/v1/images/edits (multipart/form-data). Files `image` or repeated `image[]`
/// (1..16, each < 50 MiB) go to ParsedCreate::images in order with their field name, `mask`
/// (< 4 MiB) to ParsedCreate::mask; every other part is a text field. Image-to-image;
/// `request.input_urls` and `mask_url` stay empty (the caller stores the uploads);
/// `size` auto → {0,0} (sized from the first image). `param` is the text fields as a compact
/// JSON object of strings, never the image bytes.
core::Result<ParsedCreate> parse_edit(std::string_view content_type, std::string_view body);

/// A result image's bytes as read from storage.
struct RenderedImage {
  std::string bytes;
};

/// Image tokens of one image by the community formula for gpt-image-2 (API-NOTES):
/// q = 16/48/96 for low/medium/high (auto or empty: medium);
/// s = floor((2·q·short + long) / (2·long)); tokens = ceil(q·s·(2,000,000 + W·H) / 4,000,000).
/// 1024x1024 high → 7024; 1536x1024 high → 5488. 0 for an unknown (zero) size.
long long image_tokens(core::Size size, std::string_view quality);

/// The `usage` object of a response.
struct Usage {
  long long text_tokens = 0;   // ceil(prompt bytes / 4)
  long long image_tokens = 0;  // input images, each by image_tokens() at its size
  long long output_tokens = 0;
  long long input_tokens() const { return text_tokens + image_tokens; }
  long long total_tokens() const { return input_tokens() + output_tokens; }
};

/// Usage for a request whose outputs have `output_sizes` and whose input images (edits) have
/// `input_sizes` (empty when unknown: image_tokens is then 0).
Usage estimate_usage(const core::GenerationRequest& r, const std::vector<core::Size>& output_sizes,
                     const std::vector<core::Size>& input_sizes = {});

/// An upper bound on the size of render_images' body for images of these sizes in bytes:
/// their base64 and the JSON around it. Known before anything is encoded, so that the memory
/// an answer will hold can be reserved first.
std::size_t images_answer_bytes(const std::vector<std::size_t>& image_sizes);

/// The 200 body for a succeeded task: {created, background, data:[{b64_json}], output_format,
/// quality, size, usage}. `images_bytes` are its result images in order; `input_sizes` the
/// sizes of its input images when the caller knows them (for usage.image_tokens).
/// `quality` is the effective one (auto or empty → "medium"); `background` is "transparent"
/// only when asked for, otherwise "opaque"; `size` is the first result's "WxH".
std::string render_images(const core::Task& task, const std::vector<std::string>& images_bytes,
                          const std::vector<core::Size>& input_sizes = {});

/// The error to render for a task that ended failed or cancelled: ErrorCode kUpstream with
/// the task's message, and its fail code carried in `param` (see render_error).
core::Error task_error(const core::Task& task);

/// HTTP status in this dialect: 400 for every request problem (kInvalidRequest and
/// kValidationFailed), 401, 404 (kNotFound, kModelNotFound), 429 (kRateLimited,
/// kInsufficientCredits, as OpenAI's insufficient_quota), 500 for kInternal and for a failed
/// generation (kUpstream), except 400 when the failure was the request's fault (a refused or
/// invalid input image or mask, moderation), 503 kUnavailable; others as core::http_status.
unsigned error_status(const core::Error& e);

/// `{"error":{"message","type","param","code"}}`. type: invalid_request_error for client
/// errors (401 too, code "invalid_api_key", as OpenAI answers a bad key), "requests" /
/// "insufficient_quota" for 429s, "server_error" for 5xx. For kUpstream, `e.param` is the
/// task's fail code: moderation codes render as type image_generation_user_error, code
/// moderation_blocked; input and mask problems as invalid_request_error with that code and
/// param "image" or "mask"; anything else as server_error with that code.
std::string render_error(const core::Error& e);

}  // namespace ig::api::openai_dialect
