#include "api/dialects/tasks.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

#include <boost/json.hpp>

#include "core/json_scratch.hpp"
#include "core/codec.hpp"
#include "core/fail_codes.hpp"
#include "core/sizes.hpp"
#include "core/url_check.hpp"

namespace ig::api::tasks_dialect {
namespace json = boost::json;
using core::ErrorCode;
using core::make_error;

namespace {

// Seed 003's enum, in its order.
constexpr std::array<std::string_view, 16> kAspectRatios = {
    "auto", "1:1",  "3:2", "2:3", "4:3", "3:4", "5:4",  "4:5",
    "16:9", "9:16", "2:1", "1:2", "3:1", "1:3", "21:9", "9:21"};

using dialects::invalid;
using dialects::opt_string;
using dialects::rule;

std::string joined(const auto& list) {
  return dialects::joined(std::vector<std::string_view>(list.begin(), list.end()));
}

// A required object member: missing or null → 400 "<param> is required".
core::Result<const json::object*> required_object(const json::object& o, std::string_view key,
                                                  const std::string& param) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return invalid(param + " is required", param);
  }
  if (!v->is_object()) {
    return invalid(param + " must be an object", param);
  }
  return &v->get_object();
}

core::Status check_model(const json::object& o, core::GenerationRequest& r) {
  const json::value* model = o.if_contains("model");
  if (model == nullptr || model->is_null()) {
    return invalid("model is required", "model");
  }
  if (!model->is_string()) {
    return invalid("model must be a string", "model");
  }
  r.model = std::string(model->get_string());
  // HiAPI's pages also name the model `gpt-image-2` (the mode follows input_urls) and
  // `gpt-image-2/text-to-image`, `gpt-image-2/image-to-image`.
  if (r.model == kImageToImage || r.model == kImageToImageSlash) {
    r.mode = core::Mode::kImageToImage;
    return core::ok_status();
  }
  if (r.model == kTextToImage || r.model == kTextToImageSlash) {
    r.mode = core::Mode::kTextToImage;
    return core::ok_status();
  }
  if (r.model == kFamily) {
    r.mode = core::Mode::kTextToImage;
    const json::value* input = o.if_contains("input");
    if (input != nullptr && input->is_object()) {
      const json::value* urls = input->get_object().if_contains("input_urls");
      if (urls != nullptr && urls->is_array() && !urls->get_array().empty()) {
        r.mode = core::Mode::kImageToImage;
      }
    }
    return core::ok_status();
  }
  return make_error(ErrorCode::kModelNotFound,
                    "model " + core::echo_text(r.model, 100) + " does not exist; use " +
                        std::string(kImageToImage) + ", " + std::string(kTextToImage) + " or " +
                        std::string(kFamily),
                    "model");
}

core::Status check_prompt(const json::object& input, core::GenerationRequest& r) {
  return dialects::check_input_prompt(input, kMaxPromptChars, r);
}

core::Status check_references(const json::object& input, core::GenerationRequest& r) {
  const std::string field = "input.input_urls";
  auto urls = dialects::opt_string_array(input, "input_urls", field);
  if (!urls) {
    return urls.error();
  }
  if (r.mode == core::Mode::kTextToImage) {
    if (*urls && !(*urls)->empty()) {
      return rule(field + " is not supported by " + r.model + "; use " +
                      std::string(kImageToImage),
                  field);
    }
    return core::ok_status();
  }
  if (!*urls) {
    return invalid(field + " is required for " + std::string(kImageToImage), field);
  }
  const std::vector<std::string>& list = **urls;
  if (list.empty()) {
    return rule(field + " must contain at least one image URL", field);
  }
  if (list.size() > kMaxInputUrls) {
    return rule(field + " may contain at most " + std::to_string(kMaxInputUrls) + " URLs", field);
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (auto st = core::check_user_url(list[i], field + "[" + std::to_string(i) + "]"); !st) {
      return st.error();
    }
  }
  r.input_urls = list;
  return core::ok_status();
}

