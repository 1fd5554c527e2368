#include "api/dialects/openai.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>

#include "api/multipart.hpp"
#include "core/codec.hpp"

namespace ig::api::openai_dialect {
namespace json = boost::json;
using core::ErrorCode;

namespace {

using List = std::vector<std::string_view>;

const List kModels = {"gpt-image-2",   "gpt-image-2-2026-04-21", "gpt-image-1",
                      "gpt-image-1.5", "gpt-image-1-mini",       "chatgpt-image-latest"};
const List kQualities = {"low", "medium", "high", "auto"};
const List kFormats = {"png", "jpeg", "webp"};
const List kBackgrounds = {"transparent", "opaque", "auto"};
const List kModerations = {"low", "auto"};
const List kFidelities = {"high", "low"};
const List kResponseFormats = {"b64_json", "url"};

enum class Endpoint { kGenerations, kEdits };

// The parameters of image_generate_params / image_edit_params that gpt-image models take.
const List kGenerationKeys = {
    "prompt",     "model", "n",    "quality", "output_format",  "output_compression", "background",
    "moderation", "size",  "user", "stream",  "partial_images", "response_format"};
const List kEditKeys = {
    "prompt",         "model",          "n",    "quality", "output_format", "output_compression",
    "background",     "input_fidelity", "size", "user",    "stream",        "partial_images",
    "response_format"};

bool contains(const List& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// A client's text inside a message: at most 64 bytes, cut on a UTF-8 boundary.
std::string echo(std::string_view s) {
  constexpr std::size_t kMax = 64;
  if (s.size() <= kMax) {
    return std::string(s);
  }
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return std::string(s.substr(0, cut)) + "...";
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned lo = 0x80;
    unsigned hi = 0xBF;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      len = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 2;
      lo = c == 0xE0 ? 0xA0 : 0x80;  // no overlong forms
      hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 3;
      lo = c == 0xF0 ? 0x90 : 0x80;
      hi = c == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
    } else {
      return false;
    }
    if (s.size() - i <= len) {
      return false;
    }
    for (std::size_t k = 1; k <= len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) {
        return false;
      }
    }
    i += len + 1;
  }
  return true;
}

core::Error bad(std::string message, std::string_view param) {
  return core::make_error(ErrorCode::kInvalidRequest, std::move(message), std::string(param));
}

// "'a', 'b', and 'c'"; "'a' and 'b'" (conjunction "and" or "or").
std::string quoted_list(const List& values, std::string_view conjunction) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0 && i + 1 == values.size()) {
      out += (values.size() > 2 ? ", " : " ") + std::string(conjunction) + " ";
    } else if (i > 0) {
      out += ", ";
    }
    out += "'" + std::string(values[i]) + "'";
  }
  return out;
}

std::string_view type_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return "a string";
    case json::kind::int64:
    case json::kind::uint64:
      return "an integer";
    case json::kind::double_:
      return "a number";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
    case json::kind::null:
      return "null";
  }
  return "a value";
}

// Messages below use OpenAI's own wording; code_from_message() depends on it.
core::Error unknown_parameter(std::string_view key) {
  return bad("Unknown parameter: '" + echo(key) + "'.", echo(key));
}
core::Error missing(std::string_view key) {
  return bad("Missing required parameter: '" + std::string(key) + "'.", key);
}
core::Error wrong_type(std::string_view key, std::string_view expected, const json::value& got) {
  return bad("Invalid type for '" + std::string(key) + "': expected " + std::string(expected) +
                 ", but got " + std::string(type_name(got)) + " instead.",
             key);
}
core::Error not_one_of(std::string_view key, std::string_view value, const List& allowed) {
  return bad("Invalid value: '" + echo(value) +
                 "'. Supported values are: " + quoted_list(allowed, "and") + ".",
             key);
}
core::Error invalid_value(std::string_view key, std::string why) {
  return bad("Invalid value for '" + std::string(key) + "': " + std::move(why), key);
}

const json::value* present(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return (v == nullptr || v->is_null()) ? nullptr : v;
}

core::Result<std::optional<std::string>> get_string(const json::object& o, std::string_view key) {
  const json::value* v = present(o, key);
  if (v == nullptr) {
    return std::optional<std::string>{};
  }
  if (!v->is_string()) {
    return wrong_type(key, "a string", *v);
  }
  return std::optional<std::string>{std::string(v->get_string())};
}

