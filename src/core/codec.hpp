#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <vector>

#include "core/request.hpp"
#include "core/task.hpp"

namespace ig::core {

/// Storage encoding of the canonical request and result list (compact JSON). The store keeps
/// these as text so it needs no knowledge of the request's fields.
std::string encode_request(const GenerationRequest& r);
std::optional<GenerationRequest> decode_request(std::string_view json);

/// Appends `text` to `out` as a JSON string, escaped byte for byte as boost::json::serialize
/// escapes it ('"', '\\' and control characters; everything else as it is), for answers
/// written directly instead of through a json::value on hot paths.
void append_json_string(std::string& out, std::string_view text);

std::string encode_results(const std::vector<ResultObject>& results);
std::vector<ResultObject> decode_results(std::string_view json);

/// Storage encoding of token usage: a compact JSON object of the counts that are known
/// (>= 0), or "" when none is. Decoding "" or anything unreadable gives all -1.
std::string encode_usage(const TokenUsage& u);
TokenUsage decode_usage(std::string_view json);

/// Number of Unicode code points in valid UTF-8 text.
std::size_t count_code_points(std::string_view utf8);

/// `s` as valid UTF-8: each byte that does not start a well-formed sequence (stray
/// continuation, overlong form, surrogate, beyond U+10FFFF, cut short) becomes U+FFFD.
std::string to_valid_utf8(std::string_view s);

/// Client text quoted in a message: valid UTF-8 (see to_valid_utf8), at most `max_bytes`
/// bytes cut on a character boundary, with "..." when cut.
std::string echo_text(std::string_view s, std::size_t max_bytes);

/// json::serialize, except that doubles are written in their shortest decimal form (4.7, not
/// Boost.JSON 1.81's 4.7E0): money and other decimals as the providers' documents show them.
std::string serialize_decimal(const boost::json::value& v);

}  // namespace ig::core