// Seed 001's pixel table for every ratio (the same numbers the `jobs` dialect uses). `auto`:
// text-to-image is square; image-to-image takes the first reference's shape, so the size is
// left {0,0} for the dispatcher to resolve once the reference is fetched.
core::Status check_size(const json::object& input, core::GenerationRequest& r) {
  auto aspect = opt_string(input, "aspect_ratio", "input.aspect_ratio");
  if (!aspect) {
    return aspect.error();
  }
  auto tier = dialects::opt_tier(input, "resolution", "input.resolution", "1K, 2K, 4K");
  if (!tier) {
    return tier.error();
  }
  r.aspect_ratio = aspect->value_or("auto");
  if (std::find(kAspectRatios.begin(), kAspectRatios.end(), r.aspect_ratio) ==
      kAspectRatios.end()) {
    return rule("input.aspect_ratio must be one of " + joined(kAspectRatios), "input.aspect_ratio");
  }
  r.tier = *tier;
  if (r.aspect_ratio == "auto") {
    r.size = r.mode == core::Mode::kImageToImage ? core::Size{}
                                                 : *core::unified_table_size({1, 1}, r.tier);
    return core::ok_status();
  }
  r.size = *core::unified_table_size(*core::parse_ratio(r.aspect_ratio), r.tier);
  return core::ok_status();
}

core::Status check_callback(const json::object& o, core::GenerationRequest& r) {
  const json::value* v = o.if_contains("callback");
  if (v == nullptr || v->is_null()) {
    return core::ok_status();
  }
  auto callback = required_object(o, "callback", "callback");
  if (!callback) {
    return callback.error();
  }
  const json::object& cb = **callback;
  auto url = opt_string(cb, "url", "callback.url");
  if (!url) {
    return url.error();
  }
  if (!*url) {
    return invalid("callback.url is required when callback is present", "callback.url");
  }
  if (auto st = core::check_user_url(**url, "callback.url"); !st) {
    return st.error();
  }
  auto when = opt_string(cb, "when", "callback.when");
  if (!when) {
    return when.error();
  }
  if (when->value_or("final") != "final") {
    return rule("callback.when must be final", "callback.when");
  }
  r.callback_url = **url;
  return core::ok_status();
}

// The `expires=` query parameter of a signed result URL, if it has one.
std::optional<std::int64_t> expires_of(std::string_view url) {
  for (std::string_view key : {"?expires=", "&expires="}) {
    const auto at = url.find(key);
    if (at == std::string_view::npos) {
      continue;
    }
    const char* first = url.data() + at + key.size();
    const char* last = url.data() + url.size();
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(first, last, value);
    if (ec == std::errc{} && end != first && (end == last || *end == '&' || *end == '#')) {
      return value;
    }
  }
  return std::nullopt;
}

json::object task_data(const core::Task& task, const std::vector<std::string>& urls,
                       const auto& expire_at) {
  json::object d;
  d["taskId"] = task.id;
  d["model"] = task.request.model;
  d["status"] = status_word(task.state);
  d["created"] = task.created_ms / 1000;
  d["completed"] = core::is_terminal(task.state) ? task.completed_ms / 1000 : 0;
  json::array output;
  if (task.state == core::TaskState::kSucceeded) {
    for (const std::string& url : urls) {
      output.emplace_back(
          json::object{{"url", url}, {"type", "image"}, {"expireAt", expire_at(url)}});
    }
  }
  d["output"] = std::move(output);
  if (task.state == core::TaskState::kFailed || task.state == core::TaskState::kCancelled) {
    std::string code = task.fail_code.empty()
                           ? "internal_error"
                           : std::string(core::fail::public_code(core::Dialect::kTasks, task.fail_code));
    std::string message = task.fail_msg;
    if (task.state == core::TaskState::kCancelled) {
      code = "cancelled";
      message = message.empty() ? "the task was cancelled" : message;
    }
    d["error"] = json::object{{"code", code}, {"message", message}};
  }
  return d;
}

std::string envelope(json::value data) {
  json::object o{{"code", 200}, {"message", "success"}, {"data", std::move(data)}};
  return json::serialize(o);
}