core::Result<std::optional<std::string>> get_enum(const json::object& o, std::string_view key,
                                                  const List& allowed) {
  const json::value* v = present(o, key);
  if (v == nullptr) {
    return std::optional<std::string>{};
  }
  if (!v->is_string()) {
    return wrong_type(key, "one of " + quoted_list(allowed, "or"), *v);
  }
  const std::string_view s = v->get_string();
  if (!contains(allowed, s)) {
    return not_one_of(key, s, allowed);
  }
  return std::optional<std::string>{std::string(s)};
}

core::Result<std::optional<long long>> get_int(const json::object& o, std::string_view key,
                                               long long min, long long max) {
  const json::value* v = present(o, key);
  if (v == nullptr) {
    return std::optional<long long>{};
  }
  std::optional<long long> n;
  if (v->is_int64()) {
    n = v->get_int64();
  } else if (v->is_uint64()) {
    n = std::numeric_limits<long long>::max();  // above any maximum here
  } else if (v->is_double() && std::isfinite(v->get_double()) &&
             std::floor(v->get_double()) == v->get_double() && std::fabs(v->get_double()) < 9e15) {
    n = static_cast<long long>(v->get_double());
  }
  if (!n) {
    return wrong_type(key, "an integer", *v);
  }
  const std::string k(key);
  const std::string shown = v->is_uint64() ? std::to_string(v->get_uint64()) : std::to_string(*n);
  if (*n > max) {
    return bad("Invalid '" + k + "': integer above maximum value. Expected a value <= " +
                   std::to_string(max) + ", but got " + shown + " instead.",
               key);
  }
  if (*n < min) {
    return bad("Invalid '" + k + "': integer below minimum value. Expected a value >= " +
                   std::to_string(min) + ", but got " + shown + " instead.",
               key);
  }
  return n;
}

core::Status check_keys(const json::object& o, Endpoint ep) {
  const List& keys = ep == Endpoint::kGenerations ? kGenerationKeys : kEditKeys;
  for (const auto& kv : o) {
    if (!contains(keys, kv.key())) {
      return unknown_parameter(kv.key());
    }
  }
  return core::ok_status();
}

core::Status check_model(const json::object& o, core::GenerationRequest& r) {
  auto model = get_string(o, "model");
  if (!model) {
    return model.error();
  }
  r.model = model->value_or(std::string(kDefaultModel));
  if (!is_served_model(r.model)) {
    return core::make_error(
        ErrorCode::kModelNotFound,
        "The model `" + echo(r.model) + "` does not exist or you do not have access to it.",
        "model");
  }
  return core::ok_status();
}

core::Status check_prompt(const json::object& o, core::GenerationRequest& r) {
  auto prompt = get_string(o, "prompt");
  if (!prompt) {
    return prompt.error();
  }
  if (!*prompt) {
    return missing("prompt");
  }
  r.prompt = std::move(**prompt);
  if (r.prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    return bad(
        "Invalid 'prompt': empty string. Expected a string with at least one "
        "non-whitespace character.",
        "prompt");
  }
  const std::size_t chars = core::count_code_points(r.prompt);
  if (chars > kMaxPromptChars) {
    return bad("Invalid 'prompt': string too long. Expected a string with maximum length " +
                   std::to_string(kMaxPromptChars) + ", but got a string with length " +
                   std::to_string(chars) + " instead.",
               "prompt");
  }
  return core::ok_status();
}

core::Status check_output(const json::object& o, core::GenerationRequest& r) {
  auto n = get_int(o, "n", 1, kMaxN);
  if (!n) {
    return n.error();
  }
  r.n = static_cast<int>(n->value_or(1));
  auto quality = get_enum(o, "quality", kQualities);
  if (!quality) {
    return quality.error();
  }
  r.quality = quality->value_or("");
  auto format = get_enum(o, "output_format", kFormats);
  if (!format) {
    return format.error();
  }
  r.output_format = format->value_or("");
  const std::string_view effective = core::effective_output_format(r);
  auto compression = get_int(o, "output_compression", 0, 100);
  if (!compression) {
    return compression.error();
  }
  if (*compression) {
    if (effective == "png") {
      return invalid_value("output_compression",
                           "compression is only supported with output_format 'jpeg' or "
                           "'webp', not 'png'.");
    }
    r.output_compression = static_cast<int>(**compression);
  }
  auto background = get_enum(o, "background", kBackgrounds);
  if (!background) {
    return background.error();
  }
  r.background = background->value_or("");
  if (r.background == "transparent" && effective == "jpeg") {
    return invalid_value("background",
                         "'transparent' needs an output_format that has transparency, 'png' "
                         "or 'webp', not 'jpeg'.");
  }
  return core::ok_status();
}

