#include "tasks/upstream_router.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ig::tasks {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using providers::FailureClass;
using providers::GenerateError;
using providers::GenerateJob;
using providers::GenerateResult;

/// A scripted provider: each call takes the next outcome (the last one repeats).
class ScriptedProvider final : public providers::Provider {
 public:
  struct Step {
    std::optional<GenerateError> error;  // none: success
    std::chrono::milliseconds delay{0};
    std::string upstream_id;
  };

  ScriptedProvider(std::string name, std::vector<Step> steps, std::string kind = "openai")
      : name_(std::move(name)), kind_(std::move(kind)), steps_(std::move(steps)) {}

  std::string_view name() const override { return name_; }
  std::string_view kind() const override { return kind_; }
  bool can_resume() const override { return kind_ == "relay"; }

  asio::awaitable<GenerateResult> generate(const GenerateJob& job) override {
    Step step;
    {
      std::lock_guard lock(mu_);
      step = steps_[std::min(calls_, steps_.size() - 1)];
      ++calls_;
      call_times_.push_back(std::chrono::steady_clock::now());
      resumed_.push_back(job.resume_upstream_id);
      const int now = ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, now);
    }
    if (!step.upstream_id.empty() && job.observer != nullptr) {
      accepted_ = co_await job.observer->upstream_accepted(step.upstream_id);
    }
    if (step.delay.count() > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor, step.delay);
      auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        --in_flight_;
        GenerateResult r;
        r.error = GenerateError{"cancelled", "cancelled", FailureClass::kNoWork};
        co_return r;
      }
    }
    --in_flight_;
    GenerateResult r;
    r.upstream_id = step.upstream_id;
    if (step.error) {
      r.error = step.error;
      co_return r;
    }
    r.images.resize(static_cast<std::size_t>(job.request.n));
    co_return r;
  }

  std::size_t calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<std::chrono::steady_clock::time_point> call_times() const {
    std::lock_guard lock(mu_);
    return call_times_;
  }
  std::vector<std::string> resumed() const {
    std::lock_guard lock(mu_);
    return resumed_;
  }
  int max_in_flight() const { return max_in_flight_; }
  bool accepted() const { return accepted_; }

 private:
  std::string name_;
  std::string kind_;
  std::vector<Step> steps_;
  mutable std::mutex mu_;
  std::size_t calls_ = 0;
  std::vector<std::chrono::steady_clock::time_point> call_times_;
  std::vector<std::string> resumed_;
  std::atomic<int> in_flight_{0};
  int max_in_flight_ = 0;
  std::atomic<bool> accepted_{false};
};

GenerateError err(FailureClass cls, std::string code = "upstream_error",
                  std::chrono::milliseconds retry_after = std::chrono::milliseconds(-1)) {
  GenerateError e{std::move(code), "scripted failure", cls};
  e.retry_after = retry_after;
  return e;
}

ScriptedProvider::Step ok() {
  return {};
}
ScriptedProvider::Step fail(GenerateError e) {
  return {std::move(e), {}, {}};
}

/// Records the calls as the store would.
class MemoryLog final : public CallLog {
 public:
  asio::awaitable<std::int64_t> begin(const CallRecord& call) override {
    std::lock_guard lock(mu_);
    begun.push_back(call);
    co_return static_cast<std::int64_t>(begun.size());
  }
  asio::awaitable<void> finish(std::int64_t id, const CallRecord& call) override {
    std::lock_guard lock(mu_);
    finished.emplace_back(id, call);
    co_return;
  }
  asio::awaitable<bool> upstream_accepted(const std::string& route,
                                          std::string upstream_id) override {
    std::lock_guard lock(mu_);
    accepted.emplace_back(route, std::move(upstream_id));
    co_return true;
  }
  std::mutex mu_;
  std::vector<CallRecord> begun;
  std::vector<std::pair<std::int64_t, CallRecord>> finished;
  std::vector<std::pair<std::string, std::string>> accepted;
};

RouteSettings fast(int retries = 2) {
  RouteSettings s;
  s.max_retries = retries;
  s.retry_base = 1ms;
  s.retry_max = 20ms;
  s.breaker_failures = 100;
  s.breaker_cooldown = 50ms;
  return s;
}

GenerateJob job(int n = 1) {
  GenerateJob j;
  j.request.n = n;
  j.request.prompt = "a cat";
  j.task_id = "t-1";
  return j;
}

