#include "api/router.hpp"

#include <charconv>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "api/auth.hpp"
#include "api/dialects/jobs.hpp"
#include "api/metrics.hpp"
#include "storage/result_storage.hpp"
#include "storage/url_signer.hpp"
#include "store/store.hpp"
#include "tasks/task_service.hpp"

namespace ig::api {

namespace json = boost::json;
using core::ErrorCode;
using core::make_error;

namespace {

constexpr std::string_view kJobsPrefix = "/api/v1/jobs/";
constexpr std::string_view kFilesPrefix = "/files/";

std::string generic_error_body(const core::Error& e) {
  json::object err{{"code", core::to_string(e.code)}, {"message", e.message}};
  return json::serialize(json::object{{"error", std::move(err)}});
}

std::string_view content_type_for(std::string_view key) {
  if (key.ends_with(".png")) {
    return "image/png";
  }
  if (key.ends_with(".jpg") || key.ends_with(".jpeg")) {
    return "image/jpeg";
  }
  if (key.ends_with(".webp")) {
    return "image/webp";
  }
  return "application/octet-stream";
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) {
    return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// A single "bytes=" range against an object of `size` bytes. nullopt: unsatisfiable.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_range(std::string_view v,
                                                                    std::uint64_t size) {
  constexpr std::string_view kUnit = "bytes=";
  if (!v.starts_with(kUnit) || v.find(',') != std::string_view::npos || size == 0) {
    return std::nullopt;
  }
  v.remove_prefix(kUnit.size());
  const auto dash = v.find('-');
  if (dash == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view a = v.substr(0, dash);
  std::string_view b = v.substr(dash + 1);
  std::uint64_t first = 0;
  std::uint64_t last = size - 1;
  if (a.empty()) {
    std::uint64_t suffix = 0;
    if (!parse_u64(b, suffix) || suffix == 0) {
      return std::nullopt;
    }
    first = suffix >= size ? 0 : size - suffix;
  } else {
    if (!parse_u64(a, first) || first >= size) {
      return std::nullopt;
    }
    if (!b.empty()) {
      if (!parse_u64(b, last) || last < first) {
        return std::nullopt;
      }
      last = std::min(last, size - 1);
    }
  }
  return std::make_pair(first, last);
}

}  // namespace

Router::Router(RouterDeps deps) : d_(std::move(deps)) {}

Response Router::render_error(std::string_view target, const core::Error& e) const {
  if (target.starts_with(kJobsPrefix)) {
    return json_response(jobs::error_status(e), jobs::render_error(e));
  }
  return json_response(static_cast<unsigned>(core::http_status(e.code)), generic_error_body(e));
}

std::vector<std::string> Router::result_urls(const core::Task& task) const {
  std::vector<std::string> urls;
  const std::int64_t expires = task.completed_ms / 1000 + d_.result_ttl_s;
  for (const auto& r : task.results) {
    const std::string path = std::string(kFilesPrefix) + r.key;
    urls.push_back(d_.public_base + path + "?" + d_.signer.signed_query(path, expires));
  }
  return urls;
}

boost::asio::awaitable<Response> Router::handle(Request& req, RequestInfo& info) {
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) {
    info.route = "invalid";
    co_return render_error("", make_error(ErrorCode::kInvalidRequest, "invalid request target"));
  }
  const std::string path = url->path();
  const auto method = req.method();
  auto param = [&](std::string_view name) -> std::string {
    auto it = url->params().find(name);
    return it == url->params().end() ? std::string() : std::string((*it).value);
  };