// A decimal query value; empty gives `fallback`.
std::optional<int> query_int(std::string_view s, int fallback) {
  if (s.empty()) {
    return fallback;
  }
  int value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return value;
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
  r.dialect = core::Dialect::kTasks;
  if (auto st = check_model(o, r); !st) {
    return st.error();
  }
  auto input = required_object(o, "input", "input");
  if (!input) {
    return input.error();
  }
  for (auto check : {check_prompt, check_references, check_size}) {
    if (auto st = check(**input, r); !st) {
      return st.error();
    }
  }
  if (auto st = check_callback(o, r); !st) {
    return st.error();
  }
  out.param = json::serialize(o);
  return out;
}

std::string render_created(const core::Task& task) {
  return envelope(json::object{{"taskId", task.id}});
}

std::string render_task(const core::Task& task, const std::vector<std::string>& result_urls,
                        std::int64_t urls_expire_at_s) {
  return envelope(task_data(task, result_urls,
                            [urls_expire_at_s](std::string_view) { return urls_expire_at_s; }));
}

std::string render_list(const std::vector<core::Task>& tasks,
                        const std::vector<std::vector<std::string>>& urls, std::int64_t now_s,
                        int page, int page_size, std::int64_t total) {
  const auto expire_at = [now_s](std::string_view url) { return expires_of(url).value_or(now_s); };
  const std::vector<std::string> none;
  json::array items;
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    items.emplace_back(task_data(tasks[i], i < urls.size() ? urls[i] : none, expire_at));
  }
  return envelope(json::object{
      {"page", page}, {"size", page_size}, {"total", total}, {"tasks", std::move(items)}});
}

core::Result<std::pair<int, int>> parse_list_query(std::string_view page,
                                                   std::string_view page_size) {
  const auto p = query_int(page, 1);
  if (!p || *p < 1) {
    return invalid("page must be an integer of at least 1", "page");
  }
  const auto n = query_int(page_size, kDefaultPageSize);
  if (!n || *n < 1 || *n > kMaxPageSize) {
    return invalid("page_size must be an integer from 1 to " + std::to_string(kMaxPageSize),
                   "page_size");
  }
  return std::pair<int, int>{*p, *n};
}

std::string_view status_word(core::TaskState s) {
  switch (s) {
    case core::TaskState::kQueued: return "queued";
    case core::TaskState::kRunning: return "handling";
    case core::TaskState::kSucceeded: return "success";
    case core::TaskState::kFailed:
    case core::TaskState::kCancelled: return "fail";
  }
  return "queued";
}

std::string_view error_code_word(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest: return "INVALID_REQUEST";
    case ErrorCode::kUnauthorized: return "UNAUTHORIZED";
    case ErrorCode::kInsufficientCredits: return "INSUFFICIENT_CREDITS";
    case ErrorCode::kForbidden: return "FORBIDDEN";
    case ErrorCode::kNotFound: return "TASK_NOT_FOUND";
    case ErrorCode::kRouteNotFound: return "NOT_FOUND";
    case ErrorCode::kModelNotFound: return "MODEL_NOT_FOUND";
    case ErrorCode::kMethodNotAllowed: return "METHOD_NOT_ALLOWED";
    case ErrorCode::kRequestTimeout: return "REQUEST_TIMEOUT";
    case ErrorCode::kConflict: return "CONFLICT";
    case ErrorCode::kPayloadTooLarge: return "PAYLOAD_TOO_LARGE";
    case ErrorCode::kValidationFailed: return "VALIDATION_FAILED";
    case ErrorCode::kRateLimited: return "RATE_LIMITED";
    case ErrorCode::kSpendLimited: return "SPEND_LIMIT_EXCEEDED";
    case ErrorCode::kTooManyActive: return "ACTIVE_TASK_LIMIT";
    case ErrorCode::kHeadersTooLarge: return "HEADERS_TOO_LARGE";
    case ErrorCode::kInternal: return "INTERNAL_ERROR";
    case ErrorCode::kUpstream: return "UPSTREAM_ERROR";
    case ErrorCode::kUnavailable: return "SERVICE_UNAVAILABLE";
  }
  return "INTERNAL_ERROR";
}

unsigned error_status(const core::Error& e) {
  return static_cast<unsigned>(core::http_status(e.code));
}

std::string render_error(const core::Error& e) {
  json::object o{{"code", error_status(e)},
                 {"message", e.message},
                 {"data", nullptr},
                 {"error_code", error_code_word(e.code)}};
  return json::serialize(o);
}

}  // namespace ig::api::tasks_dialect
