// The four task dialects as a client speaks them: create and status calls, and readers of
// their answers and envelopes. Pure functions, no I/O.
#include "providers/relay/wire.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include <boost/json.hpp>
#include <boost/throw_exception.hpp>

#include "core/sizes.hpp"
#include "http/url.hpp"

namespace ig::providers::relay {

namespace json = boost::json;

namespace {

constexpr std::string_view kTextToImageSuffix = "-text-to-image";
constexpr std::string_view kImageToImageSuffix = "-image-to-image";

// The ratios each document lists (seed 002/000 for jobs; 003, 004 and 001 share fifteen).
constexpr std::array<std::string_view, 10> kJobsRatios = {"1:1", "5:4", "4:5",  "4:3",  "3:4",
                                                          "3:2", "2:3", "16:9", "9:16", "21:9"};
constexpr std::array<std::string_view, 15> kWideRatios = {"1:1", "3:2", "2:3",  "4:3",  "3:4",
                                                          "5:4", "4:5", "16:9", "9:16", "2:1",
                                                          "1:2", "3:1", "1:3",  "21:9", "9:21"};

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.append({'%', kHex[c >> 4], kHex[c & 15]});
    }
  }
  return out;
}

json::array string_array(const std::vector<std::string>& values) {
  json::array a;
  for (const auto& v : values) {
    a.emplace_back(v);
  }
  return a;
}

std::string model_for(Dialect d, const CreateParams& p) {
  if (d == Dialect::kGenerations || d == Dialect::kUnified) {
    return p.model;
  }
  return p.model + std::string(p.image_urls.empty() ? kTextToImageSuffix : kImageToImageSuffix);
}

// --- relay parameters

// The listed ratio nearest to width:height (by the logarithm of the ratio); the first of equals.
std::string_view nearest_ratio(core::Size s, Dialect d) {
  const double want = std::log(static_cast<double>(s.width) / s.height);
  auto consider = [&](const auto& list) {
    std::string_view best = list.front();
    double best_distance = 1e9;
    for (std::string_view r : list) {
      const auto ratio = core::parse_ratio(r);
      const double distance = std::abs(std::log(static_cast<double>(ratio->w) / ratio->h) - want);
      if (distance < best_distance - 1e-12) {
        best = r;
        best_distance = distance;
      }
    }
    return best;
  };
  return d == Dialect::kJobs ? consider(kJobsRatios) : consider(kWideRatios);
}

// Seed 001's explicit-size rules.
bool unified_explicit_ok(core::Size s) {
  return s.width >= core::kMinEdge && s.height >= core::kMinEdge && s.width <= core::kMaxEdge &&
         s.height <= core::kMaxEdge && s.width % 16 == 0 && s.height % 16 == 0 &&
         s.pixels() >= core::kMinPixels && s.pixels() <= core::kMaxPixels &&
         std::max(s.width, s.height) <= 3 * std::min(s.width, s.height);
}

// The shape to ask for: the promised size, or the request's ratio when none is resolved.
core::Size shape_of(const core::GenerationRequest& r) {
  if (r.size.width > 0 && r.size.height > 0) {
    return r.size;
  }
  if (auto ratio = core::parse_ratio(r.aspect_ratio)) {
    return {ratio->w, ratio->h};
  }
  return {1, 1};
}

// --- reading answers

std::optional<json::value> parse_json(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    return std::nullopt;
  }
  return v;
}

const json::object* object_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? &v->get_object() : nullptr;
}

std::string string_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

/// A string or integer field as text ("" when absent or null).
std::string code_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    return {};
  }
  if (v->is_string()) {
    return std::string(v->get_string());
  }
  if (v->is_int64() || v->is_uint64()) {
    return json::serialize(*v);
  }
  return {};
}

std::optional<std::int64_t> number_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto n = v->to_number<double>(ec);
  if (ec) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(std::llround(n));
}

std::string with_code(std::string message, const std::string& code) {
  if (message.empty()) {
    return code;
  }
  if (!code.empty() && code != message) {
    message.append(" (").append(code).append(")");
  }
  return message;
}

/// An error's two parts: the upstream's code and its message.
struct Parts {
  std::string code;
  std::string message;
  bool empty() const { return code.empty() && message.empty(); }
  std::string text() const { return with_code(message, code); }
};

