#include "api/dialects/generations.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>
#include <numeric>

#include <boost/json.hpp>

#include "core/json_scratch.hpp"
#include "core/codec.hpp"
#include "core/fail_codes.hpp"
#include "core/url_check.hpp"

namespace ig::api::generations {
namespace json = boost::json;
using core::ErrorCode;
using core::make_error;
using core::Size;
using core::Tier;

namespace {

// Seed 004's ratios, in its order ("auto" is handled apart: it is 1:1).
constexpr std::array<std::string_view, 15> kRatios = {"1:1", "3:2", "2:3",  "4:3",  "3:4",
                                                      "5:4", "4:5", "16:9", "9:16", "2:1",
                                                      "1:2", "3:1", "1:3",  "21:9", "9:21"};
// The second sizes of the seed's 1K cells (core::generations_table_size returns the first).
constexpr Size kAlternate1K[] = {{1254, 1254}, {1448, 1086}, {1122, 1402}, {1672, 941},
                                 {941, 1672},  {1774, 887},  {887, 1774},  {1536, 512},
                                 {512, 1536},  {1915, 821},  {821, 1915}};
constexpr Tier kTiers[] = {Tier::k1K, Tier::k2K, Tier::k4K};

using dialects::invalid;
using dialects::opt_string;
using dialects::rule;

// The tier of the seed-004 table cell that prints `s`, if any cell does.
std::optional<Tier> table_tier(Size s) {
  for (std::string_view ratio : kRatios) {
    for (Tier t : kTiers) {
      if (core::generations_table_size(*core::parse_ratio(ratio), t) == s) {
        return t;
      }
    }
  }
  if (std::find(std::begin(kAlternate1K), std::end(kAlternate1K), s) != std::end(kAlternate1K)) {
    return Tier::k1K;
  }
  return std::nullopt;
}

// Seed 001's rules for an explicit size not printed in seed 004's table.
core::Status check_explicit_rules(Size s) {
  const std::string p = "input.aspect_ratio";
  const std::string name = p + " " + std::to_string(s.width) + "x" + std::to_string(s.height);
  if (s.width % 16 != 0 || s.height % 16 != 0) {
    return rule(name + ": width and height must be multiples of 16", p);
  }
  if (s.width < core::kMinEdge || s.height < core::kMinEdge || s.width > core::kMaxEdge ||
      s.height > core::kMaxEdge) {
    return rule(name + ": each edge must be between 16 and 3840 pixels", p);
  }
  if (s.pixels() < core::kMinPixels || s.pixels() > core::kMaxPixels) {
    return rule(name + ": width x height must be between 655,360 and 8,294,400 pixels", p);
  }
  if (std::max(s.width, s.height) > 3 * std::min(s.width, s.height)) {
    return rule(name + ": the aspect ratio must be at most 3:1", p);
  }
  return core::ok_status();
}

core::Status explicit_size(std::string_view value, Size s, core::GenerationRequest& r) {
  const std::optional<Tier> tier = table_tier(s);
  if (!tier) {
    if (auto st = check_explicit_rules(s); !st) {
      return st;
    }
  }
  const int g = std::gcd(s.width, s.height);
  r.aspect_ratio = std::to_string(s.width / g) + ":" + std::to_string(s.height / g);
  r.size_label = std::string(value);
  r.size = s;
  r.tier = tier.value_or(core::tier_for_size(s));
  return core::ok_status();
}

core::Status check_size(const json::object& input, core::GenerationRequest& r) {
  auto aspect = opt_string(input, "aspect_ratio", "input.aspect_ratio");
  if (!aspect) {
    return aspect.error();
  }
  auto tier = dialects::opt_tier(input, "resolution", "input.resolution", "1k, 2k, 4k");
  if (!tier) {
    return tier.error();
  }
  r.tier = *tier;
  const std::string value = aspect->value_or("auto");
  if (value == "auto") {
    r.aspect_ratio = "auto";
    r.size = *core::generations_table_size({1, 1}, r.tier);
    return core::ok_status();
  }
  if (std::find(kRatios.begin(), kRatios.end(), value) != kRatios.end()) {
    r.aspect_ratio = value;
    r.size = *core::generations_table_size(*core::parse_ratio(value), r.tier);
    return core::ok_status();
  }
  if (auto pixels = parse_pixel_size(value)) {
    return explicit_size(value, *pixels, r);
  }
  return rule("input.aspect_ratio must be auto, one of " +
                  dialects::joined(std::vector<std::string_view>(kRatios.begin(), kRatios.end())) +
                  ", or a pixel size WxH such as 1881x836",
              "input.aspect_ratio");
}

core::Status check_model(const json::object& o, core::GenerationRequest& r) {
  const json::value* model = o.if_contains("model");
  if (model == nullptr || model->is_null()) {
    return invalid("'model' is required.", "model");
  }
  if (!model->is_string()) {
    return invalid("'model' must be a string.", "model");
  }
  r.model = std::string(model->get_string());
  if (r.model != kModel) {
    return make_error(
        ErrorCode::kModelNotFound,
        "Model '" + core::echo_text(r.model, 100) + "' does not exist or is inactive; use gpt-image-2.",
        "model");
  }
  return core::ok_status();
}

core::Status check_callback(const json::object& o, core::GenerationRequest& r) {
  auto url = opt_string(o, "callback_url", "callback_url");
  if (!url) {
    return url.error();
  }
  if (!*url) {
    return core::ok_status();
  }
  if (auto st = core::check_user_url(**url, "callback_url"); !st) {
    return st;
  }
  r.callback_url = **url;
  return core::ok_status();
}

core::Status check_prompt(const json::object& input, core::GenerationRequest& r) {
  auto prompt = opt_string(input, "prompt", "input.prompt");
  if (!prompt) {
    return prompt.error();
  }
  r.prompt = prompt->value_or("");
  return dialects::check_prompt_length(r.prompt, kMaxPromptChars, "input.prompt");
}

core::Status check_images(const json::object& input, core::GenerationRequest& r) {
  const std::string field = "input.image_urls";
  auto urls = dialects::opt_string_array(input, "image_urls", field);
  if (!urls) {
    return urls.error();
  }
  std::vector<std::string> list = urls->value_or(std::vector<std::string>{});
  if (list.size() > kMaxImageUrls) {
    return rule(field + " may contain at most " + std::to_string(kMaxImageUrls) + " URLs", field);
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (auto st = core::check_user_url(list[i], field + "[" + std::to_string(i) + "]"); !st) {
      return st;
    }
  }
  const bool has_prompt = r.prompt.find_first_not_of(" \t\r\n") != std::string::npos;
  if (!has_prompt && list.empty()) {
    return invalid("At least one of 'input.prompt' or 'input.image_urls' must be provided.",
                   "input.prompt");
  }
  r.mode = list.empty() ? core::Mode::kTextToImage : core::Mode::kImageToImage;
  r.input_urls = std::move(list);
  return core::ok_status();
}

core::Status check_nsfw(const json::object& input, core::GenerationRequest& r) {
  auto nsfw = dialects::opt_bool(input, "nsfw_checker", "input.nsfw_checker");
  if (!nsfw) {
    return nsfw.error();
  }
  r.safety_checker = nsfw->value_or(true);
  return core::ok_status();
}

}  // namespace

std::optional<Size> parse_pixel_size(std::string_view s) {
  auto size = dialects::parse_pixel_size(s);
  if (!size || size->width == 0 || size->height == 0) {
    return std::nullopt;
  }
  return size;
}

Tier explicit_size_tier(Size size) {
  return table_tier(size).value_or(core::tier_for_size(size));
}

core::Result<ParsedCreate> parse_create(std::string_view body) {
  core::JsonScratch scratch;  // the DOM dies with this function
  auto parsed = dialects::parse_object(body, scratch.storage());
  if (!parsed) {
    return parsed.error();
  }
  const json::object& o = *parsed;
  ParsedCreate out;
  core::GenerationRequest& r = out.request;
  r.dialect = core::Dialect::kGenerations;
  for (auto check : {check_model, check_callback}) {
    if (auto st = check(o, r); !st) {
      return st.error();
    }
  }
  const json::value* input = o.if_contains("input");
  if (input == nullptr || input->is_null()) {
    return invalid("'input' is required.", "input");
  }
  if (!input->is_object()) {
    return invalid("'input' must be an object.", "input");
  }
  for (auto check : {check_prompt, check_images, check_size, check_nsfw}) {
    if (auto st = check(input->get_object(), r); !st) {
      return st.error();
    }
  }
  out.param = json::serialize(o);
  return out;
}

std::string render_created(const core::Task& task) {
  json::object o{{"code", 200}, {"msg", "success"}, {"data", json::object{{"taskId", task.id}}}};
  return json::serialize(o);
}

std::string_view status_word(core::TaskState s) {
  switch (s) {
    case core::TaskState::kQueued: return "pending";
    case core::TaskState::kRunning: return "processing";
    case core::TaskState::kSucceeded: return "completed";
    case core::TaskState::kFailed:
    case core::TaskState::kCancelled: return "failed";
  }
  return "pending";
}

std::string render_task(const core::Task& task, const std::vector<std::string>& result_urls,
                        std::int64_t /*urls_expire_at_s*/) {
  json::object o;
  o["id"] = task.id;
  o["status"] = status_word(task.state);
  o["model"] = task.request.model;
  o["created_at"] = task.created_ms / 1000;
  if (task.state == core::TaskState::kSucceeded) {
    o["completed_at"] = task.completed_ms / 1000;
    json::array urls(result_urls.begin(), result_urls.end());
    const std::int64_t start = task.started_ms > 0 ? task.started_ms : task.created_ms;
    json::object metadata{
        {"model", task.request.mode == core::Mode::kImageToImage ? kImageToImage : kTextToImage},
        {"costTime", std::max<std::int64_t>(0, task.completed_ms - start)}};
    o["output"] = json::object{{"urls", std::move(urls)}, {"metadata", std::move(metadata)}};
  } else if (core::is_terminal(task.state)) {
    const bool cancelled = task.state == core::TaskState::kCancelled;
    std::string code =
        cancelled ? "cancelled"
                  : std::string(core::fail::public_code(core::Dialect::kGenerations, task.fail_code));
    std::string message = task.fail_msg;
    if (code.empty()) {
      code = "internal_error";
    }
    if (message.empty()) {
      message = cancelled ? "the task was cancelled" : "Generation failed";
    }
    o["error"] = json::object{{"code", code}, {"message", message}};
  } else {
    o["progress"] = nullptr;
  }
  return json::serialize(o);
}

ErrorWords error_words(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest:
    case ErrorCode::kValidationFailed: return {"invalid_request", "invalid_request_error"};
    case ErrorCode::kUnauthorized: return {"invalid_api_key", "authentication_error"};
    case ErrorCode::kInsufficientCredits: return {"insufficient_credits", "billing_error"};
    case ErrorCode::kForbidden: return {"ip_not_allowed", "permission_error"};
    case ErrorCode::kNotFound: return {"task_not_found", "invalid_request_error"};
    case ErrorCode::kRouteNotFound: return {"not_found", "invalid_request_error"};
    case ErrorCode::kModelNotFound: return {"model_not_found", "invalid_request_error"};
    case ErrorCode::kMethodNotAllowed: return {"method_not_allowed", "invalid_request_error"};
    case ErrorCode::kRequestTimeout: return {"request_timeout", "invalid_request_error"};
    case ErrorCode::kConflict: return {"conflict", "invalid_request_error"};
    case ErrorCode::kPayloadTooLarge: return {"payload_too_large", "invalid_request_error"};
    case ErrorCode::kRateLimited: return {"rate_limit_exceeded", "rate_limit_error"};
    case ErrorCode::kSpendLimited: return {"spend_limit_exceeded", "billing_error"};
    case ErrorCode::kTooManyActive: return {"rate_limit_exceeded", "rate_limit_error"};
    case ErrorCode::kHeadersTooLarge: return {"headers_too_large", "invalid_request_error"};
    case ErrorCode::kInternal: return {"internal_error", "api_error"};
    case ErrorCode::kUpstream: return {"upstream_error", "upstream_error"};
    case ErrorCode::kUnavailable: return {"service_unavailable", "api_error"};
  }
  return {"internal_error", "api_error"};
}

unsigned error_status(const core::Error& e) {
  if (e.code == ErrorCode::kValidationFailed) {
    return 400;
  }
  return static_cast<unsigned>(core::http_status(e.code));
}

std::string render_error(const core::Error& e) {
  const ErrorWords w = error_words(e.code);
  json::object o{
      {"error", json::object{{"code", w.code}, {"message", e.message}, {"type", w.type}}}};
  return json::serialize(o);
}

}  // namespace ig::api::generations
