#include "api/dialects/unified.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <numeric>
#include <optional>

#include <boost/json.hpp>

#include "core/json_scratch.hpp"
#include "core/codec.hpp"
#include "core/fail_codes.hpp"
#include "core/sizes.hpp"
#include "core/url_check.hpp"

namespace ig::api::unified {
namespace json = boost::json;
using core::ErrorCode;
using core::make_error;
using core::Size;
using core::Tier;

namespace {

// Seed 001's 15 ratios, in its order.
constexpr std::array<std::string_view, 15> kRatios = {"1:1", "1:2",  "2:1",  "1:3",  "3:1",
                                                      "2:3", "3:2",  "3:4",  "4:3",  "4:5",
                                                      "5:4", "9:16", "16:9", "9:21", "21:9"};
constexpr std::array<std::string_view, 3> kQualities = {"low", "medium", "high"};

using dialects::invalid;
using dialects::opt_string;
using dialects::rule;

std::string joined(const auto& list) {
  return dialects::joined(std::vector<std::string_view>(list.begin(), list.end()));
}

// ASCII lower-case; the bytes of U+00D7 are left alone.
std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}


// The seed's explicit-size rules, edges first so that each message names the first rule broken.
core::Status check_explicit(std::string_view label, Size s) {
  const std::string name = "size " + std::string(label.substr(0, 40));
  if (s.width < core::kMinEdge || s.height < core::kMinEdge || s.width > core::kMaxEdge ||
      s.height > core::kMaxEdge) {
    return rule(name + ": each edge must be between 16 and 3840 pixels", "size");
  }
  if (s.width % 16 != 0 || s.height % 16 != 0) {
    return rule(name + ": width and height must be multiples of 16", "size");
  }
  if (s.pixels() < core::kMinPixels || s.pixels() > core::kMaxPixels) {
    return rule(name + ": width x height is " + std::to_string(s.pixels()) +
                    " pixels; it must be between 655,360 and 8,294,400",
                "size");
  }
  if (std::max(s.width, s.height) > 3 * std::min(s.width, s.height)) {
    return rule(name + ": the aspect ratio must be at most 3:1", "size");
  }
  return core::ok_status();
}

core::Status check_model(const json::object& o, core::GenerationRequest& r) {
  const json::value* model = o.if_contains("model");
  if (model == nullptr || model->is_null()) {
    return invalid("model is required", "model");
  }
  if (!model->is_string()) {
    return invalid("model must be a string", "model");
  }
  const std::string_view name = model->get_string();
  if (name != kModel) {
    return make_error(
        ErrorCode::kModelNotFound,
        "model '" + core::echo_text(name, 100) + "' does not exist; use gpt-image-2",
        "model");
  }
  r.model = std::string(kModel);
  return core::ok_status();
}

core::Status check_prompt(const json::object& o, core::GenerationRequest& r) {
  auto prompt = opt_string(o, "prompt", "prompt");
  if (!prompt) {
    return prompt.error();
  }
  if (!*prompt) {
    return invalid("prompt is required", "prompt");
  }
  r.prompt = std::move(**prompt);
  if (r.prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    return rule("prompt must not be empty", "prompt");
  }
  return dialects::check_prompt_length(r.prompt, kMaxPromptChars, "prompt");
}

// image_urls, then mask_url, which only counts with reference images.
core::Status check_images(const json::object& o, core::GenerationRequest& r) {
  auto urls = dialects::opt_string_array(o, "image_urls", "image_urls");
  if (!urls) {
    return urls.error();
  }
  auto mask = opt_string(o, "mask_url", "mask_url");
  if (!mask) {
    return mask.error();
  }
  if (!*urls) {
    r.mode = core::Mode::kTextToImage;
    return core::ok_status();
  }
  if ((*urls)->empty() || (*urls)->size() > kMaxImageUrls) {
    return rule("image_urls must contain 1 to " + std::to_string(kMaxImageUrls) + " URLs; it has " +
                    std::to_string((*urls)->size()),
                "image_urls");
  }
  for (std::size_t i = 0; i < (*urls)->size(); ++i) {
    const std::string param = "image_urls[" + std::to_string(i) + "]";
    if (auto st = core::check_user_url((**urls)[i], param); !st) {
      return st;
    }
  }
  r.mode = core::Mode::kImageToImage;
  r.input_urls = std::move(**urls);
  if (*mask) {
    if (auto st = core::check_user_url(**mask, "mask_url"); !st) {
      return st;
    }
    r.mask_url = std::move(**mask);
  }
  return core::ok_status();
}

core::Status check_size(const json::object& o, core::GenerationRequest& r) {
  auto size = opt_string(o, "size", "size");
  if (!size) {
    return size.error();
  }
  auto tier = dialects::opt_tier(o, "resolution", "resolution", "1K, 2K, 4K");
  if (!tier) {
    return tier.error();
  }
  r.size_label = size->value_or("auto");
  const std::string value = lower(r.size_label);
  if (value == "auto") {
    // The seed: resolution does not apply to auto. Text-to-image is square at 1K; with
    // references the dispatcher follows the first one's shape.
    r.aspect_ratio = "auto";
    r.tier = Tier::k1K;
    r.size = r.input_urls.empty() ? core::unified_budget_size({1, 1}, r.tier) : Size{};
    return core::ok_status();
  }
  if (std::find(kRatios.begin(), kRatios.end(), value) != kRatios.end()) {
    r.aspect_ratio = value;
    r.tier = *tier;
    r.size = core::unified_budget_size(*core::parse_ratio(value), r.tier);
    return core::ok_status();
  }
  const std::optional<Size> pixels = dialects::parse_pixel_size(value);
  if (!pixels) {
    return rule("size must be auto, one of " + joined(kRatios) +
                    ", or an explicit size WxH such as 1536x1024",
                "size");
  }
  if (auto st = check_explicit(r.size_label, *pixels); !st) {
    return st;
  }
  const int g = std::gcd(pixels->width, pixels->height);
  r.aspect_ratio = std::to_string(pixels->width / g) + ":" + std::to_string(pixels->height / g);
  r.tier = core::tier_for_size(*pixels);  // `resolution` never resizes an explicit size
  r.size = *pixels;
  return core::ok_status();
}

core::Status check_options(const json::object& o, core::GenerationRequest& r) {
  auto quality = opt_string(o, "quality", "quality");
  if (!quality) {
    return quality.error();
  }
  r.quality = lower(quality->value_or("medium"));
  if (std::find(kQualities.begin(), kQualities.end(), r.quality) == kQualities.end()) {
    return rule("quality must be one of " + joined(kQualities), "quality");
  }
  auto n = dialects::opt_int(o, "n", "n");
  if (!n) {
    return n.error();
  }
  const long long count = n->value_or(1);
  if (count < 1 || count > kMaxImages) {
    return rule("n must be between 1 and " + std::to_string(kMaxImages), "n");
  }
  r.n = static_cast<int>(count);
  auto callback = opt_string(o, "callback_url", "callback_url");
  if (!callback) {
    return callback.error();
  }
  if (*callback) {
    if (auto st = core::check_user_url(**callback, "callback_url", kMaxCallbackChars); !st) {
      return st;
    }
    r.callback_url = std::move(**callback);
  }
  return core::ok_status();
}

// Boost.JSON 1.81 writes doubles in exponent form (2.5E0); clients of the seed expect 2.5.
std::string number_text(double v) {
  char buf[512];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  if (ec != std::errc{}) {
    return "0";
  }
  return std::string(buf, end);
}

json::object task_error(const core::Task& task) {
  if (task.state == core::TaskState::kCancelled) {
    return json::object{
        {"code", "request_cancelled"},
        {"message", task.fail_msg.empty() ? "the task was cancelled" : task.fail_msg},
        {"type", "task_error"}};
  }
  return json::object{{"code", task.fail_code.empty()
                                    ? std::string_view("unknown_error")
                                    : core::fail::public_code(core::Dialect::kUnified, task.fail_code)},
                      {"message", task.fail_msg.empty() ? "Generation failed" : task.fail_msg},
                      {"type", "task_error"}};
}

}  // namespace