/// {"error": {"code", "message", ...}} (generations, unified) or {"error": "text"}.
Parts nested_envelope(const json::object& o) {
  const json::value* e = o.if_contains("error");
  if (e == nullptr) {
    return {};
  }
  if (e->is_string()) {
    return {{}, std::string(e->get_string())};
  }
  if (!e->is_object()) {
    return {};
  }
  return {code_at(e->get_object(), "code"), string_at(e->get_object(), "message")};
}

/// {"code", "msg" | "message", "error_code"?, "data"} (jobs, tasks). The numeric code repeats
/// the status and is left out.
Parts flat_envelope(const json::object& o) {
  std::string message = string_at(o, "msg");
  if (message.empty()) {
    message = string_at(o, "message");
  }
  return {string_at(o, "error_code"), std::move(message)};
}

Parts envelope_parts(Dialect d, const json::object& o) {
  const bool flat = d == Dialect::kJobs || d == Dialect::kTasks;
  Parts parts = flat ? flat_envelope(o) : nested_envelope(o);
  if (parts.empty()) {
    parts = flat ? nested_envelope(o) : flat_envelope(o);
  }
  return parts;
}

/// jobs, tasks and generations answer 200 with {"code": 200, ...}; some deployments answer
/// HTTP 200 with another code in the body.
std::optional<WireError> envelope_code_failure(Dialect d, const json::object& o) {
  auto code = number_at(o, "code");
  if (!code || *code == 200) {
    return std::nullopt;
  }
  Parts parts = envelope_parts(d, o);
  std::string text = parts.text();
  WireError e;
  e.message = "code " + std::to_string(*code) + (text.empty() ? "" : ": " + text);
  e.status = *code > 0 && *code < 1000 ? static_cast<unsigned>(*code) : 0;
  e.code = std::move(parts.code);
  e.detail = std::move(parts.message);
  return e;
}

WireError unexpected(std::string what, std::string_view body) {
  WireError e;
  e.message = "unexpected answer (" + what + "): " + http::shorten(body);
  return e;
}

WireResult<json::object> answer_object(Dialect d, unsigned status, std::string_view body) {
  if (status < 200 || status >= 300) {
    return read_error(d, status, body);
  }
  auto v = parse_json(body);
  if (!v || !v->is_object()) {
    return unexpected("not a JSON object", body);
  }
  return std::move(v->get_object());
}

Phase phase_of(std::string_view word) {
  const std::string w = http::ascii_lower(word);
  if (w == "waiting" || w == "queuing" || w == "queued" || w == "pending") {
    return Phase::kQueued;
  }
  if (w == "success" || w == "succeeded" || w == "completed") {
    return Phase::kSucceeded;
  }
  if (w == "fail" || w == "failed" || w == "error" || w == "cancelled" || w == "canceled") {
    return Phase::kFailed;
  }
  return Phase::kRunning;  // generating, handling, processing, …: keep polling
}

/// URLs from an array of strings or of {"url": …} objects.
std::vector<std::string> urls_in(const json::value* v) {
  std::vector<std::string> urls;
  if (v == nullptr || !v->is_array()) {
    return urls;
  }
  for (const auto& e : v->get_array()) {
    if (e.is_string()) {
      urls.emplace_back(e.get_string());
    } else if (e.is_object()) {
      if (auto url = string_at(e.get_object(), "url"); !url.empty()) {
        urls.push_back(std::move(url));
      }
    }
  }
  return urls;
}

/// jobs: `resultJson` is a JSON *string* holding {"resultUrls": [...]}.
std::vector<std::string> jobs_result_urls(const json::object& data) {
  const json::value* r = data.if_contains("resultJson");
  std::optional<json::value> parsed;
  if (r != nullptr && r->is_string()) {
    parsed = parse_json(r->get_string());
    r = parsed ? &*parsed : nullptr;
  }
  if (r == nullptr || !r->is_object()) {
    return {};
  }
  return urls_in(r->get_object().if_contains("resultUrls"));
}

Parts task_error(const json::object& o, std::string_view key) {
  const json::value* e = o.if_contains(key);
  if (e != nullptr && e->is_string()) {
    return {{}, std::string(e->get_string())};
  }
  if (e != nullptr && e->is_object()) {
    return {code_at(e->get_object(), "code"), string_at(e->get_object(), "message")};
  }
  return {};
}

