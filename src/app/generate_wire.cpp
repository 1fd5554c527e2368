// `generate`: the wire side. Each dialect's create and status calls, and readers of its
// answers and envelopes; pure functions, no I/O.
#include "app/generate.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <stdexcept>

#include <boost/json.hpp>
#include <boost/throw_exception.hpp>

#include "http/url.hpp"

namespace ig::app {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view kTextToImage = "gpt-image-2-text-to-image";
constexpr std::string_view kImageToImage = "gpt-image-2-image-to-image";
constexpr std::string_view kModel = "gpt-image-2";
constexpr int kMaxImages = 10;  // unified `n`

constexpr int kBarWidth = 20;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

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

/// {"error": {"code", "message", ...}} (generations, unified) or {"error": "text"}.
std::string nested_envelope(const json::object& o) {
  const json::value* e = o.if_contains("error");
  if (e == nullptr) {
    return {};
  }
  if (e->is_string()) {
    return std::string(e->get_string());
  }
  if (!e->is_object()) {
    return {};
  }
  return with_code(string_at(e->get_object(), "message"), code_at(e->get_object(), "code"));
}

/// {"code", "msg" | "message", "error_code"?, "data"} (jobs, tasks). The numeric code repeats
/// the status and is left out.
std::string flat_envelope(const json::object& o) {
  std::string message = string_at(o, "msg");
  if (message.empty()) {
    message = string_at(o, "message");
  }
  return with_code(std::move(message), string_at(o, "error_code"));
}

std::string envelope_text(Dialect d, const json::object& o) {
  const bool flat = d == Dialect::kJobs || d == Dialect::kTasks;
  std::string text = flat ? flat_envelope(o) : nested_envelope(o);
  if (text.empty()) {
    text = flat ? nested_envelope(o) : flat_envelope(o);
  }
  return text;
}

/// jobs, tasks and generations answer 200 with {"code": 200, ...}; some deployments answer
/// HTTP 200 with another code in the body.
std::optional<Failure> envelope_code_failure(Dialect d, const json::object& o) {
  auto code = number_at(o, "code");
  if (!code || *code == 200) {
    return std::nullopt;
  }
  std::string text = envelope_text(d, o);
  return Failure{"code " + std::to_string(*code) + (text.empty() ? "" : ": " + text)};
}

Outcome<json::object> answer_object(Dialect d, unsigned status, std::string_view body) {
  if (status < 200 || status >= 300) {
    return Failure{error_message(d, status, body)};
  }
  auto v = parse_json(body);
  if (!v || !v->is_object()) {
    return Failure{"unexpected answer (not a JSON object): " + http::shorten(body)};
  }
  return std::move(v->get_object());
}

Phase phase_of(std::string_view word) {
  const std::string w = lower(word);
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

std::string task_error(const json::object& o, std::string_view key) {
  const json::value* e = o.if_contains(key);
  if (e != nullptr && e->is_string()) {
    return std::string(e->get_string());
  }
  if (e != nullptr && e->is_object()) {
    return with_code(string_at(e->get_object(), "message"), code_at(e->get_object(), "code"));
  }
  return {};
}

/// Fills state, progress, urls and error from the object that carries them.
void read_task_fields(Dialect d, const json::object& t, TaskStatus& s) {
  s.state = string_at(t, d == Dialect::kJobs ? "state" : "status");
  if (auto p = number_at(t, "progress")) {
    s.progress = static_cast<int>(std::clamp<std::int64_t>(*p, 0, 100));
  }
  switch (d) {
    case Dialect::kJobs:
      s.urls = jobs_result_urls(t);
      s.error = with_code(string_at(t, "failMsg"), code_at(t, "failCode"));
      break;
    case Dialect::kTasks:
      s.urls = urls_in(t.if_contains("output"));
      s.error = task_error(t, "error");
      break;
    case Dialect::kGenerations:
      if (const json::object* output = object_at(t, "output")) {
        s.urls = urls_in(output->if_contains("urls"));
      }
      s.error = task_error(t, "error");
      break;
    case Dialect::kUnified:
      s.urls = urls_in(t.if_contains("results"));
      s.error = task_error(t, "error");
      break;
  }
}

std::string seconds_text(milliseconds elapsed) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(elapsed.count()) / 1000.0);
  return buf;
}

}  // namespace

