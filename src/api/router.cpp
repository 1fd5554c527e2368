#include "api/router.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/admin.hpp"
#include "api/admin_common.hpp"
#include "api/auth.hpp"
#include "api/key_gate.hpp"
#include "billing/money.hpp"
#include "api/dialect_dispatch.hpp"
#include "api/dialects/generations.hpp"
#include "api/dialects/jobs.hpp"
#include "api/dialects/openai.hpp"
#include "api/dialects/tasks.hpp"
#include "api/dialects/unified.hpp"
#include "api/metrics.hpp"
#include "api/task_detail.hpp"
#include "core/codec.hpp"
#include "storage/result_storage.hpp"
#include "storage/url_signer.hpp"
#include "store/store.hpp"
#include "tasks/task_service.hpp"

namespace ig::api {

namespace json = boost::json;
using core::Dialect;
using core::ErrorCode;
using core::make_error;

namespace {

constexpr std::string_view kJobsPrefix = "/api/v1/jobs/";
constexpr std::string_view kFilesPrefix = "/files/";
constexpr std::string_view kAdminPrefix = "/admin/v1/";
constexpr std::string_view kOpenAIPrefix = "/openai/v1/images/";
constexpr std::string_view kEventsSuffix = "/events";

// Long-poll: the longest `wait` a query endpoint takes, in seconds (said in every answer's
// X-Long-Poll-Max-Wait, so that a client knows it may ask).
constexpr int kMaxWaitS = 60;
// Server-Sent Events: a comment line after this long without an event keeps proxies and
// clients from closing an idle stream.
constexpr std::chrono::seconds kPingEvery{15};

std::string generic_error_body(const core::Error& e) {
  json::object err{{"code", core::to_string(e.code)}, {"message", e.message}};
  return json::serialize(json::object{{"error", std::move(err)}});
}

Response method_not_allowed(Dialect d, std::string_view allow) {
  Response res = error_in(d, make_error(ErrorCode::kMethodNotAllowed,
                                        "method not allowed; use " + std::string(allow)));
  res.set(http::field::allow, allow);
  return res;
}

// `POST /v1/images/generations` serves two dialects: a body with an `input` object is the
// `generations` dialect (seed 004), a flat body the `unified` one (seed 001).
Dialect generations_or_unified(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object() && v.get_object().contains("input")) {
    return Dialect::kGenerations;
  }
  if (!ec && v.is_object()) {
    return Dialect::kUnified;
  }
  return Dialect::kGenerations;
}

// The decoded value of query parameter `name` (the first), or nullopt when absent.
std::optional<std::string> query_value(std::string_view encoded_query, std::string_view name) {
  auto params = boost::urls::parse_query(encoded_query);
  if (!params) {
    return std::nullopt;
  }
  for (auto p : *params) {
    if (p.key == name) {
      return std::string(p.value);
    }
  }
  return std::nullopt;
}

// `wait` of a long-poll: whole seconds from 0 to kMaxWaitS; absent is 0 (answer at once).
core::Result<std::chrono::seconds> parse_wait(const std::optional<std::string>& value) {
  if (!value) {
    return std::chrono::seconds(0);
  }
  const bool digits = !value->empty() && value->size() <= 9 &&
                      value->find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoi(*value) > kMaxWaitS) {
    return make_error(ErrorCode::kInvalidRequest,
                      "wait must be a whole number of seconds from 0 to " +
                          std::to_string(kMaxWaitS) + ", not '" + core::echo_text(*value, 32) +
                          "'",
                      "wait");
  }
  return std::chrono::seconds(std::stoi(*value));
}

// One Server-Sent Event; `data` may hold newlines (each line becomes a data: line).
std::string sse_event(std::string_view id, std::string_view data) {
  std::string out = "id: ";
  out += id;
  out += '\n';
  for (;;) {
    const auto nl = data.find('\n');
    out += "data: ";
    out += data.substr(0, nl);
    out += '\n';
    if (nl == std::string_view::npos) {
      break;
    }
    data.remove_prefix(nl + 1);
  }
  out += '\n';
  return out;
}

// What a client is told when its create was refused: the client's own errors (balance, limits,
// a key disabled meanwhile, a bad price input) as they are; the server's as a 500 or 503 that
// names the request, with the detail in the log.
core::Error create_failure(const core::Error& e, const RequestInfo& info) {
  switch (e.code) {
    case ErrorCode::kInternal:
    case ErrorCode::kUnavailable:
      spdlog::error("request_id={} creating a task failed: {}", info.request_id, e.message);
      return make_error(e.code, "could not create the task (request id " + info.request_id + ")");
    default:
      spdlog::info("request_id={} create refused: {} {}", info.request_id,
                   core::to_string(e.code), e.message);
      return e;
  }
}