/// Fills state, progress, urls and error from the object that carries them.
void read_task_fields(Dialect d, const json::object& t, TaskStatus& s) {
  s.state = string_at(t, d == Dialect::kJobs ? "state" : "status");
  if (auto p = number_at(t, "progress")) {
    s.progress = static_cast<int>(std::clamp<std::int64_t>(*p, 0, 100));
  }
  Parts error;
  switch (d) {
    case Dialect::kJobs:
      s.urls = jobs_result_urls(t);
      error = {code_at(t, "failCode"), string_at(t, "failMsg")};
      break;
    case Dialect::kTasks:
      s.urls = urls_in(t.if_contains("output"));
      error = task_error(t, "error");
      break;
    case Dialect::kGenerations:
      if (const json::object* output = object_at(t, "output")) {
        s.urls = urls_in(output->if_contains("urls"));
      }
      error = task_error(t, "error");
      break;
    case Dialect::kUnified:
      s.urls = urls_in(t.if_contains("results"));
      error = task_error(t, "error");
      break;
  }
  s.error = error.text();
  s.error_code = std::move(error.code);
  s.error_message = std::move(error.message);
}

}  // namespace

void throw_exception_from_error(const WireError& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(e.message), loc);
}

std::optional<Dialect> parse_dialect(std::string_view name) {
  for (Dialect d : {Dialect::kJobs, Dialect::kTasks, Dialect::kGenerations, Dialect::kUnified}) {
    if (name == to_string(d)) {
      return d;
    }
  }
  return std::nullopt;
}

std::string_view to_string(Dialect d) {
  switch (d) {
    case Dialect::kJobs:
      return "jobs";
    case Dialect::kTasks:
      return "tasks";
    case Dialect::kGenerations:
      return "generations";
    case Dialect::kUnified:
      return "unified";
  }
  return "jobs";
}

ApiCall create_call(Dialect d, const CreateParams& p) {
  switch (d) {
    case Dialect::kJobs:
    case Dialect::kTasks: {
      json::object input{{"prompt", p.prompt}};
      if (!p.image_urls.empty()) {
        input["input_urls"] = string_array(p.image_urls);
      }
      if (!p.size.empty()) {
        input["aspect_ratio"] = p.size;
      }
      if (!p.resolution.empty()) {
        input["resolution"] = upper(p.resolution);
      }
      // Seed 002 passes these through for text-to-image; seed 000 and 003 have neither.
      if (d == Dialect::kJobs && p.image_urls.empty()) {
        if (!p.quality.empty()) {
          input["quality"] = p.quality;
        }
        if (!p.output_format.empty()) {
          input["output_format"] = p.output_format;
        }
      }
      json::object body{{"model", model_for(d, p)}, {"input", std::move(input)}};
      return {"POST", d == Dialect::kJobs ? "/api/v1/jobs/createTask" : "/v1/tasks",
              json::serialize(body)};
    }
    case Dialect::kGenerations: {
      json::object input{{"prompt", p.prompt}};
      if (!p.image_urls.empty()) {
        input["image_urls"] = string_array(p.image_urls);
      }
      if (!p.size.empty()) {
        input["aspect_ratio"] = p.size;
      }
      if (!p.resolution.empty()) {
        input["resolution"] = http::ascii_lower(p.resolution);  // seed 004 writes 1k/2k/4k
      }
      if (p.nsfw_checker) {
        input["nsfw_checker"] = *p.nsfw_checker;
      }
      json::object body{{"model", model_for(d, p)}, {"input", std::move(input)}};
      return {"POST", "/v1/images/generations", json::serialize(body)};
    }
    case Dialect::kUnified: {
      json::object body{{"model", model_for(d, p)}, {"prompt", p.prompt}};
      if (!p.image_urls.empty()) {
        body["image_urls"] = string_array(p.image_urls);
      }
      if (!p.mask_url.empty()) {
        body["mask_url"] = p.mask_url;
      }
      if (!p.size.empty()) {
        body["size"] = p.size;
      }
      if (!p.resolution.empty()) {
        body["resolution"] = upper(p.resolution);
      }
      if (!p.quality.empty()) {
        body["quality"] = p.quality;
      }
      if (p.n) {
        body["n"] = *p.n;
      }
      return {"POST", "/v1/images/generations", json::serialize(body)};
    }
  }
  return {};
}

ApiCall status_call(Dialect d, std::string_view task_id) {
  if (d == Dialect::kJobs) {
    return {"GET", "/api/v1/jobs/recordInfo?taskId=" + percent_encode(task_id), ""};
  }
  return {"GET", "/v1/tasks/" + percent_encode(task_id), ""};
}