void throw_exception_from_error(const Failure& f, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(f.message), loc);
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

std::optional<std::string> usage_error(const GenerateOptions& o) {
  if (auto target = http::parse_target(o.server); !target) {
    return "--server: " + target.error().message;
  }
  if (blank(o.key)) {
    return std::string("--key must not be empty");
  }
  if (blank(o.prompt)) {
    return std::string("PROMPT must not be empty");
  }
  if (!o.mask_url.empty() && o.dialect != Dialect::kUnified) {
    return "--mask is only supported by the unified dialect (not " +
           std::string(to_string(o.dialect)) + ")";
  }
  if (!o.mask_url.empty() && o.image_urls.empty()) {
    return std::string("--mask needs at least one reference image (-i)");
  }
  if (o.n && (*o.n < 1 || *o.n > kMaxImages)) {
    return "-n must be between 1 and " + std::to_string(kMaxImages);
  }
  if (o.n && *o.n != 1 && o.dialect != Dialect::kUnified) {
    return "-n is only supported by the unified dialect (" + std::string(to_string(o.dialect)) +
           " makes one image per task)";
  }
  if (o.timeout.count() <= 0) {
    return std::string("--timeout must be positive");
  }
  if (o.out_dir.empty()) {
    return std::string("-o must not be empty");
  }
  return std::nullopt;
}