// The filters of a key's task list (the admin list's, without key_id): state, dialect, model,
// since and until.
core::Result<store::TaskFilter> task_filter(std::string_view query) {
  using admin_common::query_param;
  store::TaskFilter f;
  f.state = query_param(query, "state");
  if (!f.state.empty() && !core::parse_task_state(f.state)) {
    return make_error(ErrorCode::kInvalidRequest,
                      "state must be queued, running, succeeded, failed or cancelled", "state");
  }
  f.dialect = query_param(query, "dialect");
  if (Dialect d{}; !f.dialect.empty() && !core::parse_dialect(f.dialect, d)) {
    return make_error(ErrorCode::kInvalidRequest,
                      "dialect must be jobs, generations, tasks, unified or openai", "dialect");
  }
  f.model = query_param(query, "model");
  auto since = admin_common::time_param(query, "since");
  if (!since) {
    return since.error();
  }
  auto until = admin_common::time_param(query, "until");
  if (!until) {
    return until.error();
  }
  f.since_ms = *since;
  f.until_ms = *until;
  return f;
}

// A task as its create answered it (queued, nothing run yet), for a create's answer rendered
// again from the stored task.
core::Task as_created(core::Task task) {
  task.state = core::TaskState::kQueued;
  task.attempt = 0;
  task.started_ms = 0;
  task.completed_ms = 0;
  task.fail_code.clear();
  task.fail_msg.clear();
  task.results.clear();
  task.usage = {};
  task.upstream_route.clear();
  task.upstream_id.clear();
  return task;
}

}  // namespace

Router::Router(RouterDeps deps)
    : d_(std::move(deps)),
      answer_memory_(d_.answer_memory_bytes),
      console_(d_.console_dir, d_.pool) {}

Response Router::render_error(std::string_view target, const core::Error& e) const {
  if (target.starts_with(kJobsPrefix)) {
    return error_in(Dialect::kJobs, e);
  }
  if (target.starts_with("/openai/")) {
    return error_in(Dialect::kOpenAI, e);
  }
  if (target.starts_with("/v1/tasks")) {
    return error_in(Dialect::kTasks, e);
  }
  if (target.starts_with("/v1/")) {
    return error_in(Dialect::kGenerations, e);
  }
  core::Error safe = e;
  safe.message = core::to_valid_utf8(e.message);
  Response res =
      json_response(static_cast<unsigned>(core::http_status(e.code)), generic_error_body(safe));
  if (e.retry_after_s > 0) {
    res.set(http::field::retry_after, std::to_string(e.retry_after_s));
  }
  return res;
}

boost::asio::awaitable<std::optional<Response>> Router::check_upload(
    const Request::header_type& header) {
  auto key = co_await d_.auth.authenticate(header[http::field::authorization]);
  if (!key) {
    co_return render_error(header.target(), key.error());
  }
  co_return std::nullopt;
}

std::int64_t Router::urls_expire_at_s(const core::Task& task) const {
  return task.completed_ms / 1000 + d_.result_ttl_s;
}

std::string Router::file_url(std::string_view key, std::int64_t expires_s) const {
  if (d_.object_url) {
    return d_.object_url(key, expires_s);
  }
  const std::string path = std::string(kFilesPrefix) + std::string(key);
  return d_.public_base + path + "?" + d_.signer.signed_query(path, expires_s);
}

std::vector<std::string> Router::result_urls(const core::Task& task) const {
  std::vector<std::string> urls;
  const std::int64_t expires = urls_expire_at_s(task);
  for (const auto& r : task.results) {
    urls.push_back(file_url(r.key, expires));
  }
  return urls;
}

core::Status Router::admit(const store::ApiKey& key, const Request& req,
                           const RequestInfo& info) {
  // Several X-Forwarded-For lines are one list (RFC 9110 §5.3); read only for an allowlist.
  std::string forwarded;
  for (auto [it, end] = key.limits.ip_allowlist.empty() ? std::pair(req.end(), req.end())
                                                        : req.equal_range("X-Forwarded-For");
       it != end; ++it) {
    if (!forwarded.empty()) {
      forwarded += ',';
    }
    forwarded += it->value();
  }
  return d_.gate->admit(key, info.peer, forwarded);
}

std::optional<core::Result<store::ApiKey>> Router::authenticate_now(const Request& req,
                                                                    const RequestInfo& info) {
  auto key = d_.auth.known(req[http::field::authorization]);
  if (!key || !*key || d_.gate == nullptr) {
    return key;
  }
  if (d_.gate->counts_shared(**key)) {
    return std::nullopt;  // its rate is counted in the store: authenticate() admits it
  }
  if (auto admitted = admit(**key, req, info); !admitted) {
    return admitted.error();
  }
  return key;
}

boost::asio::awaitable<core::Result<store::ApiKey>> Router::authenticate(const Request& req,
                                                                        const RequestInfo& info) {
  const std::string_view header = req[http::field::authorization];
  auto known = d_.auth.known(header);
  if (!known) {
    known = co_await d_.auth.authenticate(header);
  }
  auto key = std::move(*known);
  if (!key || d_.gate == nullptr) {
    co_return key;
  }
  if (auto admitted = admit(*key, req, info); !admitted) {
    co_return admitted.error();
  }
  if (d_.gate->counts_shared(*key)) {
    if (auto admitted = co_await d_.gate->take_shared(*key); !admitted) {
      co_return admitted.error();
    }
  }
  co_return key;
}

