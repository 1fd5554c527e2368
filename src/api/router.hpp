#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api/console.hpp"
#include "api/http.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "runtime/memory_budget.hpp"
#include "runtime/offload.hpp"

#include "store/store.hpp"
#include "tasks/task_events.hpp"

namespace ig::storage {
class ResultStorage;
class UrlSigner;
}  // namespace ig::storage
namespace ig::tasks {
class TaskService;
}

namespace ig::api {

class AdminApi;
class Authenticator;
class KeyGate;
class Metrics;

/// What the router needs; wired in main.
struct RouterDeps {
  tasks::TaskService& tasks;
  Authenticator& auth;
  storage::ResultStorage& results;
  const storage::UrlSigner& signer;
  store::Store& store;
  Metrics& metrics;
  runtime::BlockingExecutor pool;
  const core::Clock& clock;
  std::string public_base;             // "http://127.0.0.1:8080": prefix of result URLs
  std::int64_t result_ttl_s = 86'400;  // result URLs expire this long after completion
  std::function<bool()> ready;         // false while draining
  std::chrono::milliseconds sync_timeout{300'000};  // `openai`: longest wait for the image
  std::function<std::string()> extra_metrics;        // more Prometheus lines (upstreams); may be empty
  KeyGate* gate = nullptr;    // per-key IP allowlists and rates; none: not checked
  AdminApi* admin = nullptr;  // /admin/v1; none: 404
  // `openai`: base64 answers held at once, process-wide (0: no cap); over it a succeeded
  // request is answered 503 with Retry-After.
  std::size_t answer_memory_bytes = 256 * 1024 * 1024;
  // /console/: the files of this directory, read on every request (console.dir); empty: the
  // ones embedded at build time.
  std::filesystem::path console_dir;
  // Set (S3 with serve = "presigned"): result and upload URLs are this function's (key, Unix
  // expiry) instead of signed /files/ URLs; /files/ URLs keep working.
  std::function<std::string(std::string_view key, std::int64_t expires_s)> object_url;
};

/// Maps requests to handlers: every dialect's endpoints, signed result files, health and
/// metrics. `handle` takes a parsed request and returns a response, so it is testable without
/// a socket. Thread-safe.
class Router {
 public:
  explicit Router(RouterDeps deps);

  boost::asio::awaitable<Response> handle(Request& req, RequestInfo& info);

  /// An error in the envelope that suits `target` (the dialect its path belongs to; a generic
  /// `{"error":{…}}` elsewhere).
  Response render_error(std::string_view target, const core::Error& e) const;

  /// The server's upload gate: a request to an upload path is authenticated from its header
  /// alone, before its body is read; the answer is the 401 its route would give, or nothing.
  boost::asio::awaitable<std::optional<Response>> check_upload(const Request::header_type& header);

  /// The signed URL of a stored object (a result, an uploaded reference) until `expires_s`.
  std::string file_url(std::string_view key, std::int64_t expires_s) const;

  /// Signed, expiring URLs of a succeeded task's results, and when they expire.
  std::vector<std::string> result_urls(const core::Task& task) const;
  std::int64_t urls_expire_at_s(const core::Task& task) const;

 private:
  using Handler = boost::asio::awaitable<Response>;

  Handler route_jobs(Request& req, RequestInfo& info, std::string_view action,
                     std::string_view task_id, std::string_view query);
  Handler route_v1(Request& req, RequestInfo& info, std::string_view path,
                   std::string_view query);
  Handler route_openai(Request& req, RequestInfo& info, std::string_view action);

