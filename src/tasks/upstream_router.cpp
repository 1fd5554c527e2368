#include "tasks/upstream_router.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/fail_codes.hpp"

namespace ig::tasks {

namespace asio = boost::asio;
using providers::FailureClass;
using providers::GenerateError;
using providers::GenerateJob;
using providers::GenerateResult;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::array<double, 14> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,  0.25, 0.5,
                                                    1.0,   2.5,  5.0,   10.0, 30.0, 60.0, 300.0};
constexpr std::string_view kOutcomes[] = {"ok",      "no_work", "route_fault", "rejected",
                                          "unknown", "failed",  "breaker_open"};

double jitter() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.5, 1.0)(rng);
}

milliseconds backoff(const RouteSettings& s, int attempt) {
  const double base = static_cast<double>(s.retry_base.count()) * std::pow(2.0, attempt);
  const double capped = std::min(base, static_cast<double>(s.retry_max.count()));
  return milliseconds(static_cast<std::int64_t>(capped * jitter()));
}

asio::awaitable<bool> cancelled() {
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

/// Sleeps; false when the wait was cancelled.
asio::awaitable<bool> sleep_for(milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

GenerateResult error_result(std::string code, std::string message, FailureClass cls) {
  GenerateResult r;
  r.error = GenerateError{std::move(code), std::move(message), cls};
  return r;
}

std::size_t outcome_index(std::string_view outcome) {
  for (std::size_t i = 0; i < std::size(kOutcomes); ++i) {
    if (kOutcomes[i] == outcome) {
      return i;
    }
  }
  return 0;
}

/// What a provider reports during one call, passed on to the log with the route's name.
class RouteObserver final : public providers::CallObserver {
 public:
  RouteObserver(CallLog& log, const std::string& route) : log_(log), route_(route) {}
  asio::awaitable<bool> upstream_accepted(std::string upstream_id) override {
    co_return co_await log_.upstream_accepted(route_, std::move(upstream_id));
  }

 private:
  CallLog& log_;
  const std::string& route_;  // the route's name; the route outlives its calls
};

// The start and the end of a call in the log, each a coroutine of its own: call() waits
// through the upstream call, thousands at once, and a record kept in its frame would be held
// all that time.
CallRecord call_record(const std::string& route, std::string_view kind) {
  CallRecord record;
  record.route = route;
  record.provider_kind = std::string(kind);
  return record;
}

asio::awaitable<std::int64_t> begin_call(CallLog& log, const std::string& route,
                                         std::string_view kind) {
  const CallRecord record = call_record(route, kind);
  co_return co_await log.begin(record);
}

/// `result` as it came back after `duration_ms`, or (null) a call cancelled before its
/// request was sent.
asio::awaitable<void> end_call(CallLog& log, std::int64_t id, const std::string& route,
                               std::string_view kind, const GenerateResult* result,
                               std::int64_t duration_ms) {
  CallRecord record = call_record(route, kind);
  if (result == nullptr) {
    record.error_class = std::string(providers::to_string(FailureClass::kNoWork));
    record.error_code = "cancelled";
    record.message = "cancelled before the request was sent";
  } else {
    record.upstream_id = result->upstream_id;
    record.http_status = result->http_status;
    record.duration_ms = duration_ms;
    if (result->error) {
      record.error_class = std::string(providers::to_string(result->error->cls));
      record.error_code = result->error->code;
      record.message = result->error->message;
      if (record.http_status == 0) {
        record.http_status = result->error->http_status;
      }
    }
  }
  co_await log.finish(id, record);
}

}  // namespace

// --- settings

core::Result<RouteSettings> read_route_settings(const providers::ProviderSettings& s) {
  RouteSettings out;
  auto concurrency = providers::read_int(s, "concurrency", out.concurrency, 1, 100'000);
  auto retries = providers::read_int(s, "max_retries", out.max_retries, 0, 20);
  auto base = providers::read_int(s, "retry_base_ms", out.retry_base.count(), 1, 3'600'000);
  auto max = providers::read_int(s, "retry_max_ms", out.retry_max.count(), 1, 3'600'000);
  auto failures = providers::read_int(s, "breaker_failures", out.breaker_failures, 1, 1'000'000);
  auto cooldown =
      providers::read_int(s, "breaker_cooldown_ms", out.breaker_cooldown.count(), 1, 86'400'000);
  for (auto* r : {&concurrency, &retries, &base, &max, &failures, &cooldown}) {
    if (!*r) {
      return r->error();
    }
  }
  out.concurrency = static_cast<int>(*concurrency);
  out.max_retries = static_cast<int>(*retries);
  out.retry_base = milliseconds(*base);
  out.retry_max = milliseconds(*max);
  out.breaker_failures = static_cast<int>(*failures);
  out.breaker_cooldown = milliseconds(*cooldown);
  if (auto it = s.options.find("on_unknown"); it != s.options.end()) {
    if (it->second != "fail" && it->second != "retry") {
      return providers::setting_error(s, "on_unknown", "must be fail or retry");
    }
    out.retry_unknown = it->second == "retry";
  }
  return out;
}

// --- breaker

std::string_view to_string(CircuitBreaker::State s) {
  switch (s) {
    case CircuitBreaker::State::kClosed: return "closed";
    case CircuitBreaker::State::kOpen: return "open";
    case CircuitBreaker::State::kHalfOpen: return "half_open";
  }
  return "closed";
}

CircuitBreaker::CircuitBreaker(int failures, milliseconds cooldown)
    : threshold_(std::max(1, failures)), cooldown_(cooldown) {}

bool CircuitBreaker::allow(Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (!open_) {
    return true;
  }
  if (now < open_until_ || probing_) {
    return false;
  }
  probing_ = true;  // half-open: this caller is the probe
  return true;
}

void CircuitBreaker::success() {
  std::lock_guard lock(mu_);
  consecutive_ = 0;
  open_ = false;
  probing_ = false;
}

void CircuitBreaker::failure(Clock::time_point now) {
  std::lock_guard lock(mu_);
  ++consecutive_;
  if (probing_ || consecutive_ >= threshold_) {
    open_ = true;
    open_until_ = now + cooldown_;
  }
  probing_ = false;
}

void CircuitBreaker::abandoned() {
  std::lock_guard lock(mu_);
  probing_ = false;
}

CircuitBreaker::State CircuitBreaker::state(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  if (!open_) {
    return State::kClosed;
  }
  return now < open_until_ && !probing_ ? State::kOpen : State::kHalfOpen;
}

// --- routes

struct UpstreamRouter::Route {
  Route(std::string n, RouteSpec spec)
      : name(std::move(n)),
        provider(std::move(spec.provider)),
        settings(spec.settings),
        slots(static_cast<std::size_t>(std::max(1, spec.settings.concurrency))),
        breaker(spec.settings.breaker_failures, spec.settings.breaker_cooldown) {}

  void observe(std::string_view outcome, double seconds) {
    std::lock_guard lock(mu);
    ++outcomes[outcome_index(outcome)];
    if (outcome == "breaker_open") {
      return;
    }
    ++latency_count;
    latency_sum += seconds;
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      if (seconds <= kLatencyBuckets[i]) {
        ++latency_buckets[i];
      }
    }
  }

  std::string name;
  std::shared_ptr<providers::Provider> provider;
  RouteSettings settings;
  runtime::AsyncSemaphore slots;
  CircuitBreaker breaker;
  std::atomic<int> in_flight{0};

  mutable std::mutex mu;
  std::array<std::uint64_t, std::size(kOutcomes)> outcomes{};
  std::array<std::uint64_t, kLatencyBuckets.size()> latency_buckets{};
  std::uint64_t latency_count = 0;
  double latency_sum = 0;
};

UpstreamRouter::UpstreamRouter(std::map<std::string, RouteSpec> routes,
                               std::vector<std::pair<std::string, std::vector<std::string>>> table)
    : table_(std::move(table)) {
  for (auto& [name, spec] : routes) {
    routes_.emplace(name, std::make_unique<Route>(name, std::move(spec)));
  }
}

UpstreamRouter::~UpstreamRouter() = default;

UpstreamRouter::Route* UpstreamRouter::find(std::string_view name) const {
  auto it = routes_.find(name);
  return it == routes_.end() ? nullptr : it->second.get();
}

std::string_view UpstreamRouter::kind_of(std::string_view route) const {
  const Route* r = find(route);
  return r == nullptr ? std::string_view() : r->provider->kind();
}

std::vector<RouteStatus> UpstreamRouter::status() const {
  std::vector<RouteStatus> out;
  const auto now = Clock::now();
  for (const auto& [name, r] : routes_) {
    RouteStatus st;
    st.route = name;
    st.kind = std::string(r->provider->kind());
    st.breaker = r->breaker.state(now);
    st.in_flight = r->in_flight.load();
    st.concurrency = std::max(1, r->settings.concurrency);
    if (table_.empty()) {
      st.families.emplace_back("*");  // every family goes to the sandbox
    }
    for (const auto& [family, names] : table_) {
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        st.families.push_back(family);
      }
    }
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<std::string> UpstreamRouter::routes_for(std::string_view family) const {
  if (table_.empty()) {
    return {"sandbox"};
  }
  for (const auto& [f, names] : table_) {
    if (f == family) {
      return names;
    }
  }
  for (const auto& [f, names] : table_) {
    if (f == "*") {
      return names;
    }
  }
  return {};
}

bool UpstreamRouter::resubmits_unknown(std::string_view route) const {
  const Route* r = find(route);
  if (r == nullptr) {
    return false;
  }
  return r->settings.retry_unknown || r->provider->kind() == "sandbox";
}

bool UpstreamRouter::can_resume(std::string_view route) const {
  const Route* r = find(route);
  return r != nullptr && r->provider->can_resume();
}

asio::awaitable<UpstreamRouter::Step> UpstreamRouter::call(Route& route, GenerateJob& job,
                                                           CallLog& log, RoutedResult& out) {
  for (int attempt = 0;; ++attempt) {
    if (!route.breaker.allow(Clock::now())) {
      route.observe("breaker_open", 0);
      out.route = route.name;
      out.result = error_result(std::string(core::fail::kUpstreamError),
                                "upstream " + route.name + " is unavailable (circuit open)",
                                FailureClass::kNoWork);
      co_return Step::kNextRoute;
    }
    if (!co_await route.slots.acquire()) {
      route.breaker.abandoned();
      out.result = error_result("cancelled", "the run was cancelled", FailureClass::kNoWork);
      co_return Step::kDone;
    }
    const std::int64_t call_id = co_await begin_call(log, route.name, route.provider->kind());
    if (call_id == 0) {
      // Without the record a crash during the call would send it again after the restart:
      // a paid call is not made unless it is on record first.
      route.slots.release();
      route.breaker.abandoned();
      out.route = route.name;
      out.result = error_result(std::string(core::fail::kInternal),
                                "the upstream call could not be recorded, so it was not sent",
                                FailureClass::kNoWork);
      co_return Step::kDone;
    }
    if (co_await cancelled()) {
      // Stopped before anything was sent: nothing to pay for, nothing to retry here.
      route.slots.release();
      route.breaker.abandoned();
      co_await end_call(log, call_id, route.name, route.provider->kind(), nullptr, 0);
      out.route = route.name;
      out.result = error_result("cancelled", "the run was cancelled", FailureClass::kNoWork);
      co_return Step::kDone;
    }
    ++route.in_flight;
    const auto started = Clock::now();
    GenerateResult& result = out.result;  // written in place: this frame waits with the call
    RouteObserver observer(log, route.name);
    job.observer = &observer;
    try {
      result = co_await route.provider->generate(job);
    } catch (const std::exception& e) {
      spdlog::error("upstream {} threw: {}", route.name, e.what());
      result =
          error_result(std::string(core::fail::kUpstreamError),
                       "upstream " + route.name + " failed unexpectedly", FailureClass::kUnknown);
    }
    job.observer = nullptr;  // `observer` ends with this iteration
    --route.in_flight;
    route.slots.release();
    const auto elapsed = Clock::now() - started;
    const double seconds = std::chrono::duration<double>(elapsed).count();
    co_await end_call(log, call_id, route.name, route.provider->kind(), &result,
                      std::chrono::duration_cast<milliseconds>(elapsed).count());
    out.route = route.name;
    if (!result.error) {
      route.breaker.success();
      route.observe("ok", seconds);
      co_return Step::kDone;
    }
    const GenerateError& e = *result.error;
    route.observe(providers::to_string(e.cls), seconds);
    const bool was_cancelled = co_await cancelled();
    FailureClass cls = e.cls;
    if (cls == FailureClass::kUnknown && route.settings.retry_unknown && !was_cancelled) {
      cls = FailureClass::kNoWork;  // the operator accepts paying twice over losing a task
    }
    spdlog::warn("task={} upstream={} call failed: class={} code={} status={} ({})", job.task_id,
                 route.name, providers::to_string(e.cls), e.code,
                 result.http_status != 0 ? result.http_status : e.http_status, e.message);
    if (was_cancelled) {
      route.breaker.abandoned();
      co_return Step::kDone;
    }
    switch (cls) {
      case FailureClass::kRejected:
        route.breaker.success();  // it answered sanely: the route is healthy
        co_return Step::kDone;
      case FailureClass::kUnknown:
      case FailureClass::kFailed:
        route.breaker.failure(Clock::now());
        co_return Step::kDone;
      case FailureClass::kRouteFault:
        route.breaker.failure(Clock::now());
        co_return Step::kNextRoute;
      case FailureClass::kNoWork:
        route.breaker.failure(Clock::now());
        break;
    }
    if (attempt >= route.settings.max_retries) {
      co_return Step::kNextRoute;
    }
    milliseconds delay = backoff(route.settings, attempt);
    if (e.retry_after.count() >= 0) {
      if (e.retry_after > route.settings.retry_max) {
        co_return Step::kNextRoute;  // not worth the wait here: another route may serve now
      }
      delay = std::max(delay, e.retry_after);
    }
    if (!co_await sleep_for(delay)) {
      co_return Step::kDone;  // cancelled while waiting
    }
  }
}

asio::awaitable<void> UpstreamRouter::generate(std::string family, GenerateJob& job,
                                               CallLog& log, RoutedResult& out) {
  co_await asio::this_coro::throw_if_cancelled(false);
  out = RoutedResult{};
  const auto names = routes_for(family);
  if (names.empty()) {
    out.result = error_result(std::string(core::fail::kNoRoute),
                              "no configured provider serves the model family " + family,
                              FailureClass::kRejected);
    co_return;
  }
  std::string tried;
  for (const auto& name : names) {
    Route* route = find(name);
    if (route == nullptr) {
      continue;  // checked at start-up; kept safe
    }
    if (co_await cancelled()) {
      out.result = error_result("cancelled", "the run was cancelled", FailureClass::kNoWork);
      co_return;
    }
    const Step step = co_await call(*route, job, log, out);
    if (step == Step::kDone) {
      co_return;
    }
    if (out.result.error) {
      tried += (tried.empty() ? "" : "; ") + out.result.error->message;
    }
  }
  // Every route failed without doing work (or was skipped).
  const int status = out.result.error ? out.result.error->http_status : 0;
  out.result = error_result(std::string(core::fail::kUpstreamError),
                            "every upstream failed: " + tried, FailureClass::kNoWork);
  out.result.error->http_status = status;
}

asio::awaitable<void> UpstreamRouter::resume(std::string route_name, GenerateJob& job,
                                             CallLog& log, RoutedResult& out) {
  co_await asio::this_coro::throw_if_cancelled(false);
  out = RoutedResult{};
  Route* route = find(route_name);
  if (route == nullptr || !route->provider->can_resume()) {
    out.route = route_name;
    out.result = error_result(std::string(core::fail::kUpstreamUnknownOutcome),
                              "the upstream " + route_name + " cannot be asked about earlier work",
                              FailureClass::kUnknown);
    co_return;
  }
  // A resumed call creates nothing new upstream, and is never failed over to another route.
  co_await call(*route, job, log, out);
}

std::string UpstreamRouter::metrics() const {
  std::string out;
  out += "# HELP imagegate_upstream_requests_total Upstream calls by provider and outcome.\n";
  out += "# TYPE imagegate_upstream_requests_total counter\n";
  for (const auto& [name, r] : routes_) {
    std::lock_guard lock(r->mu);
    for (std::size_t i = 0; i < std::size(kOutcomes); ++i) {
      out += fmt::format("imagegate_upstream_requests_total{{provider=\"{}\",outcome=\"{}\"}} {}\n",
                         name, kOutcomes[i], r->outcomes[i]);
    }
  }
  out += "# HELP imagegate_upstream_latency_seconds Upstream call duration by provider.\n";
  out += "# TYPE imagegate_upstream_latency_seconds histogram\n";
  for (const auto& [name, r] : routes_) {
    std::lock_guard lock(r->mu);
    for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      out +=
          fmt::format("imagegate_upstream_latency_seconds_bucket{{provider=\"{}\",le=\"{}\"}} {}\n",
                      name, kLatencyBuckets[i], r->latency_buckets[i]);
    }
    out +=
        fmt::format("imagegate_upstream_latency_seconds_bucket{{provider=\"{}\",le=\"+Inf\"}} {}\n",
                    name, r->latency_count);
    out += fmt::format("imagegate_upstream_latency_seconds_sum{{provider=\"{}\"}} {}\n", name,
                       r->latency_sum);
    out += fmt::format("imagegate_upstream_latency_seconds_count{{provider=\"{}\"}} {}\n", name,
                       r->latency_count);
  }
  out +=
      "# HELP imagegate_provider_breaker_state Circuit breaker: 0 closed, 1 open, 2 half-open.\n";
  out += "# TYPE imagegate_provider_breaker_state gauge\n";
  const auto now = Clock::now();
  for (const auto& [name, r] : routes_) {
    out += fmt::format("imagegate_provider_breaker_state{{provider=\"{}\"}} {}\n", name,
                       static_cast<int>(r->breaker.state(now)));
  }
  out += "# HELP imagegate_provider_in_flight Upstream calls running now.\n";
  out += "# TYPE imagegate_provider_in_flight gauge\n";
  for (const auto& [name, r] : routes_) {
    out += fmt::format("imagegate_provider_in_flight{{provider=\"{}\"}} {}\n", name,
                       r->in_flight.load());
  }
  return out;
}

}  // namespace ig::tasks