// The router writes into its caller's result; a test coroutine keeps one and returns it.
asio::awaitable<RoutedResult> generated(UpstreamRouter& router, std::string family,
                                        GenerateJob& j, CallLog& log) {
  RoutedResult out;
  co_await router.generate(std::move(family), j, log, out);
  co_return out;
}

RoutedResult run(UpstreamRouter& router, GenerateJob j, CallLog& log,
                 std::string family = "gpt-image-2") {
  asio::io_context io;
  RoutedResult out;
  bool done = false;
  asio::co_spawn(io, generated(router, std::move(family), j, log),
                 [&](std::exception_ptr e, RoutedResult r) {
                   ASSERT_FALSE(e);
                   out = std::move(r);
                   done = true;
                 });
  io.run();
  EXPECT_TRUE(done);
  return out;
}

struct Routes {
  std::map<std::string, RouteSpec> specs;
  void add(std::shared_ptr<ScriptedProvider> p, RouteSettings s) {
    specs[std::string(p->name())] = RouteSpec{p, s};
  }
};

TEST(UpstreamRouter, SuccessOnTheFirstRouteIsLoggedBeforeAndAfter) {
  auto a = std::make_shared<ScriptedProvider>("a", std::vector{ok()});
  Routes r;
  r.add(a, fast());
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a"}}});
  MemoryLog log;
  auto out = run(router, job(2), log);
  EXPECT_FALSE(out.result.error);
  EXPECT_EQ(out.result.images.size(), 2u);
  EXPECT_EQ(out.route, "a");
  ASSERT_EQ(log.begun.size(), 1u);
  EXPECT_EQ(log.begun[0].route, "a");
  EXPECT_EQ(log.begun[0].provider_kind, "openai");
  ASSERT_EQ(log.finished.size(), 1u);
  EXPECT_EQ(log.finished[0].first, 1);
  EXPECT_EQ(log.finished[0].second.error_class, "");
}

TEST(UpstreamRouter, NoWorkFailuresAreRetriedThenFailedOver) {
  auto a = std::make_shared<ScriptedProvider>("a", std::vector{fail(err(FailureClass::kNoWork))});
  auto b = std::make_shared<ScriptedProvider>("b", std::vector{ok()});
  Routes r;
  r.add(a, fast(2));
  r.add(b, fast(2));
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a", "b"}}});
  MemoryLog log;
  auto out = run(router, job(), log);
  EXPECT_FALSE(out.result.error);
  EXPECT_EQ(out.route, "b");
  EXPECT_EQ(a->calls(), 3u);  // the first call and two retries
  EXPECT_EQ(b->calls(), 1u);
  ASSERT_EQ(log.finished.size(), 4u);
  EXPECT_EQ(log.finished[0].second.error_class, "no_work");
  EXPECT_EQ(log.finished[3].second.route, "b");
}

TEST(UpstreamRouter, RetryAfterIsHonoured) {
  auto a = std::make_shared<ScriptedProvider>(
      "a", std::vector{fail(err(FailureClass::kNoWork, "upstream_error", 150ms)), ok()});
  Routes r;
  auto s = fast(1);
  s.retry_max = 1000ms;
  r.add(a, s);
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a"}}});
  MemoryLog log;
  auto out = run(router, job(), log);
  EXPECT_FALSE(out.result.error);
  auto times = a->call_times();
  ASSERT_EQ(times.size(), 2u);
  EXPECT_GE(times[1] - times[0], 150ms);
}