core::Result<ParsedCreate> parse_create(std::string_view body) {
  core::JsonScratch scratch;  // the DOM dies with this function
  auto parsed = dialects::parse_object(body, scratch.storage());
  if (!parsed) {
    return parsed.error();
  }
  const json::object& o = *parsed;
  ParsedCreate out;
  core::GenerationRequest& r = out.request;
  r.dialect = core::Dialect::kUnified;
  // check_images before check_size: an auto size depends on whether references exist.
  for (auto check : {check_model, check_prompt, check_images, check_size, check_options}) {
    if (auto st = check(o, r); !st) {
      return st.error();
    }
  }
  out.param = json::serialize(o);
  return out;
}

std::string_view status_word(core::TaskState s) {
  switch (s) {
    case core::TaskState::kQueued:
      return "pending";
    case core::TaskState::kRunning:
      return "processing";
    case core::TaskState::kSucceeded:
      return "completed";
    case core::TaskState::kFailed:
    case core::TaskState::kCancelled:
      return "failed";
  }
  return "pending";
}

int progress_for(core::TaskState s) {
  if (s == core::TaskState::kQueued) {
    return 0;
  }
  return s == core::TaskState::kRunning ? kRunningProgress : 100;
}

std::string render_task(const core::Task& task, const std::vector<std::string>& result_urls) {
  const bool can_cancel = !core::is_terminal(task.state);
  json::object o;
  o["created"] = task.created_ms / 1000;
  if (task.state == core::TaskState::kFailed || task.state == core::TaskState::kCancelled) {
    o["error"] = task_error(task);
  }
  o["id"] = task.id;
  o["model"] = task.request.model.empty() ? kModel : std::string_view(task.request.model);
  o["object"] = "image.generation.task";
  o["progress"] = progress_for(task.state);
  if (task.state == core::TaskState::kSucceeded) {
    o["results"] = json::array(result_urls.begin(), result_urls.end());
  }
  o["status"] = status_word(task.state);
  json::object info{{"can_cancel", can_cancel}};
  if (can_cancel) {
    info["estimated_time"] = kEstimatedSeconds;
  }
  o["task_info"] = std::move(info);
  o["type"] = "image";
  // `usage` goes last, written by hand for its decimal number (see number_text).
  // credits_reserved is what the task holds from its key's account (the price table's quote).
  std::string out = json::serialize(o);
  out.pop_back();
  out += R"(,"usage":{"billing_rule":"per_call","credits_reserved":)" +
         number_text(task.state == core::TaskState::kFailed ||
                             task.state == core::TaskState::kCancelled
                         ? 0.0  // refunded
                         : static_cast<double>(task.price) / 1e6) +
         R"(,"user_group":"default"}})";
  return out;
}