boost::asio::awaitable<Response> Router::handle(Request& req, RequestInfo& info) {
  auto url = boost::urls::parse_origin_form(req.target());
  if (!url) {
    info.route = "invalid";
    co_return render_error("", make_error(ErrorCode::kInvalidRequest, "invalid request target"));
  }
  const std::string path = url->path();
  const std::string query(url->encoded_query());  // decoded once, by whoever reads it
  auto param = [&](std::string_view name) -> std::string {
    auto it = url->params().find(name);
    return it == url->params().end() ? std::string() : std::string((*it).value);
  };
  if (path.starts_with(kJobsPrefix)) {
    co_return co_await route_jobs(req, info, std::string_view(path).substr(kJobsPrefix.size()),
                                  param("taskId"), query);
  }
  if (path.starts_with("/v1/")) {
    co_return co_await route_v1(req, info, path, query);
  }
  if (path.starts_with(kOpenAIPrefix)) {
    co_return co_await route_openai(req, info, std::string_view(path).substr(kOpenAIPrefix.size()));
  }
  if (path.starts_with(kFilesPrefix)) {
    info.route = "files";
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      co_return render_error("", make_error(ErrorCode::kMethodNotAllowed, "use GET or HEAD"));
    }
    co_return co_await serve_file(req, info, std::string_view(path).substr(kFilesPrefix.size()),
                                  param("expires"), param("signature"));
  }
  if (path.starts_with(kAdminPrefix)) {
    info.route = "admin";
    if (d_.admin == nullptr) {
      co_return render_error(path, make_error(ErrorCode::kRouteNotFound,
                                              "the admin API is off (set admin.token)"));
    }
    co_return co_await d_.admin->handle(req, info, path, query);
  }
  if (ConsoleSite::owns(path)) {
    info.route = "console";
    co_return co_await console_.handle(req, path);
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
  co_return render_error(path, make_error(ErrorCode::kRouteNotFound,
                                        "no route for " + core::echo_text(path, 200)));
}

boost::asio::awaitable<Response> Router::route_jobs(Request& req, RequestInfo& info,
                                                    std::string_view action,
                                                    std::string_view task_id,
                                                    std::string_view query) {
  const auto method = req.method();
  if (action == "createTask") {
    info.route = "jobs_create";
    if (method != http::verb::post) {
      co_return method_not_allowed(Dialect::kJobs, "POST");
    }
    co_return co_await create(
        req, info, Dialect::kJobs, [&req] { return jobs::parse_create(req.body()); },
        [](const core::Task& t) { return json_response(200, jobs::render_created(t.id)); });
  }
  const bool events = action == "recordInfo/events";
  if (action == "recordInfo" || events) {
    info.route = events ? "jobs_record_events" : "jobs_record";
    if (method != http::verb::get) {
      co_return method_not_allowed(Dialect::kJobs, "GET");
    }
    if (task_id.empty()) {
      auto key = co_await authenticate(req, info);
      co_return error_in(Dialect::kJobs,
                         key ? make_error(ErrorCode::kInvalidRequest,
                                          "taskId query parameter is required", "taskId")
                             : key.error());
    }
    if (events) {
      co_return co_await task_events(req, info, Dialect::kJobs, task_id);
    }
    co_return co_await get_task(req, info, Dialect::kJobs, task_id, query);
  }
  info.route = "jobs_unknown";
  co_return error_in(Dialect::kJobs,
                     make_error(ErrorCode::kRouteNotFound,
                                "no such endpoint: " + std::string(kJobsPrefix) +
                                    core::echo_text(action, 200)));
}