TEST(UpstreamRouter, ARetryAfterLongerThanTheCapFailsOverAtOnce) {
  auto a = std::make_shared<ScriptedProvider>(
      "a", std::vector{fail(err(FailureClass::kNoWork, "upstream_error", 60s))});
  auto b = std::make_shared<ScriptedProvider>("b", std::vector{ok()});
  Routes r;
  r.add(a, fast(3));
  r.add(b, fast());
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a", "b"}}});
  MemoryLog log;
  const auto started = std::chrono::steady_clock::now();
  auto out = run(router, job(), log);
  EXPECT_FALSE(out.result.error);
  EXPECT_EQ(a->calls(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(UpstreamRouter, RouteFaultGoesToTheNextRouteWithoutRetry) {
  auto a =
      std::make_shared<ScriptedProvider>("a", std::vector{fail(err(FailureClass::kRouteFault))});
  auto b = std::make_shared<ScriptedProvider>("b", std::vector{ok()});
  Routes r;
  r.add(a, fast(3));
  r.add(b, fast());
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a", "b"}}});
  MemoryLog log;
  auto out = run(router, job(), log);
  EXPECT_FALSE(out.result.error);
  EXPECT_EQ(a->calls(), 1u);
}

TEST(UpstreamRouter, RejectionsFailuresAndUnknownOutcomesAreNeverSentAgain) {
  for (FailureClass cls :
       {FailureClass::kRejected, FailureClass::kFailed, FailureClass::kUnknown}) {
    auto a = std::make_shared<ScriptedProvider>("a", std::vector{fail(err(cls, "x"))});
    auto b = std::make_shared<ScriptedProvider>("b", std::vector{ok()});
    Routes r;
    r.add(a, fast(3));
    r.add(b, fast());
    UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a", "b"}}});
    MemoryLog log;
    auto out = run(router, job(), log);
    ASSERT_TRUE(out.result.error) << providers::to_string(cls);
    EXPECT_EQ(out.result.error->cls, cls);
    EXPECT_EQ(out.route, "a");
    EXPECT_EQ(a->calls(), 1u) << providers::to_string(cls);
    EXPECT_EQ(b->calls(), 0u) << providers::to_string(cls);
  }
}

TEST(UpstreamRouter, OnUnknownRetryResubmits) {
  auto a = std::make_shared<ScriptedProvider>(
      "a", std::vector{fail(err(FailureClass::kUnknown, "upstream_unknown_outcome")), ok()});
  Routes r;
  auto s = fast(2);
  s.retry_unknown = true;
  r.add(a, s);
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a"}}});
  EXPECT_TRUE(router.resubmits_unknown("a"));
  MemoryLog log;
  auto out = run(router, job(), log);
  EXPECT_FALSE(out.result.error);
  EXPECT_EQ(a->calls(), 2u);
}

TEST(UpstreamRouter, AllRoutesDownNamesEachFailure) {
  auto a = std::make_shared<ScriptedProvider>("a", std::vector{fail(err(FailureClass::kNoWork))});
  auto b =
      std::make_shared<ScriptedProvider>("b", std::vector{fail(err(FailureClass::kRouteFault))});
  Routes r;
  r.add(a, fast(1));
  r.add(b, fast(1));
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a", "b"}}});
  MemoryLog log;
  auto out = run(router, job(), log);
  ASSERT_TRUE(out.result.error);
  EXPECT_EQ(out.result.error->code, "upstream_error");
  EXPECT_NE(out.result.error->message.find("every upstream failed"), std::string::npos);
  EXPECT_EQ(a->calls(), 2u);
  EXPECT_EQ(b->calls(), 1u);
}

TEST(UpstreamRouter, BreakerOpensSkipsTheRouteAndRecoversAfterAProbe) {
  auto a = std::make_shared<ScriptedProvider>(
      "a", std::vector{fail(err(FailureClass::kNoWork)), fail(err(FailureClass::kNoWork)), ok()});
  auto b = std::make_shared<ScriptedProvider>("b", std::vector{ok()});
  Routes r;
  auto s = fast(0);
  s.breaker_failures = 2;
  s.breaker_cooldown = 200ms;
  r.add(a, s);
  r.add(b, fast());
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a", "b"}}});
  MemoryLog log;
  run(router, job(), log);  // a fails once (→ b)
  run(router, job(), log);  // a fails twice: open (→ b)
  EXPECT_NE(router.metrics().find("imagegate_provider_breaker_state{provider=\"a\"} 1"),
            std::string::npos);
  run(router, job(), log);  // skipped
  EXPECT_EQ(a->calls(), 2u);
  EXPECT_EQ(b->calls(), 3u);
  EXPECT_NE(router.metrics().find(
                "imagegate_upstream_requests_total{provider=\"a\",outcome=\"breaker_open\"} 1"),
            std::string::npos);
  std::this_thread::sleep_for(250ms);
  EXPECT_NE(router.metrics().find("imagegate_provider_breaker_state{provider=\"a\"} 2"),
            std::string::npos);
  auto out = run(router, job(), log);  // the probe succeeds
  EXPECT_EQ(out.route, "a");
  EXPECT_EQ(a->calls(), 3u);
  EXPECT_NE(router.metrics().find("imagegate_provider_breaker_state{provider=\"a\"} 0"),
            std::string::npos);
}

TEST(UpstreamRouter, AFailedProbeOpensTheBreakerAgain) {
  CircuitBreaker breaker(1, 100ms);
  const auto t0 = CircuitBreaker::Clock::now();
  EXPECT_TRUE(breaker.allow(t0));
  breaker.failure(t0);
  EXPECT_FALSE(breaker.allow(t0 + 50ms));
  EXPECT_TRUE(breaker.allow(t0 + 150ms));   // the probe
  EXPECT_FALSE(breaker.allow(t0 + 150ms));  // only one
  breaker.failure(t0 + 160ms);
  EXPECT_EQ(breaker.state(t0 + 200ms), CircuitBreaker::State::kOpen);
  EXPECT_TRUE(breaker.allow(t0 + 300ms));
  breaker.abandoned();
  EXPECT_TRUE(breaker.allow(t0 + 300ms));  // an abandoned probe lets another through
  breaker.success();
  EXPECT_EQ(breaker.state(t0 + 300ms), CircuitBreaker::State::kClosed);
}

TEST(UpstreamRouter, ConcurrencyIsLimitedPerRoute) {
  ScriptedProvider::Step slow{std::nullopt, 50ms, {}};
  auto a = std::make_shared<ScriptedProvider>("a", std::vector{slow});
  Routes r;
  auto s = fast();
  s.concurrency = 2;
  r.add(a, s);
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a"}}});
  MemoryLog log;
  asio::io_context io;
  int done = 0;
  std::vector<GenerateJob> jobs(6, job());  // each run's, alive until io.run() returns
  for (int i = 0; i < 6; ++i) {
    asio::co_spawn(asio::make_strand(io), generated(router, "gpt-image-2", jobs[i], log),
                   [&](std::exception_ptr e, RoutedResult r) {
                     EXPECT_FALSE(e);
                     EXPECT_FALSE(r.result.error);
                     ++done;
                   });
  }
  io.run();
  EXPECT_EQ(done, 6);
  EXPECT_EQ(a->calls(), 6u);
  EXPECT_EQ(a->max_in_flight(), 2);
}

TEST(UpstreamRouter, CancellationWhileWaitingInLineEndsTheRun) {
  ScriptedProvider::Step slow{std::nullopt, 300ms, {}};
  auto a = std::make_shared<ScriptedProvider>("a", std::vector{slow});
  Routes r;
  auto s = fast();
  s.concurrency = 1;
  r.add(a, s);
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a"}}});
  MemoryLog log;
  asio::io_context io;
  asio::cancellation_signal signal;
  std::optional<RoutedResult> second;
  GenerateJob first_job = job();
  GenerateJob second_job = job();
  asio::co_spawn(io, generated(router, "gpt-image-2", first_job, log), asio::detached);
  asio::co_spawn(
      io, generated(router, "gpt-image-2", second_job, log),
      asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, RoutedResult r) {
        EXPECT_FALSE(e);
        second = std::move(r);
      }));
  asio::steady_timer t(io, 50ms);
  t.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
  io.run();
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->result.error);
  EXPECT_EQ(second->result.error->code, "cancelled");
  EXPECT_EQ(a->calls(), 1u);
}

