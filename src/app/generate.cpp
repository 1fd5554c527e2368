#include "app/generate.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <ostream>
#include <stdexcept>
#include <thread>

#include <sys/ioctl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <boost/throw_exception.hpp>

#include "http/client.hpp"
#include "http/url.hpp"

namespace ig::app {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view kTextToImage = "gpt-image-2-text-to-image";
constexpr std::string_view kImageToImage = "gpt-image-2-image-to-image";
constexpr std::string_view kModel = "gpt-image-2";
constexpr int kMaxImages = 10;  // unified `n`

constexpr std::size_t kApiBodyCap = 4 * 1024 * 1024;
constexpr std::size_t kResultBodyCap = 256 * 1024 * 1024;
constexpr milliseconds kApiCallTimeout{60'000};
constexpr milliseconds kDownloadTimeout{300'000};
constexpr int kDownloadRedirects = 3;
// Polling survives a server restart or a proxy hiccup, not a server that is gone.
constexpr int kMaxTransientErrors = 5;
constexpr milliseconds kRedrawEvery{250};
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

namespace {

bool transient(const http::Result<http::Response>& r) {
  if (!r) {
    return r.error().kind != http::ErrorKind::kInvalidUrl;
  }
  return r->status == 429 || r->status >= 500;
}

struct Ok {};

std::size_t terminal_columns() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) != 0) {
    return 0;
  }
  return ws.ws_col;
}

/// One `generate` run: the client, the clock and what the user has been shown.
class Runner {
 public:
  Runner(const GenerateOptions& o, std::ostream& out, std::ostream& err, bool terminal)
      : o_(o), out_(out), err_(err), terminal_(terminal), client_(http::ClientConfig{}) {}

  Outcome<Ok> run() {
    auto id = create();
    if (!id) {
      return Failure{"creating the task failed: " + id.error().message};
    }
    task_id_ = *id;
    auto done = poll();
    end_line();
    if (!done) {
      return done.error();
    }
    if (done->phase == Phase::kFailed) {
      return Failure{"task " + task_id_ + " failed: " + done->error};
    }
    if (done->urls.empty()) {
      return Failure{"task " + task_id_ + " succeeded but returned no result URLs"};
    }
    for (std::size_t i = 0; i < done->urls.size(); ++i) {
      auto saved = download(done->urls[i], static_cast<int>(i + 1));
      if (!saved) {
        return saved.error();
      }
      out_ << saved->string() << "\n" << std::flush;
    }
    return Ok{};
  }