boost::asio::awaitable<Response> Router::route_v1(Request& req, RequestInfo& info,
                                                  std::string_view path,
                                                  std::string_view query) {
  const auto method = req.method();
  if (path == "/v1/images/generations") {
    const Dialect d = generations_or_unified(req.body());
    info.route = d == Dialect::kGenerations ? "generations_create" : "unified_create";
    if (method != http::verb::post) {
      co_return method_not_allowed(Dialect::kGenerations, "POST");
    }
    if (d == Dialect::kGenerations) {
      co_return co_await create(
          req, info, d, [&req] { return generations::parse_create(req.body()); },
          [](const core::Task& t) { return json_response(200, generations::render_created(t)); });
    }
    co_return co_await create(
        req, info, d, [&req] { return unified::parse_create(req.body()); },
        [](const core::Task& t) { return json_response(200, unified::render_task(t, {})); });
  }
  if (path == "/v1/credits") {
    info.route = "credits";
    if (method != http::verb::get) {
      co_return method_not_allowed(Dialect::kGenerations, "GET");
    }
    co_return co_await credits(req, info);
  }
  if (path == "/v1/usage") {
    info.route = "usage";
    if (method != http::verb::get) {
      co_return method_not_allowed(Dialect::kGenerations, "GET");
    }
    co_return co_await usage(req, info, query);
  }
  if (path == "/v1/tasks") {
    if (method == http::verb::post) {
      info.route = "tasks_create";
      co_return co_await create(
          req, info, Dialect::kTasks, [&req] { return tasks_dialect::parse_create(req.body()); },
          [](const core::Task& t) {
            return json_response(200, tasks_dialect::render_created(t));
          });
    }
    info.route = "tasks_list";
    if (method != http::verb::get) {
      co_return method_not_allowed(Dialect::kTasks, "GET, POST");
    }
    co_return co_await list_tasks(req, info, query);
  }
  constexpr std::string_view kTasks = "/v1/tasks/";
  if (path.starts_with(kTasks)) {
    std::string_view rest = path.substr(kTasks.size());
    constexpr std::string_view kCancel = "/cancel";
    if (rest.ends_with(kCancel)) {
      info.route = "task_cancel";
      rest.remove_suffix(kCancel.size());
      if (method != http::verb::post) {
        co_return method_not_allowed(dialect_for_task_id(rest), "POST");
      }
      co_return co_await cancel_task(req, info, rest);
    }
    constexpr std::string_view kDetail = "/detail";
    if (rest.ends_with(kDetail)) {
      info.route = "task_detail";
      rest.remove_suffix(kDetail.size());
      if (method != http::verb::get) {
        co_return method_not_allowed(dialect_for_task_id(rest), "GET");
      }
      co_return co_await task_detail(req, info, rest);
    }
    if (rest.ends_with(kEventsSuffix)) {
      info.route = "task_events";
      rest.remove_suffix(kEventsSuffix.size());
      if (method != http::verb::get) {
        co_return method_not_allowed(dialect_for_task_id(rest), "GET");
      }
      co_return co_await task_events(req, info, dialect_for_task_id(rest), rest);
    }
    info.route = "task_get";
    if (method != http::verb::get) {
      co_return method_not_allowed(dialect_for_task_id(rest), "GET");
    }
    co_return co_await get_task(req, info, dialect_for_task_id(rest), rest, query);
  }
  info.route = "v1_unknown";
  co_return render_error(path, make_error(ErrorCode::kRouteNotFound,
                                          "no route for " + core::echo_text(path, 200)));
}

boost::asio::awaitable<Response> Router::route_openai(Request& req, RequestInfo& info,
                                                      std::string_view action) {
  const bool edit = action == "edits";
  if (!edit && action != "generations") {
    info.route = "openai_unknown";
    co_return error_in(Dialect::kOpenAI,
                       make_error(ErrorCode::kRouteNotFound,
                                  "no such endpoint: " + std::string(kOpenAIPrefix) +
                                      core::echo_text(action, 200)));
  }
  info.route = edit ? "openai_edits" : "openai_generations";
  if (req.method() != http::verb::post) {
    co_return method_not_allowed(Dialect::kOpenAI, "POST");
  }
  co_return co_await openai_images(req, info, edit);
}

template <class Parse, class Render>
boost::asio::awaitable<Response> Router::create(Request& req, RequestInfo& info,
                                                Dialect dialect, Parse parse, Render render) {
  auto known = authenticate_now(req, info);
  if (!known) {
    known = co_await authenticate(req, info);
  }
  auto key = std::move(*known);
  if (!key) {
    co_return error_in(dialect, key.error());
  }
  auto parsed = parse();
  if (!parsed) {
    co_return error_in(dialect, parsed.error());  // nothing stored for its Idempotency-Key
  }
  auto idem = co_await idempotency(
      req, *key, [&req] { return std::string(req.target()) + "\n" + req.body(); });
  if (!idem) {
    co_return idempotency_error(dialect, idem.error());
  }
  if (idem->replay && idem->found.status == 0) {
    // The task was committed with the key, and the process died before its answer was
    // recorded: the answer is the task as it was created.
    auto found = co_await d_.tasks.get(*key, idem->found.task_id);
    if (!found) {
      co_return error_in(dialect, found.error());
    }
    co_return render(as_created(std::move(*found)));
  }
  if (idem->replay) {
    co_return json_response(static_cast<unsigned>(idem->found.status), idem->found.body);
  }
  auto task = co_await d_.tasks.create(*key, std::move(parsed->request), std::move(parsed->param),
                                       idem->key);
  if (!task) {
    co_await idempotency_abandon(*idem);
    co_return error_in(dialect, create_failure(task.error(), info));
  }
  // Ties the request to the task, whose later log lines carry task=<id>.
  spdlog::info("request_id={} task={} created", info.request_id, task->id);
  Response res = render(*task);
  co_await idempotency_finish(*idem, task->id, res.result_int(), res.body());
  co_return res;
}