TEST(UpstreamRouter, ProvidersReportTheirUpstreamIdThroughTheLog) {
  auto a = std::make_shared<ScriptedProvider>(
      "a", std::vector{ScriptedProvider::Step{std::nullopt, {}, "up-42"}}, "relay");
  Routes r;
  r.add(a, fast());
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a"}}});
  MemoryLog log;
  auto out = run(router, job(), log);
  EXPECT_FALSE(out.result.error);
  EXPECT_TRUE(a->accepted());
  ASSERT_EQ(log.accepted.size(), 1u);
  EXPECT_EQ(log.accepted[0].first, "a");
  EXPECT_EQ(log.accepted[0].second, "up-42");
  EXPECT_EQ(log.finished[0].second.upstream_id, "up-42");
}

TEST(UpstreamRouter, ResumeGoesToTheRecordedRouteOnly) {
  auto relay = std::make_shared<ScriptedProvider>("r", std::vector{ok()}, "relay");
  auto other = std::make_shared<ScriptedProvider>("o", std::vector{ok()});
  Routes r;
  r.add(relay, fast());
  r.add(other, fast());
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"o", "r"}}});
  EXPECT_TRUE(router.can_resume("r"));
  EXPECT_FALSE(router.can_resume("o"));
  MemoryLog log;
  auto j = job();
  j.resume_upstream_id = "up-7";
  asio::io_context io;
  RoutedResult out;
  bool done = false;
  asio::co_spawn(io, router.resume("r", j, log, out), [&](std::exception_ptr e) {
    EXPECT_FALSE(e);
    done = true;
  });
  io.run();
  EXPECT_TRUE(done);
  EXPECT_FALSE(out.result.error);
  EXPECT_EQ(out.route, "r");
  EXPECT_EQ(relay->resumed(), std::vector<std::string>{"up-7"});
  EXPECT_EQ(other->calls(), 0u);
}

