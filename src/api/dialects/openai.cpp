// The `openai` dialect's requests: the JSON generations body and the multipart edits body.
#include "api/dialects/openai.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>

#include <boost/json.hpp>

#include "api/multipart.hpp"
#include "core/json_scratch.hpp"
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

// A client's text inside a message: valid UTF-8, at most 64 bytes.
std::string echo(std::string_view s) {
  return core::echo_text(s, 64);
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
  r.tier = core::tier_for_size(r.size);
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

}  // namespace

bool is_served_model(std::string_view model) {
  return contains(kModels, model);
}

core::Result<ParsedCreate> parse_generation(std::string_view json_body) {
  core::JsonScratch scratch;  // the DOM dies with this function
  auto parsed = dialects::parse_object(json_body, scratch.storage());
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

}  // namespace ig::api::openai_dialect