boost::asio::awaitable<core::Result<Router::Idempotency>> Router::idempotency(
    const Request& req, const store::ApiKey& key, std::function<std::string()> describe) {
  Idempotency out;
  const std::string_view header = req["Idempotency-Key"];
  if (header.empty()) {
    co_return out;
  }
  if (header.size() > 255) {
    co_return make_error(ErrorCode::kInvalidRequest,
                         "Idempotency-Key must be at most 255 characters", "Idempotency-Key");
  }
  for (unsigned char ch : header) {
    if (ch < 0x21 || ch > 0x7e) {
      co_return make_error(ErrorCode::kInvalidRequest,
                           "Idempotency-Key must be printable ASCII without spaces",
                           "Idempotency-Key");
    }
  }
  out.key = std::string(header);
  out.account = key.account_id;
  const std::int64_t now = d_.clock.now_ms();
  auto begun = co_await runtime::offload(d_.pool, [&] {
    // Hashed here, not on the I/O thread: an edit's images may be tens of MB. A first request
    // that neither finished nor abandoned its key within a minute died.
    return d_.store.begin_idempotent(out.account, out.key, hash_key(describe()), now, 60'000);
  });
  if (!begun) {
    co_return begun.error();
  }
  using State = store::IdempotentBegin::State;
  switch (begun->state) {
    case State::kNew:
      break;
    case State::kReplay:
      out.replay = true;
      out.found = std::move(*begun);
      break;
    case State::kMismatch:
      co_return make_error(ErrorCode::kValidationFailed,
                           "this Idempotency-Key was used with a different request",
                           "Idempotency-Key");
    case State::kInProgress:
      co_return make_error(ErrorCode::kConflict,
                           "a request with this Idempotency-Key is still being processed; "
                           "retry in a moment",
                           "Idempotency-Key");
  }
  co_return out;
}

Response Router::idempotency_error(Dialect dialect, const core::Error& e) const {
  Response res = error_in(dialect, e);
  if (e.code == ErrorCode::kValidationFailed) {
    res.result(http::status::unprocessable_entity);  // 422 in every dialect
  }
  if (e.code == ErrorCode::kConflict) {
    res.set(http::field::retry_after, "1");
  }
  return res;
}

boost::asio::awaitable<void> Router::idempotency_finish(const Idempotency& idem,
                                                        const std::string& task_id, int status,
                                                        const std::string& body) {
  if (idem.key.empty()) {
    co_return;
  }
  auto st = co_await runtime::offload(d_.pool, [&] {
    return d_.store.finish_idempotent(idem.account, idem.key, task_id, status, body);
  });
  if (!st) {
    // The task exists; a retry within a minute gets 409, after that a new task. Logged.
    spdlog::error("Idempotency-Key of task {} not recorded: {}", task_id, st.error().message);
  }
}

boost::asio::awaitable<void> Router::idempotency_abandon(const Idempotency& idem) {
  if (idem.key.empty()) {
    co_return;
  }
  (void)co_await runtime::offload(
      d_.pool, [&] { return d_.store.abandon_idempotent(idem.account, idem.key); });
}

core::Result<store::ApiKey> Router::for_task(core::Result<store::ApiKey> key, Dialect envelope,
                                             std::string_view id) {
  if (key && envelope == Dialect::kUnified) {
    if (auto st = unified::check_task_id(id); !st) {
      return st.error();
    }
  }
  return key;
}

boost::asio::awaitable<Response> Router::get_task(Request& req, RequestInfo& info, Dialect envelope,
                                                  std::string_view id, std::string_view query) {
  auto known = authenticate_now(req, info);
  if (!known) {
    known = co_await authenticate(req, info);
  }
  auto key = for_task(std::move(*known), envelope, id);
  if (!key) {
    co_return error_in(envelope, key.error());
  }
  const auto wait = parse_wait(query_value(query, "wait"));
  if (!wait) {
    co_return error_in(envelope, wait.error());
  }
  auto task = co_await d_.tasks.get(*key, std::string(id));
  if (task && wait->count() > 0 && !core::is_terminal(task->state)) {
    // Long-poll: held without a thread until the task changes, N seconds pass or the server
    // drains (then the answer is the task as it is).
    task = co_await d_.tasks.watch(*key, std::string(id), tasks::live_token(*task), *wait,
                                   [this] { return d_.ready && !d_.ready(); });
  }
  if (!task) {
    co_return error_in(envelope, task.error());
  }
  Response res = task_in_own_dialect(*task, result_urls(*task), urls_expire_at_s(*task));
  res.set("X-Long-Poll-Max-Wait", std::to_string(kMaxWaitS));
  co_return res;
}

boost::asio::awaitable<Response> Router::task_events(Request& req, RequestInfo& info,
                                                     Dialect envelope, std::string_view id) {
  auto authed = co_await authenticate(req, info);
  auto key = for_task(std::move(authed), envelope, id);
  if (!key) {
    co_return error_in(envelope, key.error());
  }
  auto task = co_await d_.tasks.get(*key, std::string(id));
  if (!task) {
    co_return error_in(envelope, task.error());
  }
  std::string seen(req["Last-Event-ID"]);
  if (core::is_terminal(task->state) && seen == tasks::live_token(*task)) {
    // The client has seen the end: nothing is left to send, and a 204 tells an EventSource
    // not to reconnect.
    Response res{http::status::no_content, 11};
    res.set(http::field::cache_control, "no-cache");
    co_return res;
  }
  Response res = stream_response("text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Accel-Buffering", "no");  // nginx in front: pass events on at once
  info.stream = [this, key = std::move(*key), task = std::move(*task),
                 seen = std::move(seen)](StreamWriter& out) {
    return stream_task(out, key, task, seen);
  };
  co_return res;
}

boost::asio::awaitable<void> Router::stream_task(StreamWriter& out, store::ApiKey key,
                                                 core::Task task, std::string seen) {
  using std::chrono::steady_clock;
  auto last_write = steady_clock::now();
  for (;;) {
    if (const std::string token = tasks::live_token(task); token != seen) {
      const Response rendered =
          task_in_own_dialect(task, result_urls(task), urls_expire_at_s(task));
      if (!co_await out.write(sse_event(token, rendered.body()))) {
        co_return;
      }
      seen = token;
      last_write = steady_clock::now();
    }
    if (core::is_terminal(task.state) || !out.open()) {
      co_return;
    }
    const auto until_ping = std::chrono::duration_cast<std::chrono::milliseconds>(
        last_write + kPingEvery - steady_clock::now());
    if (until_ping.count() <= 0) {
      if (!co_await out.write(": ping\n\n")) {
        co_return;
      }
      last_write = steady_clock::now();
      continue;
    }
    auto next = co_await d_.tasks.watch(key, task.id, seen, until_ping,
                                        [&out] { return !out.open(); });
    if (!next) {
      if (next.error().code == ErrorCode::kUnavailable) {
        continue;  // the database is busy: the pings keep the stream while it is asked again
      }
      spdlog::warn("task={} event stream ended: {}", task.id, next.error().message);
      co_return;
    }
    task = std::move(*next);
  }
}

boost::asio::awaitable<Response> Router::list_tasks(Request& req, RequestInfo& info,
                                                    std::string_view query) {
  auto key = co_await authenticate(req, info);
  if (!key) {
    co_return error_in(Dialect::kTasks, key.error());
  }
  std::string page_s;
  std::string size_s;
  auto params = boost::urls::parse_query(query);
  if (!params) {
    co_return error_in(Dialect::kTasks,
                       make_error(ErrorCode::kInvalidRequest, "malformed query string"));
  }
  for (auto p : *params) {
    if (p.key == "page") {
      page_s = p.value;
    } else if (p.key == "page_size" || p.key == "size") {  // HiAPI calls it `size`
      size_s = p.value;
    }
  }
  auto paging = tasks_dialect::parse_list_query(page_s, size_s);
  if (!paging) {
    co_return error_in(Dialect::kTasks, paging.error());
  }
  auto filter = task_filter(query);
  if (!filter) {
    co_return error_in(Dialect::kTasks, filter.error());
  }
  auto [page, page_size] = *paging;
  auto listed = co_await d_.tasks.list(*key, page, page_size, std::move(*filter));
  if (!listed) {
    co_return error_in(Dialect::kTasks, listed.error());
  }
  std::vector<std::vector<std::string>> urls;
  for (const auto& t : listed->tasks) {
    urls.push_back(result_urls(t));
  }
  co_return json_response(200, tasks_dialect::render_list(listed->tasks, urls,
                                                          d_.clock.now_ms() / 1000, page,
                                                          page_size, listed->total));
}

boost::asio::awaitable<Response> Router::cancel_task(Request& req, RequestInfo& info,
                                                     std::string_view id) {
  const Dialect envelope = dialect_for_task_id(id);
  auto key = co_await authenticate(req, info);
  if (!key) {
    co_return error_in(envelope, key.error());
  }
  if (envelope == Dialect::kUnified) {
    if (auto st = unified::check_task_id(id); !st) {
      co_return error_in(envelope, st.error());
    }
  }
  auto task = co_await d_.tasks.cancel(*key, std::string(id));
  if (!task) {
    co_return error_in(envelope, task.error());
  }
  co_return task_in_own_dialect(*task, result_urls(*task), urls_expire_at_s(*task));
}

boost::asio::awaitable<Response> Router::openai_images(Request& req, RequestInfo& info,
                                                       bool edit) {
  auto known = authenticate_now(req, info);
  if (!known) {
    known = co_await authenticate(req, info);
  }
  auto key = std::move(*known);
  if (!key) {
    co_return error_in(Dialect::kOpenAI, key.error());
  }
  auto parsed = edit ? openai_dialect::parse_edit(req[http::field::content_type], req.body())
                     : openai_dialect::parse_generation(req.body());
  if (!parsed) {
    co_return error_in(Dialect::kOpenAI, parsed.error());
  }
  tasks::TaskService::Uploads uploads;
  for (auto& image : parsed->images) {
    uploads.images.push_back(std::move(image.bytes));
  }
  if (parsed->mask) {
    uploads.mask = std::move(parsed->mask->bytes);
  }
  // Unusable uploads are refused here, so no task is created for them.
  std::vector<core::Size> input_sizes;
  if (!uploads.images.empty()) {
    auto checked = co_await d_.tasks.check_uploads(uploads);
    if (!checked) {
      co_return error_in(Dialect::kOpenAI, checked.error());
    }
    input_sizes = std::move(*checked);
  }
  // The request as its parts say it (a retried multipart body has a new boundary).
  auto idem = co_await idempotency(req, *key, [&req, &parsed, &uploads] {
    std::string text = std::string(req.target()) + "\n" + parsed->param;
    for (const auto& image : uploads.images) {
      text += "\n" + hash_key(image);
    }
    if (uploads.mask) {
      text += "\nmask " + hash_key(*uploads.mask);
    }
    return text;
  });
  if (!idem) {
    co_return idempotency_error(Dialect::kOpenAI, idem.error());
  }
  // The request body (up to the upload limit) is no longer needed while we wait.
  req.body().clear();
  req.body().shrink_to_fit();
  if (idem->replay) {
    // The first request stored the uploads: nothing of the body is held while we wait.
    uploads = {};
    info.body_memory.release();
    // The same request again: the same task's answer, waited for as the first one was.
    auto again = co_await d_.tasks.wait(*key, idem->found.task_id, d_.sync_timeout,
                                        std::chrono::milliseconds(50));
    if (!again) {
      co_return error_in(Dialect::kOpenAI, again.error());
    }
    if (again->state != core::TaskState::kSucceeded) {
      co_return error_in(Dialect::kOpenAI, openai_dialect::task_error(*again));
    }
    co_return co_await openai_answer(info, *again, nullptr, input_sizes);
  }
  auto created = co_await d_.tasks.create_watched(*key, std::move(parsed->request),
                                                  std::move(parsed->param), std::move(uploads),
                                                  idem->key);
  // The uploads are stored (or refused): the wait holds nothing of the body.
  info.body_memory.release();
  if (!created) {
    co_await idempotency_abandon(*idem);
    co_return error_in(Dialect::kOpenAI, create_failure(created.error(), info));
  }
  // Replayed from the task (its images are too big to keep twice).
  co_await idempotency_finish(*idem, created->task.id, 0, "");
  spdlog::info("request_id={} task={} created", info.request_id, created->task.id);
  auto task = co_await d_.tasks.wait(*key, *created, d_.sync_timeout);
  if (!task) {
    co_return error_in(Dialect::kOpenAI, task.error());
  }
  if (task->state != core::TaskState::kSucceeded) {
    co_return error_in(Dialect::kOpenAI, openai_dialect::task_error(*task));
  }
  co_return co_await openai_answer(
      info, *task, created->ended ? created->ended->end().get() : nullptr, input_sizes);
}

boost::asio::awaitable<Response> Router::openai_answer(RequestInfo& info, const core::Task& task,
                                                       const tasks::TaskEvents::End* end,
                                                       const std::vector<core::Size>& input_sizes) {
  // Ended in this process: its images came with the wake-up, no file is read.
  if (end != nullptr && end->task.id == task.id && !end->images.empty() &&
      end->images.size() == task.results.size()) {
    std::vector<std::size_t> sizes;
    for (const auto& image : end->images) {
      sizes.push_back(image.size());
    }
    const std::size_t bytes = openai_dialect::images_answer_bytes(sizes);
    info.answer_memory = reserve_memory(answer_memory_, bytes);
    if (!info.answer_memory) {
      co_return answer_refused(info, task, bytes);
    }
    co_return json_response(200, openai_dialect::render_images(task, end->images, input_sizes));
  }
  std::vector<std::string> keys;
  for (const auto& r : task.results) {
    keys.push_back(r.key);
  }
  // The answer's memory is reserved from the files' sizes before they are read.
  struct Read {
    bool failed = false;
    std::size_t bytes = 0;  // the answer's size
    runtime::MemoryBudget::Lease memory;
    std::vector<std::string> images;
  };
  Read read = co_await runtime::offload(d_.pool, [this, &keys]() {
    Read out;
    std::vector<std::size_t> sizes;
    for (const auto& k : keys) {
      auto size = d_.results.size(k);
      if (!size) {
        out.failed = true;
        return out;
      }
      sizes.push_back(static_cast<std::size_t>(*size));
    }
    out.bytes = openai_dialect::images_answer_bytes(sizes);
    out.memory = reserve_memory(answer_memory_, out.bytes);
    if (!out.memory) {
      return out;
    }
    for (const auto& k : keys) {
      auto bytes = d_.results.read(k, 0, std::numeric_limits<std::uint64_t>::max());
      if (!bytes) {
        out.failed = true;
        return out;
      }
      out.images.push_back(std::move(*bytes));
    }
    return out;
  });
  if (read.failed) {
    co_return error_in(Dialect::kOpenAI,
                       make_error(ErrorCode::kInternal, "could not read the generated image"));
  }
  if (!read.memory) {
    co_return answer_refused(info, task, read.bytes);
  }
  info.answer_memory = std::move(read.memory);
  co_return json_response(200, openai_dialect::render_images(task, read.images, input_sizes));
}

Response Router::answer_refused(const RequestInfo& info, const core::Task& task,
                                std::size_t bytes) const {
  spdlog::warn(
      "request_id={} task={} answer of {} bytes refused: {} of the {} bytes of "
      "server.answer_memory_bytes are held",
      info.request_id, task.id, bytes, answer_memory_.used(), answer_memory_.capacity());
  core::Error e = make_error(
      ErrorCode::kUnavailable,
      "the images of task " + task.id +
          " are ready, but the server is sending too many images at once; retry in a moment "
          "with the same Idempotency-Key, or get them from GET /v1/tasks/" +
          task.id);
  e.retry_after_s = 1;
  return error_in(Dialect::kOpenAI, e);
}

boost::asio::awaitable<Response> Router::credits(Request& req, RequestInfo& info) {
  auto key = co_await authenticate(req, info);
  if (!key) {
    co_return error_in(Dialect::kGenerations, key.error());
  }
  // Never from the auth cache: the balance moves with every create and settlement.
  const std::int64_t account_id = key->account_id;
  auto account =
      co_await runtime::offload(d_.pool, [this, account_id] { return d_.store.get_account(account_id); });
  if (!account || !*account) {
    if (account) {
      spdlog::error("request_id={} key {} has no account {}", info.request_id, key->id,
                    account_id);
    }
    co_return error_in(Dialect::kGenerations,
                       make_error(account ? ErrorCode::kInternal : account.error().code,
                                  "the balance could not be read; try again"));
  }
  const store::Account& a = **account;
  boost::json::object data{{"balance", billing::credits_as_double(a.balance)},
                           {"total_purchased", billing::credits_as_double(a.total_purchased)},
                           {"total_consumed", billing::credits_as_double(a.total_consumed)}};
  boost::json::object body{{"code", 200}, {"msg", "success"}, {"data", std::move(data)}};
  co_return json_response(200, core::serialize_decimal(body));  // 4.7, not 4.7E0
}

boost::asio::awaitable<Response> Router::usage(Request& req, RequestInfo& info,
                                               std::string_view query) {
  auto key = co_await authenticate(req, info);
  if (!key) {
    co_return error_in(Dialect::kGenerations, key.error());
  }
  auto q = admin_common::usage_query(query, d_.clock.now_ms(), false);
  if (!q) {
    co_return error_in(Dialect::kGenerations, q.error());
  }
  q->key_id = key->id;
  auto rows = co_await runtime::offload(d_.pool, [&] { return d_.store.usage_rows(*q); });
  if (!rows) {
    spdlog::error("request_id={} usage of key {} not read: {}", info.request_id, key->id,
                  rows.error().message);
    co_return error_in(Dialect::kGenerations,
                       make_error(rows.error().code == ErrorCode::kUnavailable
                                      ? ErrorCode::kUnavailable
                                      : ErrorCode::kInternal,
                                  "the usage could not be read; try again"));
  }
  co_return json_response(200, core::serialize_decimal(admin_common::usage_json(*q, *rows)));
}

boost::asio::awaitable<Response> Router::task_detail(Request& req, RequestInfo& info,
                                                     std::string_view id) {
  const Dialect envelope = dialect_for_task_id(id);
  auto authed = co_await authenticate(req, info);
  auto key = for_task(std::move(authed), envelope, id);
  if (!key) {
    co_return error_in(envelope, key.error());
  }
  const std::string task_id(id);
  auto detail = co_await runtime::offload(
      d_.pool, [&] { return read_task_detail(d_.store, task_id, false); });
  if (!detail) {
    spdlog::error("request_id={} task={} not read: {}", info.request_id, task_id,
                  detail.error().message);
    co_return error_in(envelope, make_error(detail.error().code == ErrorCode::kUnavailable
                                                ? ErrorCode::kUnavailable
                                                : ErrorCode::kInternal,
                                            "the task could not be read; try again"));
  }
  if (!*detail || (*detail)->task.key_id != key->id) {
    co_return error_in(envelope, make_error(ErrorCode::kNotFound,
                                            "task not found: " + core::echo_text(id, 128),
                                            "task_id"));
  }
  const core::Task& t = (*detail)->task;
  // Results expire result_ttl_s after completion; the uploads of a running task as long from now.
  const std::int64_t expires =
      (t.completed_ms > 0 ? t.completed_ms : d_.clock.now_ms()) / 1000 + d_.result_ttl_s;
  const FileUrl urls = [this](std::string_view k, std::int64_t e) { return file_url(k, e); };
  co_return json_response(200,
                          core::serialize_decimal(task_detail_json(**detail, urls, expires)));
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
  if (d_.extra_metrics) {
    gauges += d_.extra_metrics();
  }
  co_return text_response(200, d_.metrics.render(gauges), "text/plain; version=0.0.4");
}

}  // namespace ig::api