core::Status check_options(const json::object& o, Endpoint ep) {
  if (ep == Endpoint::kGenerations) {
    if (auto m = get_enum(o, "moderation", kModerations); !m) {
      return m.error();
    }
  } else if (auto f = get_enum(o, "input_fidelity", kFidelities); !f) {
    return f.error();
  }
  if (auto user = get_string(o, "user"); !user) {
    return user.error();
  }
  if (const json::value* stream = present(o, "stream")) {
    if (!stream->is_bool()) {
      return wrong_type("stream", "a boolean", *stream);
    }
    if (stream->get_bool()) {
      return invalid_value("stream",
                           "streaming is not supported by this server; omit stream or set it "
                           "to false to receive the finished images in one response.");
    }
  }
  if (auto partial = get_int(o, "partial_images", 0, 3); !partial) {
    return partial.error();
  }
  auto format = get_enum(o, "response_format", kResponseFormats);
  if (!format) {
    return format.error();
  }
  if (*format && **format == "url") {
    return invalid_value("response_format",
                         "'url' is not supported: GPT image models always return "
                         "base64-encoded images (b64_json).");
  }
  return core::ok_status();
}

std::optional<core::Size> parse_wxh(std::string_view s) {
  const std::size_t x = s.find('x');
  if (x == std::string_view::npos || x == 0 || x + 1 >= s.size() || s.size() > 11) {
    return std::nullopt;
  }
  auto number = [](std::string_view part) -> std::optional<int> {
    if (!std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    int v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc{} || end != part.data() + part.size()) {
      return std::nullopt;
    }
    return v;
  };
  auto w = number(s.substr(0, x));
  auto h = number(s.substr(x + 1));
  if (!w || !h) {
    return std::nullopt;
  }
  return core::Size{*w, *h};
}

// gpt-image-2's rules (image_edit_params `size`; API-NOTES for the pixel limits).
core::Status check_size_rules(std::string_view label, core::Size s) {
  const std::string head = "Invalid value: '" + std::string(label) + "'. ";
  const long long pixels = s.pixels();
  const int lo = std::min(s.width, s.height);
  const int hi = std::max(s.width, s.height);
  if (lo < core::kMinEdge) {
    return bad(head + "Width and height must each be at least 16 pixels.", "size");
  }
  if (s.width % 16 != 0 || s.height % 16 != 0) {
    return bad(head + "Width and height must both be multiples of 16.", "size");
  }
  if (hi > core::kMaxEdge) {
    return bad(head + "Width and height must each be at most 3840 pixels.", "size");
  }
  if (hi > 3 * lo) {
    return bad(head + "The aspect ratio must be between 1:3 and 3:1.", "size");
  }
  if (pixels < core::kMinPixels) {
    return bad(head + "The image must have at least " + std::to_string(core::kMinPixels) +
                   " pixels (e.g. 1024x640), but has " + std::to_string(pixels) + ".",
               "size");
  }
  if (pixels > core::kMaxPixels) {
    return bad(head + "The image must have at most " + std::to_string(core::kMaxPixels) +
                   " pixels (3840x2160), but has " + std::to_string(pixels) + ".",
               "size");
  }
  return core::ok_status();
}

