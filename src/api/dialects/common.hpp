#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>
#include <boost/json/storage_ptr.hpp>

#include "core/error.hpp"
#include "core/request.hpp"
#include "core/result.hpp"

/// What every dialect shares: the parsed-create result and strict JSON field readers whose
/// errors name the field. Dialects only translate; rules that are the same everywhere live in
/// core.
namespace ig::api::dialects {

/// An image sent inside the request itself (multipart `openai` edits).
struct Upload {
  std::string field;  // "image", "image[]", "mask"
  std::string bytes;
};

/// A create request after validation.
struct ParsedCreate {
  core::GenerationRequest request;
  std::string param;            // the original request, compact JSON (for dialects that echo it)
  std::vector<Upload> images;   // uploaded reference images, in order (openai edits)
  std::optional<Upload> mask;   // uploaded mask (openai edits)
};

inline core::Error invalid(std::string msg, std::string param = {}) {
  return core::make_error(core::ErrorCode::kInvalidRequest, std::move(msg), std::move(param));
}
inline core::Error rule(std::string msg, std::string param = {}) {
  return core::make_error(core::ErrorCode::kValidationFailed, std::move(msg), std::move(param));
}

/// Parses a JSON object body: kInvalidRequest when it is not JSON or not an object. The
/// object's memory comes from `storage` (the default resource when empty).
core::Result<boost::json::object> parse_object(std::string_view body,
                                               boost::json::storage_ptr storage = {});

/// Optional string field; present but not a string → kInvalidRequest naming `param`.
core::Result<std::optional<std::string>> opt_string(const boost::json::object& o,
                                                    std::string_view key, std::string_view param);
/// Optional integer field (JSON integer, or a float with no fraction).
core::Result<std::optional<long long>> opt_int(const boost::json::object& o, std::string_view key,
                                               std::string_view param);
/// Optional boolean field.
core::Result<std::optional<bool>> opt_bool(const boost::json::object& o, std::string_view key,
                                           std::string_view param);
/// Optional array of strings; present but of another shape → kInvalidRequest.
core::Result<std::optional<std::vector<std::string>>> opt_string_array(
    const boost::json::object& o, std::string_view key, std::string_view param);

/// A prompt of at most `max_chars` Unicode code points (counted, not bytes); else
/// kValidationFailed "<param> is N characters; the maximum is M".
core::Status check_prompt_length(const std::string& prompt, std::size_t max_chars,
                                 std::string_view param);

/// The `input.prompt` of the input-object dialects (jobs, tasks): required, a string, not
/// blank, within `max_chars`; stored in `r.prompt`.
core::Status check_input_prompt(const boost::json::object& input, std::size_t max_chars,
                                core::GenerationRequest& r);

/// The optional resolution field `key` as a tier: default 1K, words case-insensitive. `words`
/// is how the dialect's document spells them, for the message ("1K, 2K, 4K" or "1k, 2k, 4k").
core::Result<core::Tier> opt_tier(const boost::json::object& o, std::string_view key,
                                  std::string_view param, std::string_view words);

/// "WxH", "WXH" or "W×H" with 1..5 decimal digits a side; no range checks (0 is returned).
std::optional<core::Size> parse_pixel_size(std::string_view s);

/// "a, b, c" for messages.
std::string joined(const std::vector<std::string_view>& values);

}  // namespace ig::api::dialects