 private:
  milliseconds elapsed() const {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start_);
  }
  milliseconds remaining() const {
    return std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now());
  }

  http::Result<http::Response> call(const ApiCall& c) {
    http::Request req{c.method, join_url(o_.server, c.path), {}, c.body};
    req.headers = {{"Authorization", "Bearer " + o_.key}, {"Accept", "application/json"}};
    if (!c.body.empty()) {
      req.headers.emplace_back("Content-Type", "application/json");
    }
    const http::Limits limits{std::min(kApiCallTimeout, remaining()), kApiBodyCap, 0};
    return client_.send(req, limits);
  }

  Outcome<std::string> create() {
    auto r = call(create_call(o_));
    if (!r) {
      return Failure{r.error().message};
    }
    return read_created(o_.dialect, r->status, r->body);
  }

  Outcome<TaskStatus> poll() {
    TaskStatus last{"created", Phase::kQueued, std::nullopt, {}, {}};
    show(last);
    int errors = 0;
    for (int attempt = 0;; ++attempt) {
      wait(poll_delay(attempt), last);
      if (remaining().count() <= 0) {
        return Failure{"gave up after " + std::to_string(o_.timeout.count()) + " s: task " +
                       task_id_ + " is still " + last.state};
      }
      auto r = call(status_call(o_.dialect, task_id_));
      if (transient(r) && ++errors < kMaxTransientErrors) {
        end_line();
        err_ << "imagegate: polling failed, retrying: "
             << (r ? error_message(o_.dialect, r->status, r->body) : r.error().message) << "\n";
        continue;
      }
      if (!r) {
        return Failure{"polling task " + task_id_ + " failed: " + r.error().message};
      }
      auto s = read_status(o_.dialect, r->status, r->body);
      if (!s) {
        return Failure{"polling task " + task_id_ + " failed: " + s.error().message};
      }
      errors = 0;
      last = std::move(*s);
      show(last);
      if (last.phase == Phase::kSucceeded || last.phase == Phase::kFailed) {
        return last;
      }
    }
  }

  // Waits `delay` (never past the deadline), redrawing the elapsed time on a terminal.
  void wait(milliseconds delay, const TaskStatus& last) {
    const auto until = std::min(Clock::now() + delay, deadline_);
    for (auto now = Clock::now(); now < until; now = Clock::now()) {
      const Clock::duration left = until - now;  // not truncated: 0 ms would spin
      std::this_thread::sleep_for(terminal_ ? std::min<Clock::duration>(kRedrawEvery, left) : left);
      if (terminal_) {
        show(last);
      }
    }
  }

  void show(const TaskStatus& s) {
    if (terminal_) {
      std::string line = status_line(task_id_, s, elapsed(), true);
      if (columns_ > 1 && line.size() >= columns_) {
        line.resize(columns_ - 1);  // a wrapped line cannot be redrawn with \r
      }
      err_ << "\r\033[K" << line << std::flush;
      line_open_ = true;
      return;
    }
    if (s.state != last_state_) {
      err_ << status_line(task_id_, s, elapsed(), false) << "\n" << std::flush;
      last_state_ = s.state;
    }
  }

  void end_line() {
    if (line_open_) {
      err_ << "\n" << std::flush;
      line_open_ = false;
    }
  }

  Outcome<std::filesystem::path> download(const std::string& url, int n) {
    std::string absolute = url;
    if (url.starts_with('/')) {
      // A relative result URL is on the server that answered.
      auto resolved = http::resolve_location(o_.server, url);
      absolute = resolved ? *resolved : url;
    }
    const std::string what = "downloading result " + std::to_string(n) + " of task " + task_id_;
    if (remaining().count() <= 0) {
      return Failure{what + ": gave up after " + std::to_string(o_.timeout.count()) + " s"};
    }
    // No Authorization: result URLs are signed, and may live on another host.
    const http::Request req{"GET", absolute, {}, {}};
    const http::Limits limits{std::min(kDownloadTimeout, remaining()), kResultBodyCap,
                              kDownloadRedirects};
    auto r = client_.send(req, limits);
    if (!r) {
      return Failure{what + " failed: " + r.error().message};
    }
    if (r->status < 200 || r->status >= 300) {
      return Failure{what + " failed: HTTP " + std::to_string(r->status) +
                     (blank(r->body) ? "" : ": " + http::shorten(r->body))};
    }
    const auto ext = result_extension(r->header("Content-Type"), r->url);
    const auto path = (o_.out_dir / result_file_name(task_id_, n, ext)).lexically_normal();
    auto saved = write_file(path, r->body);
    if (!saved) {
      return Failure{what + ": " + saved.error().message};
    }
    return {boost::system::in_place_value, path};
  }

  // Written beside the target and renamed, so a file under the final name is complete.
  static Outcome<Ok> write_file(const std::filesystem::path& path, const std::string& data) {
    auto part = path;
    part += ".part";
    {
      std::ofstream f(part, std::ios::binary | std::ios::trunc);
      f.write(data.data(), static_cast<std::streamsize>(data.size()));
      if (!f.flush()) {
        return Failure{"cannot write " + part.string()};
      }
    }
    std::error_code ec;
    std::filesystem::rename(part, path, ec);
    if (ec) {
      std::filesystem::remove(part, ec);
      return Failure{"cannot write " + path.string() + ": " + ec.message()};
    }
    return Ok{};
  }

  const GenerateOptions& o_;
  std::ostream& out_;
  std::ostream& err_;
  const bool terminal_;
  http::Client client_;
  const Clock::time_point start_ = Clock::now();
  const Clock::time_point deadline_ = start_ + o_.timeout;
  std::string task_id_;
  std::string last_state_;
  bool line_open_ = false;
  const std::size_t columns_ = terminal_columns();
};

}  // namespace

int run_generate(const GenerateOptions& o, std::ostream& out, std::ostream& err, bool terminal) {
  if (auto bad = usage_error(o)) {
    err << "imagegate generate: " << *bad << "\n";
    return kExitUsage;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec) {
    err << "imagegate: cannot create " << o.out_dir.string() << ": " << ec.message() << "\n";
    return kExitFailed;
  }
  try {
    Runner runner(o, out, err, terminal);
    if (auto done = runner.run(); !done) {
      err << "imagegate: " << done.error().message << "\n";
      return kExitFailed;
    }
  } catch (const std::exception& e) {
    err << "imagegate: unexpected error: " << e.what() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace ig::app