ApiCall create_call(const GenerateOptions& o) {
  switch (o.dialect) {
    case Dialect::kJobs:
    case Dialect::kTasks: {
      json::object input{{"prompt", o.prompt}};
      if (!o.image_urls.empty()) {
        input["input_urls"] = string_array(o.image_urls);
      }
      if (!o.size.empty()) {
        input["aspect_ratio"] = o.size;
      }
      if (!o.resolution.empty()) {
        input["resolution"] = upper(o.resolution);
      }
      json::object body{{"model", o.image_urls.empty() ? kTextToImage : kImageToImage},
                        {"input", std::move(input)}};
      return {"POST", o.dialect == Dialect::kJobs ? "/api/v1/jobs/createTask" : "/v1/tasks",
              json::serialize(body)};
    }
    case Dialect::kGenerations: {
      json::object input{{"prompt", o.prompt}};
      if (!o.image_urls.empty()) {
        input["image_urls"] = string_array(o.image_urls);
      }
      if (!o.size.empty()) {
        input["aspect_ratio"] = o.size;
      }
      if (!o.resolution.empty()) {
        input["resolution"] = lower(o.resolution);  // seed 004 writes 1k/2k/4k
      }
      json::object body{{"model", kModel}, {"input", std::move(input)}};
      return {"POST", "/v1/images/generations", json::serialize(body)};
    }
    case Dialect::kUnified: {
      json::object body{{"model", kModel}, {"prompt", o.prompt}};
      if (!o.image_urls.empty()) {
        body["image_urls"] = string_array(o.image_urls);
      }
      if (!o.mask_url.empty()) {
        body["mask_url"] = o.mask_url;
      }
      if (!o.size.empty()) {
        body["size"] = o.size;
      }
      if (!o.resolution.empty()) {
        body["resolution"] = upper(o.resolution);
      }
      if (o.n) {
        body["n"] = *o.n;
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

std::string join_url(std::string_view server, std::string_view path) {
  while (server.ends_with('/')) {
    server.remove_suffix(1);
  }
  return std::string(server) + std::string(path);
}

std::string error_message(Dialect d, unsigned status, std::string_view body) {
  std::string text;
  if (auto v = parse_json(body); v && v->is_object()) {
    text = envelope_text(d, v->get_object());
  } else if (!blank(body)) {
    text = http::shorten(body);  // a proxy's HTML or plain text
  }
  return "HTTP " + std::to_string(status) + (text.empty() ? "" : ": " + text);
}

Outcome<std::string> read_created(Dialect d, unsigned status, std::string_view body) {
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
    return Failure{"unexpected answer (no task id): " + http::shorten(body)};
  }
  // Tagged: a Failure can be built from a string too.
  return {boost::system::in_place_value, std::move(id)};
}

Outcome<TaskStatus> read_status(Dialect d, unsigned status, std::string_view body) {
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
      return Failure{"unexpected answer (no data): " + http::shorten(body)};
    }
  }
  TaskStatus s;
  read_task_fields(d, *task, s);
  if (s.state.empty()) {
    return Failure{"unexpected answer (no task status): " + http::shorten(body)};
  }
  s.phase = phase_of(s.state);
  if (s.phase == Phase::kFailed && s.error.empty()) {
    s.error = "the task failed without a message";
  }
  return s;
}

milliseconds poll_delay(int attempt) {
  const double ms = 500.0 * std::pow(1.5, std::clamp(attempt, 0, 30));
  return milliseconds(static_cast<std::int64_t>(std::min(ms, 5000.0)));
}

std::string result_extension(std::string_view content_type, std::string_view url) {
  std::string type = lower(content_type.substr(0, content_type.find(';')));
  type.erase(type.find_last_not_of(" \t") + 1);
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"image/png", "png"},   {"image/jpeg", "jpg"},  {"image/jpg", "jpg"},
      {"image/pjpeg", "jpg"}, {"image/webp", "webp"}, {"image/gif", "gif"},
      {"image/avif", "avif"}, {"image/bmp", "bmp"},   {"image/tiff", "tiff"}};
  for (const auto& [mime, ext] : kTypes) {
    if (type == mime) {
      return std::string(ext);
    }
  }
  std::string_view path = url.substr(0, url.find_first_of("?#"));
  if (auto scheme = path.find("://"); scheme != std::string_view::npos) {
    path.remove_prefix(scheme + 3);
    const auto slash = path.find('/');
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  path = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  const auto dot = path.rfind('.');
  if (dot != std::string_view::npos) {
    std::string ext = lower(path.substr(dot + 1));
    const bool usable =
        !ext.empty() && ext.size() <= 5 &&
        std::all_of(ext.begin(), ext.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
    if (usable) {
      return ext == "jpeg" ? "jpg" : ext;
    }
  }
  return "bin";
}

std::string result_file_name(std::string_view task_id, int n, std::string_view ext) {
  std::string name;
  for (unsigned char c : task_id) {
    const bool safe = std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
    name.push_back(safe ? static_cast<char>(c) : '_');
  }
  if (name.empty()) {
    name = "task";
  }
  return name + "-" + std::to_string(n) + "." + std::string(ext);
}

std::string status_line(std::string_view task_id, const TaskStatus& s, milliseconds elapsed,
                        bool terminal) {
  if (!terminal) {
    std::string line =
        "task " + std::string(task_id) + ": " + s.state + " (" + seconds_text(elapsed) + ")";
    if (s.progress) {
      line += " " + std::to_string(*s.progress) + "%";
    }
    return line;
  }
  // The id goes last: a narrow terminal clips it, not the state or the progress.
  std::string line = s.state + "  " + seconds_text(elapsed);
  if (s.progress) {
    const int filled = *s.progress * kBarWidth / 100;
    line += "  [" + std::string(filled, '#') + std::string(kBarWidth - filled, '-') + "] " +
            std::to_string(*s.progress) + "%";
  }
  return line + "  task " + std::string(task_id);
}

}  // namespace ig::app
