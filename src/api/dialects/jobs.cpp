#include "api/dialects/jobs.hpp"

#include <algorithm>
#include <array>

#include <boost/json.hpp>

#include <charconv>

#include "core/json_scratch.hpp"
#include "core/codec.hpp"
#include "core/fail_codes.hpp"
#include "core/sizes.hpp"
#include "core/url_check.hpp"

namespace ig::api::jobs {
namespace json = boost::json;
using core::ErrorCode;
using core::make_error;

namespace {

constexpr std::array<std::string_view, 11> kAspectRatios = {
    "auto", "1:1", "5:4", "4:5", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9"};
constexpr std::array<std::string_view, 4> kQualities = {"low", "medium", "high", "auto"};

using dialects::invalid;
using dialects::opt_string;
using dialects::rule;

std::string joined(const auto& list) {
  return dialects::joined(std::vector<std::string_view>(list.begin(), list.end()));
}

// The reference image list: input_urls, or its aliases image_urls / image_input.
core::Result<std::vector<std::string>> reference_urls(const json::object& input,
                                                      std::string& field) {
  std::vector<std::string> urls;
  for (std::string_view key : {"input_urls", "image_urls", "image_input"}) {
    const json::value* v = input.if_contains(key);
    if (v == nullptr || v->is_null()) {
      continue;
    }
    const std::string param = "input." + std::string(key);
    if (!v->is_array()) {
      return invalid(param + " must be an array of URL strings", param);
    }
    field = param;
    for (const json::value& e : v->get_array()) {
      if (!e.is_string()) {
        return invalid(param + " must be an array of URL strings", param);
      }
      urls.emplace_back(e.get_string());
    }
    break;
  }
  return urls;
}

core::Status check_prompt(const json::object& input, core::GenerationRequest& r) {
  return dialects::check_input_prompt(input, kMaxPromptChars, r);
}

core::Status check_references(const json::object& input, core::GenerationRequest& r) {
  std::string field = "input.input_urls";
  auto urls = reference_urls(input, field);
  if (!urls) {
    return urls.error();
  }
  if (r.mode == core::Mode::kTextToImage) {
    if (!urls->empty()) {
      return rule(field + " is not supported by " + std::string(kTextToImage) + "; use " +
                      std::string(kImageToImage) + " for image-to-image",
                  field);
    }
    return core::ok_status();
  }
  if (urls->empty()) {
    const bool present = input.contains("input_urls") || input.contains("image_urls") ||
                         input.contains("image_input");
    if (!present) {
      return invalid("input.input_urls is required for " + std::string(kImageToImage),
                     "input.input_urls");
    }
    return rule(field + " must contain at least one image URL", field);
  }
  if (urls->size() > kMaxInputUrls) {
    return rule(field + " may contain at most " + std::to_string(kMaxInputUrls) + " URLs",
                field);
  }
  for (std::size_t i = 0; i < urls->size(); ++i) {
    const std::string param = field + "[" + std::to_string(i) + "]";
    if (auto st = core::check_user_url((*urls)[i], param); !st) {
      return st.error();
    }
  }
  r.input_urls = std::move(*urls);
  return core::ok_status();
}

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
    return rule("input.aspect_ratio must be one of " + joined(kAspectRatios),
                "input.aspect_ratio");
  }
  r.tier = *tier;
  const bool i2i = r.mode == core::Mode::kImageToImage;
  if (r.aspect_ratio == "auto") {
    if (i2i && r.tier != core::Tier::k1K) {
      return rule("input.resolution " + std::string(core::to_string(r.tier)) +
                      " is not supported when aspect_ratio is auto or omitted; only 1K is",
                  "input.resolution");
    }
    // Text-to-image: the model's default is square. Image-to-image: the first reference's
    // shape, known once it is fetched.
    r.size = i2i ? core::Size{} : *core::unified_table_size({1, 1}, r.tier);
    return core::ok_status();
  }
  if (i2i && r.tier == core::Tier::k4K && r.aspect_ratio == "1:1") {
    return rule("input.resolution 4K is not supported with aspect_ratio 1:1",
                "input.resolution");
  }
  r.size = *core::unified_table_size(*core::parse_ratio(r.aspect_ratio), r.tier);
  return core::ok_status();
}

core::Status check_passthrough(const json::object& input, core::GenerationRequest& r) {
  auto quality = opt_string(input, "quality", "input.quality");
  if (!quality) {
    return quality.error();
  }
  if (*quality) {
    if (std::find(kQualities.begin(), kQualities.end(), **quality) == kQualities.end()) {
      return rule("input.quality must be one of " + joined(kQualities), "input.quality");
    }
    r.quality = **quality;
  }
  auto format = opt_string(input, "output_format", "input.output_format");
  if (!format) {
    return format.error();
  }
  if (*format) {
    std::string f = **format;
    std::transform(f.begin(), f.end(), f.begin(), [](unsigned char c) { return std::tolower(c); });
    if (f == "jpg") {
      f = "jpeg";
    }
    if (f != "png" && f != "jpeg" && f != "webp") {
      return rule("input.output_format must be one of png, jpeg, webp", "input.output_format");
    }
    r.output_format = f;
  }
  return core::ok_status();
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
  r.dialect = core::Dialect::kJobs;

  const json::value* model = o.if_contains("model");
  if (model == nullptr || model->is_null()) {
    return invalid("model is required", "model");
  }
  if (!model->is_string()) {
    return invalid("model must be a string", "model");
  }
  r.model = std::string(model->get_string());
  if (r.model == kTextToImage) {
    r.mode = core::Mode::kTextToImage;
  } else if (r.model == kImageToImage) {
    r.mode = core::Mode::kImageToImage;
  } else {
    return make_error(ErrorCode::kModelNotFound,
                      "model must be exactly " + std::string(kTextToImage) + " or " +
                          std::string(kImageToImage),
                      "model");
  }
  const json::value* input = o.if_contains("input");
  if (input == nullptr || input->is_null()) {
    return invalid("input is required", "input");
  }
  if (!input->is_object()) {
    return invalid("input must be an object", "input");
  }
  const json::object& in = input->get_object();
  for (auto check : {check_prompt, check_references, check_size, check_passthrough}) {
    if (auto st = check(in, r); !st) {
      return st.error();
    }
  }
  // The Kie family's callback field, beside `model` and `input`.
  if (const json::value* cb = o.if_contains("callBackUrl"); cb != nullptr && !cb->is_null()) {
    if (!cb->is_string()) {
      return invalid("callBackUrl must be a string", "callBackUrl");
    }
    if (auto st = core::check_user_url(cb->get_string(), "callBackUrl"); !st) {
      return st.error();
    }
    r.callback_url = std::string(cb->get_string());
  }
  out.param = json::serialize(o);
  return out;
}

std::string render_created(std::string_view task_id) {
  // Every create answers this: written directly, the text json::serialize made of it.
  std::string out = R"({"code":200,"msg":"success","data":{"taskId":)";
  core::append_json_string(out, task_id);
  out += "}}";
  return out;
}

std::string_view state_word(core::TaskState s) {
  switch (s) {
    case core::TaskState::kQueued:
    case core::TaskState::kRunning: return "waiting";
    case core::TaskState::kSucceeded: return "success";
    case core::TaskState::kFailed:
    case core::TaskState::kCancelled: return "fail";
  }
  return "waiting";
}

std::string render_record(const core::Task& task, const std::vector<std::string>& result_urls) {
  // Every poll renders this, so it is written directly rather than through a json::object
  // (which cost about four times as much); the text is what json::serialize made of one.
  auto number = [](std::string& out, std::int64_t v) {
    char buf[24];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  };
  std::string out;
  out.reserve(256 + task.id.size() + task.request.model.size() + task.param.size() +
              task.fail_msg.size() + result_urls.size() * 256);
  out += R"({"code":200,"msg":"success","data":{"taskId":)";
  core::append_json_string(out, task.id);
  out += R"(,"model":)";
  core::append_json_string(out, task.request.model);
  out += R"(,"state":)";
  core::append_json_string(out, state_word(task.state));
  out += R"(,"param":)";
  core::append_json_string(out, task.param);
  out += R"(,"resultJson":)";
  if (task.state == core::TaskState::kSucceeded) {
    // A string holding JSON: {"resultUrls":[...]}, escaped once more.
    std::string inner = R"({"resultUrls":[)";
    for (std::size_t i = 0; i < result_urls.size(); ++i) {
      if (i > 0) {
        inner += ',';
      }
      core::append_json_string(inner, result_urls[i]);
    }
    inner += "]}";
    core::append_json_string(out, inner);
  } else {
    out += "null";
  }
  const bool failed =
      task.state == core::TaskState::kFailed || task.state == core::TaskState::kCancelled;
  out += R"(,"failCode":)";
  if (failed) {
    core::append_json_string(out, core::fail::public_code(core::Dialect::kJobs, task.fail_code));
  } else {
    out += "null";
  }
  out += R"(,"failMsg":)";
  if (failed) {
    core::append_json_string(out, task.fail_msg);
  } else {
    out += "null";
  }
  if (core::is_terminal(task.state) && task.completed_ms > 0) {
    out += R"(,"costTime":)";
    number(out, task.completed_ms - task.created_ms);
    out += R"(,"completeTime":)";
    number(out, task.completed_ms);
  } else {
    out += R"(,"costTime":null,"completeTime":null)";
  }
  out += R"(,"createTime":)";
  number(out, task.created_ms);
  out += "}}";
  return out;
}

unsigned error_status(const core::Error& e) {
  // This dialect's table has no 404 for models: an unknown model is a validation failure.
  if (e.code == ErrorCode::kModelNotFound) {
    return 422;
  }
  // Its table's 409: "Active task limit exceeded".
  if (e.code == ErrorCode::kTooManyActive) {
    return 409;
  }
  return static_cast<unsigned>(core::http_status(e.code));
}

std::string render_error(const core::Error& e) {
  json::object o{{"code", error_status(e)}, {"msg", e.message}, {"data", nullptr}};
  return json::serialize(o);
}

}  // namespace ig::api::jobs