  /// Authenticates, then creates the parsed task and answers with `render(task)`.
  template <class Parsed, class Render>
  Handler create(Request& req, RequestInfo& info, core::Dialect dialect, Parsed parsed,
                 Render render);
  /// A task in its own dialect; with `?wait=N` (a long-poll) once it changes, or after N s.
  Handler get_task(Request& req, RequestInfo& info, core::Dialect envelope, std::string_view id,
                   std::string_view query);
  /// A task's live status as Server-Sent Events (the answer is the stream's header).
  Handler task_events(Request& req, RequestInfo& info, core::Dialect envelope, std::string_view id);
  /// The body of task_events(): `task` now unless `seen` (Last-Event-ID) names it, then each
  /// change, until the task ends, the client goes or the server drains.
  boost::asio::awaitable<void> stream_task(StreamWriter& out, store::ApiKey key, core::Task task,
                                           std::string seen);
  /// The key of a request about task `id` (authenticate's answer), once the id's format is
  /// checked too.
  static core::Result<store::ApiKey> for_task(core::Result<store::ApiKey> key,
                                              core::Dialect envelope, std::string_view id);
  Handler list_tasks(Request& req, RequestInfo& info, std::string_view query);
  Handler cancel_task(Request& req, RequestInfo& info, std::string_view id);
  Handler credits(Request& req, RequestInfo& info);
  /// The key's own usage per day (and model): the admin usage's rows for one key.
  Handler usage(Request& req, RequestInfo& info, std::string_view query);
  /// The key's own task as the console shows it: the admin view without the operator's
  /// information (upstream calls, routes, callback deliveries).
  Handler task_detail(Request& req, RequestInfo& info, std::string_view id);
  /// The openai answer of a succeeded task: its images from `end` when it ended in this process
  /// (may be null), else read from result storage. Its size is taken from the answer memory
  /// cap first (held in info.answer_memory until the answer is written); over the cap, 503.
  Handler openai_answer(RequestInfo& info, const core::Task& task,
                        const tasks::TaskEvents::End* end,
                        const std::vector<core::Size>& input_sizes);
  /// The 503 of a succeeded task whose answer does not fit under the answer memory cap now.
  Response answer_refused(const RequestInfo& info, const core::Task& task, std::size_t bytes) const;
  Handler openai_images(Request& req, RequestInfo& info, bool edit);
  /// A hosted result; from local storage the body is left to the server's sendfile (info.file).
  Handler serve_file(Request& req, RequestInfo& info, std::string_view key,
                     std::string_view expires, std::string_view signature);
  Handler metrics();
  /// The key of the request, admitted by its IP allowlist and requests per minute.
  boost::asio::awaitable<core::Result<store::ApiKey>> authenticate(const Request& req,
                                                                   const RequestInfo& info);
  /// authenticate()'s answer when it needs neither a store read nor the shared rate count,
  /// without a coroutine; nullopt: co_await authenticate(). Used where every request counts
  /// (creates and task reads); elsewhere authenticate() alone is enough.
  /// Callers assign the co_await in a statement of its own, never inside `?:` (GCC 12 then
  /// destroys the operand twice):
  ///   auto known = authenticate_now(req, info);
  ///   if (!known) known = co_await authenticate(req, info);
  std::optional<core::Result<store::ApiKey>> authenticate_now(const Request& req,
                                                              const RequestInfo& info);
  /// The key's IP allowlist and local requests-per-minute check.
  core::Status admit(const store::ApiKey& key, const Request& req, const RequestInfo& info);

  /// An Idempotency-Key of a create: none (key ""), a first use (go on, then finish or
  /// abandon it), or an answer to replay.
  struct Idempotency {
    std::string key;
    std::int64_t account = 0;
    bool replay = false;
    store::IdempotentBegin found;
  };
  /// `describe` says what the request is (hashed on the blocking pool, and only when the
  /// request has a key).
  boost::asio::awaitable<core::Result<Idempotency>> idempotency(
      const Request& req, const store::ApiKey& key, std::function<std::string()> describe);
  /// 400 for a bad key, 422 for a key used with another request, 409 while the first runs.
  Response idempotency_error(core::Dialect dialect, const core::Error& e) const;
  boost::asio::awaitable<void> idempotency_finish(const Idempotency& idem,
                                                  const std::string& task_id, int status,
                                                  const std::string& body);
  boost::asio::awaitable<void> idempotency_abandon(const Idempotency& idem);

  RouterDeps d_;
  runtime::MemoryBudget answer_memory_;
  ConsoleSite console_;
};

}  // namespace ig::api