core::Status check_size(const json::object& o, Endpoint ep, core::GenerationRequest& r) {
  auto size = get_string(o, "size");
  if (!size) {
    return size.error();
  }
  r.size_label = size->value_or("auto");
  if (r.size_label == "auto") {
    r.aspect_ratio = "auto";
    r.tier = core::Tier::k1K;
    r.size = ep == Endpoint::kGenerations ? kAutoSize : core::Size{};
    return core::ok_status();
  }
  auto wxh = parse_wxh(r.size_label);
  if (!wxh) {
    return bad("Invalid value: '" + echo(r.size_label) +
                   "'. Supported values are: 'auto' or WIDTHxHEIGHT, e.g. '1024x1024', "
                   "'1536x1024', '1024x1536'.",
               "size");
  }
  if (auto st = check_size_rules(r.size_label, *wxh); !st) {
    return st;
  }
  r.size = *wxh;
  r.tier = tier_for(r.size);
  const int g = std::gcd(r.size.width, r.size.height);
  r.aspect_ratio = std::to_string(r.size.width / g) + ":" + std::to_string(r.size.height / g);
  return core::ok_status();
}

// Every text field of either endpoint, in the order OpenAI's reference lists them.
core::Status check_fields(const json::object& o, Endpoint ep, core::GenerationRequest& r) {
  r.dialect = core::Dialect::kOpenAI;
  r.mode = ep == Endpoint::kGenerations ? core::Mode::kTextToImage : core::Mode::kImageToImage;
  if (auto st = check_keys(o, ep); !st) {
    return st;
  }
  if (auto st = check_model(o, r); !st) {
    return st;
  }
  if (auto st = check_prompt(o, r); !st) {
    return st;
  }
  if (auto st = check_output(o, r); !st) {
    return st;
  }
  if (auto st = check_options(o, ep); !st) {
    return st;
  }
  return check_size(o, ep, r);
}

// A multipart text field as the JSON value the same checks expect: integer fields that read
// as integers become integers and "true"/"false" booleans; anything else stays a string, so a
// bad value is reported as the wrong type, as OpenAI does.
json::value field_value(std::string_view key, const std::string& text) {
  if (key == "n" || key == "output_compression" || key == "partial_images") {
    long long v = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (!text.empty() && ec == std::errc{} && p == end) {
      return json::value(v);
    }
  }
  if (key == "stream" && (text == "true" || text == "false")) {
    return json::value(text == "true");
  }
  return json::value(text);
}

core::Status check_upload(const Part& part, std::size_t index, std::size_t max_bytes) {
  const std::string_view param = part.name == "mask" ? "mask" : "image";
  const std::string which = param == "mask" ? "the mask" : "image " + std::to_string(index + 1);
  if (part.body.empty()) {
    return bad("Invalid '" + std::string(param) + "': empty file. " + which +
                   " has no bytes; send a PNG, WEBP or JPEG file.",
               param);
  }
  if (part.body.size() >= max_bytes) {
    return bad("Invalid '" + std::string(param) + "': file too large. " + which + " is " +
                   std::to_string(part.body.size()) + " bytes; it must be smaller than " +
                   std::to_string(max_bytes / (1024 * 1024)) + " MB.",
               param);
  }
  return core::ok_status();
}