/// A log whose store is down.
class BrokenLog final : public CallLog {
 public:
  asio::awaitable<std::int64_t> begin(const CallRecord&) override { co_return 0; }
  asio::awaitable<void> finish(std::int64_t, const CallRecord&) override { co_return; }
  asio::awaitable<bool> upstream_accepted(const std::string&, std::string) override {
    co_return false;
  }
};

TEST(UpstreamRouter, ACallThatCannotBeRecordedIsNotMade) {
  auto a = std::make_shared<ScriptedProvider>("a", std::vector{ok()});
  Routes r;
  r.add(a, fast());
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a"}}});
  BrokenLog log;
  auto out = run(router, job(), log);
  ASSERT_TRUE(out.result.error);
  EXPECT_EQ(out.result.error->code, "internal_error");
  EXPECT_EQ(a->calls(), 0u);
}

TEST(UpstreamRouter, FamiliesAndTheFallback) {
  auto a = std::make_shared<ScriptedProvider>("a", std::vector{ok()});
  Routes r;
  r.add(a, fast());
  UpstreamRouter router(std::move(r.specs), {{"gpt-image-2", {"a"}}, {"*", {"a", "b"}}});
  EXPECT_EQ(router.routes_for("gpt-image-2"), std::vector<std::string>{"a"});
  EXPECT_EQ(router.routes_for("gpt-image-1"), (std::vector<std::string>{"a", "b"}));
  UpstreamRouter no_fallback({}, {{"gpt-image-2", {"a"}}});
  EXPECT_TRUE(no_fallback.routes_for("gpt-image-1").empty());
  MemoryLog log;
  auto out = run(no_fallback, job(), log, "gpt-image-1");
  ASSERT_TRUE(out.result.error);
  EXPECT_EQ(out.result.error->code, "no_route");
  UpstreamRouter empty({}, {});
  EXPECT_EQ(empty.routes_for("anything"), std::vector<std::string>{"sandbox"});
}

TEST(UpstreamRouter, RouteSettingsAreReadAndChecked) {
  providers::ProviderSettings s;
  s.name = "a";
  s.options = {{"concurrency", "7"},    {"max_retries", "4"},      {"retry_base_ms", "10"},
               {"retry_max_ms", "100"}, {"breaker_failures", "3"}, {"breaker_cooldown_ms", "999"},
               {"on_unknown", "retry"}};
  auto rs = read_route_settings(s);
  ASSERT_TRUE(rs);
  EXPECT_EQ(rs->concurrency, 7);
  EXPECT_EQ(rs->max_retries, 4);
  EXPECT_EQ(rs->retry_base, 10ms);
  EXPECT_EQ(rs->retry_max, 100ms);
  EXPECT_EQ(rs->breaker_failures, 3);
  EXPECT_EQ(rs->breaker_cooldown, 999ms);
  EXPECT_TRUE(rs->retry_unknown);
  s.options = {{"on_unknown", "maybe"}};
  auto bad = read_route_settings(s);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("providers.a.on_unknown"), std::string::npos);
  s.options = {{"max_retries", "-1"}};
  EXPECT_FALSE(read_route_settings(s));
  s.options = {{"concurrency", "0"}};
  EXPECT_FALSE(read_route_settings(s));
  s.options = {};
  EXPECT_EQ(read_route_settings(s)->concurrency, 8);
}

}  // namespace
}  // namespace ig::tasks