  if (path.starts_with(kJobsPrefix)) {
    const std::string_view action = std::string_view(path).substr(kJobsPrefix.size());
    const bool create = action == "createTask";
    const bool record = action == "recordInfo";
    if (!create && !record) {
      info.route = "jobs_unknown";
      co_return render_error(path, make_error(ErrorCode::kNotFound, "no such endpoint: " + path));
    }
    info.route = create ? "jobs_create" : "jobs_record";
    if ((create && method != http::verb::post) || (record && method != http::verb::get)) {
      Response res = render_error(path, make_error(ErrorCode::kMethodNotAllowed,
                                                   "method not allowed; use " +
                                                       std::string(create ? "POST" : "GET")));
      res.set(http::field::allow, create ? "POST" : "GET");
      co_return res;
    }
    if (create) {
      co_return co_await jobs_create(req, info);
    }
    co_return co_await jobs_record(req, info, param("taskId"));
  }
  if (path.starts_with(kFilesPrefix)) {
    info.route = "files";
    if (method != http::verb::get && method != http::verb::head) {
      co_return render_error("", make_error(ErrorCode::kMethodNotAllowed, "use GET or HEAD"));
    }
    co_return co_await serve_file(req, std::string_view(path).substr(kFilesPrefix.size()),
                                  param("expires"), param("signature"));
  }
  if (path == "/healthz") {
    info.route = "healthz";
    co_return text_response(200, "ok\n", "text/plain");
  }
  if (path == "/readyz") {
    info.route = "readyz";
    const bool store_ok = co_await runtime::offload(d_.pool, [this] { return d_.store.healthy(); });
    const bool ready = store_ok && (!d_.ready || d_.ready());
    co_return text_response(ready ? 200 : 503, ready ? "ready\n" : "not ready\n", "text/plain");
  }
  if (path == "/metrics") {
    info.route = "metrics";
    co_return co_await metrics();
  }
  info.route = "unknown";
  co_return render_error("", make_error(ErrorCode::kNotFound, "no route for " + path));
}

boost::asio::awaitable<Response> Router::jobs_create(Request& req, RequestInfo& info) {
  auto key = co_await d_.auth.authenticate(req[http::field::authorization]);
  if (!key) {
    co_return render_error(kJobsPrefix, key.error());
  }
  auto parsed = jobs::parse_create(req.body());
  if (!parsed) {
    co_return render_error(kJobsPrefix, parsed.error());
  }
  auto task = co_await d_.tasks.create(*key, std::move(parsed->request), std::move(parsed->param));
  if (!task) {
    co_return render_error(kJobsPrefix,
                           make_error(ErrorCode::kInternal,
                                      "could not create the task (request id " +
                                          info.request_id + ")"));
  }
  co_return json_response(200, jobs::render_created(task->id));
}

boost::asio::awaitable<Response> Router::jobs_record(Request& req, RequestInfo&,
                                                     std::string_view task_id) {
  auto key = co_await d_.auth.authenticate(req[http::field::authorization]);
  if (!key) {
    co_return render_error(kJobsPrefix, key.error());
  }
  if (task_id.empty()) {
    co_return render_error(kJobsPrefix, make_error(ErrorCode::kInvalidRequest,
                                                   "taskId query parameter is required",
                                                   "taskId"));
  }
  auto task = co_await d_.tasks.get(*key, std::string(task_id));
  if (!task) {
    co_return render_error(kJobsPrefix, task.error());
  }
  co_return json_response(200, jobs::render_record(*task, result_urls(*task)));
}

boost::asio::awaitable<Response> Router::serve_file(Request& req, std::string_view key,
                                                    std::string_view expires,
                                                    std::string_view signature) {
  const std::string path = std::string(kFilesPrefix) + std::string(key);
  const auto verdict =
      d_.signer.verify(path, expires, signature, d_.clock.now_ms() / 1000);
  if (verdict == storage::UrlSigner::Verdict::kBadSignature) {
    co_return render_error("", make_error(ErrorCode::kForbidden, "invalid signature"));
  }
  if (verdict == storage::UrlSigner::Verdict::kExpired) {
    co_return render_error("", make_error(ErrorCode::kForbidden, "this link has expired"));
  }
  const std::string k(key);
  auto size = co_await runtime::offload(d_.pool, [&] { return d_.results.size(k); });
  if (!size) {
    co_return render_error("", make_error(ErrorCode::kNotFound, "result not found"));
  }
  std::uint64_t first = 0;
  std::uint64_t last = *size == 0 ? 0 : *size - 1;
  bool partial = false;
  if (auto range = req[http::field::range]; !range.empty()) {
    auto r = parse_range(range, *size);
    if (!r) {
      Response res = text_response(416, "", "text/plain");
      res.set(http::field::content_range, "bytes */" + std::to_string(*size));
      co_return res;
    }
    std::tie(first, last) = *r;
    partial = true;
  }
  const std::uint64_t length = *size == 0 ? 0 : last - first + 1;
  std::string body;
  if (req.method() != http::verb::head && length > 0) {
    auto data = co_await runtime::offload(d_.pool, [&] { return d_.results.read(k, first, length); });
    if (!data) {
      co_return render_error("", make_error(ErrorCode::kInternal, "could not read the result"));
    }
    body = std::move(*data);
  }
  Response res{partial ? http::status::partial_content : http::status::ok, req.version()};
  res.set(http::field::content_type, content_type_for(key));
  res.set(http::field::accept_ranges, "bytes");
  res.set(http::field::cache_control, "private, max-age=3600");
  if (partial) {
    res.set(http::field::content_range, fmt::format("bytes {}-{}/{}", first, last, *size));
  }
  res.body() = std::move(body);
  res.content_length(length);
  co_return res;
}

boost::asio::awaitable<Response> Router::metrics() {
  auto counts =
      co_await runtime::offload(d_.pool, [this] { return d_.store.count_tasks_by_state(); });
  std::string gauges;
  gauges += "# HELP imagegate_tasks Tasks in the store, by state.\n";
  gauges += "# TYPE imagegate_tasks gauge\n";
  for (const auto& [state, n] : counts) {
    gauges += fmt::format("imagegate_tasks{{state=\"{}\"}} {}\n", core::to_string(state), n);
  }
  gauges += "# HELP imagegate_queue_depth Tasks waiting to run.\n";
  gauges += "# TYPE imagegate_queue_depth gauge\n";
  gauges += fmt::format("imagegate_queue_depth {}\n", counts[core::TaskState::kQueued]);
  co_return text_response(200, d_.metrics.render(gauges), "text/plain; version=0.0.4");
}

}  // namespace ig::api