std::string join_url(std::string_view base, std::string_view path) {
  while (base.ends_with('/')) {
    base.remove_suffix(1);
  }
  return std::string(base) + std::string(path);
}

CreateParams relay_params(Dialect d, const core::GenerationRequest& r,
                          std::vector<std::string> image_urls, std::string mask_url,
                          std::string_view model) {
  CreateParams p;
  p.model = std::string(model);
  p.prompt = r.prompt;
  p.image_urls = std::move(image_urls);
  const core::Size shape = shape_of(r);
  core::Tier tier = r.tier;
  switch (d) {
    case Dialect::kJobs:
      p.size = std::string(nearest_ratio(shape, d));
      // Seed 000: image-to-image has no 4K at 1:1; the result is fitted to the promise.
      if (!p.image_urls.empty() && tier == core::Tier::k4K && p.size == "1:1") {
        tier = core::Tier::k2K;
      }
      p.resolution = std::string(core::to_string(tier));
      if (r.quality == "low" || r.quality == "medium" || r.quality == "high" ||
          r.quality == "auto") {
        p.quality = r.quality;
      }
      p.output_format = r.output_format;
      break;
    case Dialect::kTasks:
    case Dialect::kGenerations:
      p.size = std::string(nearest_ratio(shape, d));
      p.resolution = std::string(core::to_string(tier));
      if (d == Dialect::kGenerations && !r.safety_checker) {
        p.nsfw_checker = false;
      }
      break;
    case Dialect::kUnified:
      if (unified_explicit_ok(shape)) {
        p.size = std::to_string(shape.width) + "x" + std::to_string(shape.height);
      } else {
        p.size = std::string(nearest_ratio(shape, d));
        p.resolution = std::string(core::to_string(tier));
      }
      if (r.quality == "low" || r.quality == "medium" || r.quality == "high") {
        p.quality = r.quality;
      }
      p.mask_url = std::move(mask_url);
      p.n = std::max(r.n, 1);
      break;
  }
  return p;
}

WireError read_error(Dialect d, unsigned status, std::string_view body) {
  WireError e;
  e.status = status;
  std::string text;
  if (auto v = parse_json(body); v && v->is_object()) {
    Parts parts = envelope_parts(d, v->get_object());
    text = parts.text();
    e.code = std::move(parts.code);
    e.detail = std::move(parts.message);
  } else if (!blank(body)) {
    text = http::shorten(body);  // a proxy's HTML or plain text
  }
  e.message = "HTTP " + std::to_string(status) + (text.empty() ? "" : ": " + text);
  return e;
}

std::string error_message(Dialect d, unsigned status, std::string_view body) {
  return read_error(d, status, body).message;
}

WireResult<std::string> read_created(Dialect d, unsigned status, std::string_view body) {
  auto o = answer_object(d, status, body);
  if (!o) {
    return o.error();
  }
  std::string id;
  if (d == Dialect::kUnified) {
    id = string_at(*o, "id");  // the task object itself
  } else {
    if (auto failure = envelope_code_failure(d, *o)) {
      return *failure;
    }
    if (const json::object* data = object_at(*o, "data")) {
      id = string_at(*data, "taskId");
    }
  }
  if (id.empty()) {
    return unexpected("no task id", body);
  }
  // Tagged: a WireError can be built from a string too.
  return {boost::system::in_place_value, std::move(id)};
}

WireResult<TaskStatus> read_status(Dialect d, unsigned status, std::string_view body) {
  auto o = answer_object(d, status, body);
  if (!o) {
    return o.error();
  }
  const json::object* task = &*o;
  if (d == Dialect::kJobs || d == Dialect::kTasks) {
    if (auto failure = envelope_code_failure(d, *o)) {
      return *failure;
    }
    task = object_at(*o, "data");
    if (task == nullptr) {
      return unexpected("no data", body);
    }
  }
  TaskStatus s;
  read_task_fields(d, *task, s);
  if (s.state.empty()) {
    return unexpected("no task status", body);
  }
  s.phase = phase_of(s.state);
  if (s.phase == Phase::kFailed && s.error.empty()) {
    s.error = "the task failed without a message";
  }
  return s;
}

bool is_moderation_code(std::string_view code) {
  const std::string c = http::ascii_lower(code);
  for (std::string_view word :
       {"content_policy", "moderation", "sensitive", "nsfw", "safety", "prohibited"}) {
    if (c.find(word) != std::string::npos) {
      return true;
    }
  }
  return false;
}

}  // namespace ig::providers::relay