// The OpenAI `code` a request error gets, read from this file's wording (only from our own
// text: a client's value is never at the start of a message nor right after "Invalid '<param>':").
std::optional<std::string_view> code_from_message(const core::Error& e) {
  const std::string_view m = e.message;
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kPrefixes = {{
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
      return {400, "invalid_request_error", code, "image"};
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
    case ErrorCode::kNotFound:
      return {404, "invalid_request_error", "not_found", {}};
    case ErrorCode::kModelNotFound:
      return {404, "invalid_request_error", "model_not_found", {}};
    case ErrorCode::kRateLimited:
      return {429, "requests", "rate_limit_exceeded", {}};
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

std::string base64(std::string_view bytes) {
  namespace b64 = boost::beast::detail::base64;
  std::string out(b64::encoded_size(bytes.size()), '\0');
  out.resize(b64::encode(out.data(), bytes.data(), bytes.size()));
  return out;
}

std::string effective_quality(const core::GenerationRequest& r) {
  if (r.quality.empty() || r.quality == "auto") {
    return "medium";
  }
  return r.quality;
}

}  // namespace

bool is_served_model(std::string_view model) {
  return contains(kModels, model);
}

core::Tier tier_for(core::Size size) {
  constexpr long long kMiP = 1024LL * 1024;
  const long long pixels = size.pixels();
  if (pixels * 10 <= 12 * kMiP) {
    return core::Tier::k1K;
  }
  if (pixels * 10 <= 45 * kMiP) {
    return core::Tier::k2K;
  }
  return core::Tier::k4K;
}

core::Result<ParsedCreate> parse_generation(std::string_view json_body) {
  auto parsed = dialects::parse_object(json_body);
  if (!parsed) {
    return parsed.error();
  }
  ParsedCreate out;
  if (auto st = check_fields(*parsed, Endpoint::kGenerations, out.request); !st) {
    return st.error();
  }
  out.param = json::serialize(*parsed);
  return out;
}

core::Result<ParsedCreate> parse_edit(std::string_view content_type, std::string_view body) {
  auto parts = parse_multipart(content_type, body, MultipartLimits{});
  if (!parts) {
    return parts.error();
  }
  ParsedCreate out;
  json::object fields;
  json::object param;
  for (Part& part : *parts) {
    if (!valid_utf8(part.name)) {
      return bad("Invalid multipart/form-data body: a part name is not valid UTF-8.", "");
    }
    if (part.name == "image" || part.name == "image[]") {
      if (auto st = check_upload(part, out.images.size(), kMaxImageBytes); !st) {
        return st.error();
      }
      out.images.push_back(dialects::Upload{part.name, std::move(part.body)});
      continue;
    }
    if (part.name == "mask") {
      if (out.mask) {
        return bad("Invalid 'mask': expected one file, but got more than one.", "mask");
      }
      if (auto st = check_upload(part, 0, kMaxMaskBytes); !st) {
        return st.error();
      }
      out.mask = dialects::Upload{part.name, std::move(part.body)};
      continue;
    }
    if (!contains(kEditKeys, part.name)) {
      return unknown_parameter(part.name);
    }
    if (fields.contains(part.name)) {
      return bad("Invalid multipart/form-data body: parameter '" + echo(part.name) +
                     "' is given more than once.",
                 echo(part.name));
    }
    if (!valid_utf8(part.body)) {
      return invalid_value(part.name, "text fields must be UTF-8.");
    }
    fields[part.name] = field_value(part.name, part.body);
    param[part.name] = part.body;
  }
  if (auto st = check_fields(fields, Endpoint::kEdits, out.request); !st) {
    return st.error();
  }
  if (out.images.empty()) {
    return missing("image");
  }
  if (out.images.size() > kMaxEditImages) {
    return bad("Invalid 'image': array too long. Expected an array with maximum length " +
                   std::to_string(kMaxEditImages) + ", but got an array with length " +
                   std::to_string(out.images.size()) + " instead.",
               "image");
  }
  out.param = json::serialize(param);
  return out;
}

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

std::string render_images(const core::Task& task, const std::vector<std::string>& images_bytes,
                          const std::vector<core::Size>& input_sizes) {
  const core::GenerationRequest& r = task.request;
  std::vector<core::Size> sizes;
  json::array data;
  for (std::size_t i = 0; i < images_bytes.size(); ++i) {
    core::Size s = r.size;
    if (i < task.results.size() && task.results[i].width > 0 && task.results[i].height > 0) {
      s = core::Size{task.results[i].width, task.results[i].height};
    }
    sizes.push_back(s);
    data.emplace_back(json::object{{"b64_json", base64(images_bytes[i])}});
  }
  const Usage u = estimate_usage(r, sizes, input_sizes);
  const std::int64_t done_ms = task.completed_ms > 0 ? task.completed_ms : task.created_ms;
  json::object o;
  o["created"] = done_ms / 1000;
  o["background"] = r.background == "transparent" ? "transparent" : "opaque";
  o["data"] = std::move(data);
  o["output_format"] = core::effective_output_format(r);
  o["quality"] = effective_quality(r);
  if (!sizes.empty() && sizes.front().width > 0) {
    o["size"] = std::to_string(sizes.front().width) + "x" + std::to_string(sizes.front().height);
  }
  o["usage"] = json::object{
      {"input_tokens", u.input_tokens()},
      {"input_tokens_details",
       json::object{{"text_tokens", u.text_tokens}, {"image_tokens", u.image_tokens}}},
      {"output_tokens", u.output_tokens},
      {"total_tokens", u.total_tokens()},
  };
  return json::serialize(o);
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