ErrorWords error_words(const core::Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidRequest:
      if (e.param == "task_id") {
        return {"invalid_task_id", "invalid_request_error"};
      }
      return {"invalid_parameters", "invalid_request_error"};
    case ErrorCode::kValidationFailed:
      return {"invalid_parameters", "invalid_request_error"};
    case ErrorCode::kUnauthorized:
      return {"unauthorized", "authentication_error"};
    case ErrorCode::kInsufficientCredits:
      return {"insufficient_quota", "insufficient_quota_error"};
    case ErrorCode::kForbidden:
      return {"permission_denied", "permission_error"};
    case ErrorCode::kNotFound:
      return {"task_not_found", "invalid_request_error"};
    case ErrorCode::kRouteNotFound:
      return {"not_found", "invalid_request_error"};
    case ErrorCode::kModelNotFound:
      return {"model_not_found", "invalid_request_error"};
    case ErrorCode::kMethodNotAllowed:
      return {"method_not_allowed", "invalid_request_error"};
    case ErrorCode::kRequestTimeout:
      return {"request_timeout", "invalid_request_error"};
    case ErrorCode::kConflict:
      return {"conflict", "invalid_request_error"};
    case ErrorCode::kPayloadTooLarge:
      return {"request_too_large", "invalid_request_error"};
    case ErrorCode::kRateLimited:
    case ErrorCode::kTooManyActive:
      return {"rate_limit_exceeded", "rate_limit_error"};
    case ErrorCode::kSpendLimited:
      return {"spend_limit_exceeded", "rate_limit_error"};
    case ErrorCode::kHeadersTooLarge:
      return {"headers_too_large", "invalid_request_error"};
    case ErrorCode::kInternal:
      return {"internal_error", "api_error"};
    case ErrorCode::kUpstream:
      return {"service_error", "api_error"};
    case ErrorCode::kUnavailable:
      return {"service_unavailable", "api_error"};
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
  const ErrorWords w = error_words(e);
  json::object err{{"code", w.code}, {"message", e.message}, {"type", w.type}};
  err["param"] = e.param.empty() ? json::value(nullptr) : json::value(e.param);
  return json::serialize(json::object{{"error", std::move(err)}});
}

core::Status check_task_id(std::string_view id) {
  auto bad = [] {
    return invalid(
        "Invalid task ID format, must start with 'task-unified-' "
        "(task-unified-<unix seconds>-<8 characters>)",
        "task_id");
  };
  if (!id.starts_with(kTaskIdPrefix)) {
    return bad();
  }
  const std::string_view rest = id.substr(kTaskIdPrefix.size());
  const std::size_t dash = rest.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 19) {
    return bad();
  }
  const std::string_view secs = rest.substr(0, dash);
  const std::string_view tail = rest.substr(dash + 1);
  const bool digits =
      std::all_of(secs.begin(), secs.end(), [](char c) { return c >= '0' && c <= '9'; });
  const bool alnum = tail.size() == 8 && std::all_of(tail.begin(), tail.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                     });
  if (!digits || !alnum) {
    return bad();
  }
  return core::ok_status();
}

}  // namespace ig::api::unified
