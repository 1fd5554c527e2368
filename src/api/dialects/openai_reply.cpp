// The `openai` dialect's answers: images, usage estimates and OpenAI's error shapes.
#include "api/dialects/openai.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>

#include "core/codec.hpp"

namespace ig::api::openai_dialect {
namespace json = boost::json;
using core::ErrorCode;

namespace {

// The OpenAI `code` a request error gets, read from openai.cpp's wording (only from our own
// text: a client's value is never at the start of a message nor right after "Invalid '<param>':").
std::optional<std::string_view> code_from_message(const core::Error& e) {
  const std::string_view m = e.message;
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kPrefixes = {{
      {"Invalid image file", "invalid_image_file"},
      {"Invalid mask image format", "invalid_mask"},
      {"Unknown parameter: ", "unknown_parameter"},
      {"Missing required parameter: ", "missing_required_parameter"},
      {"Invalid type for ", "invalid_type"},
      {"Invalid value", "invalid_value"},
  }};
  for (const auto& [prefix, code] : kPrefixes) {
    if (m.starts_with(prefix)) {
      return code;
    }
  }
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kPhrases = {{
      {"integer above maximum value", "integer_above_max_value"},
      {"integer below minimum value", "integer_below_min_value"},
      {"string too long", "string_above_max_length"},
      {"empty string", "empty_string"},
      {"array too long", "array_above_max_length"},
      {"file too large", "file_too_large"},
      {"empty file", "empty_file"},
  }};
  const std::string head = "Invalid '" + e.param + "': ";
  if (e.param.empty() || !m.starts_with(head)) {
    return std::nullopt;
  }
  for (const auto& [phrase, code] : kPhrases) {
    if (m.substr(head.size()).starts_with(phrase)) {
      return code;
    }
  }
  return std::nullopt;
}

// How a failed task's fail code is shown (render_error with kUpstream).
enum class FailureKind { kModeration, kInput, kMask, kServer };

FailureKind failure_kind(std::string_view fail_code) {
  if (fail_code == "moderation_blocked" || fail_code == "content_policy_violation") {
    return FailureKind::kModeration;
  }
  if (fail_code == "invalid_mask") {
    return FailureKind::kMask;
  }
  if (fail_code == "input_refused" || fail_code == "input_too_large" ||
      fail_code == "input_invalid") {
    return FailureKind::kInput;
  }
  return FailureKind::kServer;
}

struct Shape {
  unsigned status = 500;
  std::string_view type = "server_error";
  std::optional<std::string> code;
  std::optional<std::string> param;
};

Shape upstream_shape(const core::Error& e) {
  const std::string& fail_code = e.param;
  std::optional<std::string> code;
  if (!fail_code.empty()) {
    code = fail_code;
  }
  switch (failure_kind(fail_code)) {
    case FailureKind::kModeration:
      return {400, "image_generation_user_error", "moderation_blocked", std::nullopt};
    case FailureKind::kInput:
      // The dispatcher starts an input's message with its field: "mask: …" or "image: …".
      return {400, "invalid_request_error", code,
              e.message.starts_with("mask") ? "mask" : "image"};
    case FailureKind::kMask:
      return {400, "invalid_request_error", code, "mask"};
    case FailureKind::kServer:
      break;
  }
  return {500, "server_error", code, std::nullopt};
}

Shape shape_of(const core::Error& e) {
  std::optional<std::string> param;
  if (!e.param.empty()) {
    param = e.param;
  }
  switch (e.code) {
    case ErrorCode::kInvalidRequest:
    case ErrorCode::kValidationFailed: {
      Shape s{400, "invalid_request_error", std::nullopt, param};
      if (auto code = code_from_message(e)) {
        s.code = std::string(*code);
      }
      return s;
    }
    case ErrorCode::kUnauthorized:
      return {401, "invalid_request_error", "invalid_api_key", {}};
    case ErrorCode::kInsufficientCredits:
      return {429, "insufficient_quota", "insufficient_quota", {}};
    case ErrorCode::kRouteNotFound:
      return {404, "invalid_request_error", std::nullopt, {}};
    case ErrorCode::kNotFound:
      return {404, "invalid_request_error", "not_found", {}};
    case ErrorCode::kModelNotFound:
      return {404, "invalid_request_error", "model_not_found", {}};
    case ErrorCode::kRateLimited:
    case ErrorCode::kTooManyActive:
      return {429, "requests", "rate_limit_exceeded", {}};
    case ErrorCode::kSpendLimited:
      return {429, "insufficient_quota", "spend_limit_exceeded", {}};
    case ErrorCode::kUpstream:
      return upstream_shape(e);
    case ErrorCode::kInternal:
      return {500, "server_error", std::nullopt, {}};
    case ErrorCode::kUnavailable:
      return {503, "server_error", std::nullopt, {}};
    default:
      break;
  }
  const auto status = static_cast<unsigned>(core::http_status(e.code));
  return {status, status >= 500 ? "server_error" : "invalid_request_error", std::nullopt, param};
}

namespace b64 = boost::beast::detail::base64;

// Room for everything of an answer but the base64 of its images: the fields around `data`
// (a few hundred bytes), and `{"b64_json":""},` per image.
constexpr std::size_t kAnswerFrame = 1024;
constexpr std::size_t kPerImageFrame = 32;

// Appends the base64 of `bytes` to `out` in place (base64 needs no JSON escaping).
void append_base64(std::string& out, std::string_view bytes) {
  const std::size_t at = out.size();
  out.resize(at + b64::encoded_size(bytes.size()));
  out.resize(at + b64::encode(out.data() + at, bytes.data(), bytes.size()));
}

std::string effective_quality(const core::GenerationRequest& r) {
  if (r.quality.empty() || r.quality == "auto") {
    return "medium";
  }
  return r.quality;
}

}  // namespace

long long image_tokens(core::Size size, std::string_view quality) {
  const long long lo = std::min(size.width, size.height);
  const long long hi = std::max(size.width, size.height);
  if (lo <= 0) {
    return 0;
  }
  long long q = 48;
  if (quality == "low") {
    q = 16;
  } else if (quality == "high") {
    q = 96;
  }
  const long long s = (2 * q * lo + hi) / (2 * hi);
  constexpr long long kScale = 4'000'000;
  return (q * s * (2'000'000 + size.pixels()) + kScale - 1) / kScale;
}

Usage estimate_usage(const core::GenerationRequest& r, const std::vector<core::Size>& output_sizes,
                     const std::vector<core::Size>& input_sizes) {
  const std::string quality = effective_quality(r);
  Usage u;
  u.text_tokens = static_cast<long long>((r.prompt.size() + 3) / 4);
  for (core::Size s : input_sizes) {
    u.image_tokens += image_tokens(s, quality);
  }
  for (core::Size s : output_sizes) {
    u.output_tokens += image_tokens(s, quality);
  }
  return u;
}

std::size_t images_answer_bytes(const std::vector<std::size_t>& image_sizes) {
  std::size_t total = kAnswerFrame;
  for (std::size_t n : image_sizes) {
    total += b64::encoded_size(n) + kPerImageFrame;
  }
  return total;
}

std::string render_images(const core::Task& task, const std::vector<std::string>& images_bytes,
                          const std::vector<core::Size>& input_sizes) {
  const core::GenerationRequest& r = task.request;
  std::vector<core::Size> sizes;
  std::vector<std::size_t> byte_sizes;
  for (std::size_t i = 0; i < images_bytes.size(); ++i) {
    core::Size s = r.size;
    if (i < task.results.size() && task.results[i].width > 0 && task.results[i].height > 0) {
      s = core::Size{task.results[i].width, task.results[i].height};
    }
    sizes.push_back(s);
    byte_sizes.push_back(images_bytes[i].size());
  }
  const Usage u = estimate_usage(r, sizes, input_sizes);
  const std::int64_t done_ms = task.completed_ms > 0 ? task.completed_ms : task.created_ms;
  json::object head;
  head["created"] = done_ms / 1000;
  head["background"] = r.background == "transparent" ? "transparent" : "opaque";
  json::object tail;
  tail["output_format"] = core::effective_output_format(r);
  tail["quality"] = effective_quality(r);
  if (!sizes.empty() && sizes.front().width > 0) {
    tail["size"] = std::to_string(sizes.front().width) + "x" + std::to_string(sizes.front().height);
  }
  tail["usage"] = json::object{
      {"input_tokens", u.input_tokens()},
      {"input_tokens_details",
       json::object{{"text_tokens", u.text_tokens}, {"image_tokens", u.image_tokens}}},
      {"output_tokens", u.output_tokens},
      {"total_tokens", u.total_tokens()},
  };
  // One string, sized once: the images are encoded straight into it, where a JSON value of
  // the images would hold them a second time while it is serialized.
  const std::string head_text = json::serialize(head);
  const std::string tail_text = json::serialize(tail);
  std::string out;
  out.reserve(images_answer_bytes(byte_sizes));
  out.append(head_text, 0, head_text.size() - 1);  // without its closing brace
  out += R"(,"data":[)";
  for (std::size_t i = 0; i < images_bytes.size(); ++i) {
    out += i == 0 ? R"({"b64_json":")" : R"(,{"b64_json":")";
    append_base64(out, images_bytes[i]);
    out += R"("})";
  }
  out += "],";
  out.append(tail_text, 1);  // without its opening brace
  return out;
}

core::Error task_error(const core::Task& task) {
  std::string message = task.fail_msg;
  if (message.empty()) {
    message = task.state == core::TaskState::kCancelled
                  ? "The image generation was cancelled."
                  : "The server had an error while processing your request.";
  }
  return core::make_error(ErrorCode::kUpstream, std::move(message), task.fail_code);
}

unsigned error_status(const core::Error& e) {
  return shape_of(e).status;
}

std::string render_error(const core::Error& e) {
  const Shape s = shape_of(e);
  json::object err;
  err["message"] = e.message;
  err["type"] = s.type;
  err["param"] = s.param ? json::value(*s.param) : json::value(nullptr);
  err["code"] = s.code ? json::value(*s.code) : json::value(nullptr);
  return json::serialize(json::object{{"error", std::move(err)}});
}

}  // namespace ig::api::openai_dialect
