#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/result.hpp"
#include "providers/factory.hpp"
#include "providers/provider.hpp"
#include "runtime/async_semaphore.hpp"

namespace ig::tasks {

/// How the router treats one route: read from its provider section (see kRouteKeys).
struct RouteSettings {
  int concurrency = 8;                            // calls at once; more wait in line
  int max_retries = 2;                            // further calls on this route after kNoWork
  std::chrono::milliseconds retry_base{500};      // backoff: base × 2^try, with jitter
  std::chrono::milliseconds retry_max{10'000};    // backoff cap; a longer Retry-After fails over
  int breaker_failures = 5;                       // consecutive failures that open the breaker
  std::chrono::milliseconds breaker_cooldown{30'000};  // open → half-open after this
  bool retry_unknown = false;  // on_unknown = "retry": an unknown outcome counts as kNoWork
};

/// Reads concurrency, max_retries, retry_base_ms, retry_max_ms, breaker_failures,
/// breaker_cooldown_ms and on_unknown ("fail" | "retry") from a provider section.
core::Result<RouteSettings> read_route_settings(const providers::ProviderSettings& s);

/// A circuit breaker for one route: closed until `failures` consecutive failures, then open
/// (calls skip the route) for `cooldown`, then half-open: one probe call goes through, and its
/// success closes the breaker while its failure opens it again. Thread-safe.
class CircuitBreaker {
 public:
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };
  using Clock = std::chrono::steady_clock;

  CircuitBreaker(int failures, std::chrono::milliseconds cooldown);
  /// Whether a call may go now. In half-open, true for the single probe (the caller must then
  /// report success(), failure() or abandoned()).
  bool allow(Clock::time_point now);
  void success();
  void failure(Clock::time_point now);
  /// The probe ended without an answer about the upstream (cancelled): another may probe.
  void abandoned();
  State state(Clock::time_point now) const;

 private:
  mutable std::mutex mu_;
  const int threshold_;
  const std::chrono::milliseconds cooldown_;
  int consecutive_ = 0;
  bool open_ = false;
  Clock::time_point open_until_{};
  bool probing_ = false;
};

/// What the router tells the attempt log about one upstream call. A plain value.
struct CallRecord {
  std::string route;
  std::string provider_kind;
  std::string upstream_id;
  int http_status = 0;
  std::int64_t duration_ms = 0;
  std::string error_class;  // "" success, else providers::to_string(FailureClass)
  std::string error_code;
  std::string message;
};

/// Where the router records every upstream call, before it leaves and when it ends (the
/// dispatcher writes them to the store). Thread-safe.
class CallLog {
 public:
  virtual ~CallLog() = default;
  /// Before the request leaves: returns an id for finish(), or 0 when it could not be recorded
  /// (then the call is not made).
  virtual boost::asio::awaitable<std::int64_t> begin(const CallRecord& call) = 0;
  virtual boost::asio::awaitable<void> finish(std::int64_t id, const CallRecord& call) = 0;
  /// The provider of `route` reports that the upstream holds the work under `upstream_id`
  /// (providers::CallObserver): returns once that is durable; false when the task is no longer
  /// this run's.
  virtual boost::asio::awaitable<bool> upstream_accepted(const std::string& route,
                                                         std::string upstream_id) = 0;
};

/// One configured route: a provider and how it is called.
struct RouteSpec {
  std::shared_ptr<providers::Provider> provider;
  RouteSettings settings;
};

/// What a routed run produced: the provider's result, and the route that produced it (or that
/// holds the work, for a failure).
struct RoutedResult {
  providers::GenerateResult result;
  std::string route;
};

/// One route as it is now: for the admin API's status and provider views. A plain value.
struct RouteStatus {
  std::string route;
  std::string kind;  // the provider's kind ("openai", "relay", "sandbox")
  CircuitBreaker::State breaker = CircuitBreaker::State::kClosed;
  int in_flight = 0;    // calls running now
  int concurrency = 0;  // calls at once before more wait
  std::vector<std::string> families;  // the model families routed to it ("*": the fallback)
};

/// "closed", "open" or "half_open".
std::string_view to_string(CircuitBreaker::State s);

/// Sends a task's work down its model family's route list: per route a concurrency limit and a
/// circuit breaker; a failure that certainly did no work (kNoWork) is retried on the same route
/// with exponential backoff and jitter (honouring Retry-After), then the next route is tried;
/// kRouteFault goes to the next route at once; a refusal, a failure after work, and an unknown
/// outcome end the run (a paid call is never repeated unless it certainly did no work; the
/// operator's on_unknown = "retry" opts out of that for unknown outcomes). Thread-safe.
class UpstreamRouter {
 public:
  /// `table`: family → ordered route names, every name a key of `routes`. With an empty table
  /// every family goes to "sandbox".
  UpstreamRouter(std::map<std::string, RouteSpec> routes,
                 std::vector<std::pair<std::string, std::vector<std::string>>> table);
  ~UpstreamRouter();

  /// The routes of a family in order ("*" is the fallback family); empty when none.
  std::vector<std::string> routes_for(std::string_view family) const;

  /// Runs the job down the family's routes into `out` (a result without error has request.n
  /// images). `job` stays the caller's (by reference: see Provider::generate); the router sets
  /// its observer for each call. The result is written where the caller keeps it rather than
  /// returned: the caller's frame lives through the upstream call, thousands at once, and a
  /// returned value would be held twice meanwhile (the promise's, and the caller's temporary).
  boost::asio::awaitable<void> generate(std::string family, providers::GenerateJob& job,
                                        CallLog& log, RoutedResult& out);

  /// Continues work an earlier run left at `route` under job.resume_upstream_id, when that
  /// route's provider can_resume(); nullopt when it cannot (the caller decides).
  bool can_resume(std::string_view route) const;
  boost::asio::awaitable<void> resume(std::string route, providers::GenerateJob& job,
                                      CallLog& log, RoutedResult& out);

  /// Prometheus text: imagegate_upstream_requests_total{provider,outcome},
  /// imagegate_upstream_latency_seconds{provider} (histogram), imagegate_provider_breaker_state
  /// {provider} (0 closed, 1 open, 2 half-open), imagegate_provider_in_flight{provider}.
  std::string metrics() const;

  /// Whether work left at `route` with an unknown outcome may be sent again: the operator's
  /// on_unknown = "retry", or a provider that costs nothing (the sandbox).
  bool resubmits_unknown(std::string_view route) const;

  /// The kind of a route's provider ("" when unknown).
  std::string_view kind_of(std::string_view route) const;

  /// Every configured route, by name, with its breaker's state now.
  std::vector<RouteStatus> status() const;

 private:
  struct Route;
  enum class Step { kDone, kNextRoute };

  boost::asio::awaitable<Step> call(Route& route, providers::GenerateJob& job,
                                    CallLog& log, RoutedResult& out);
  Route* find(std::string_view name) const;

  std::map<std::string, std::unique_ptr<Route>, std::less<>> routes_;
  std::vector<std::pair<std::string, std::vector<std::string>>> table_;
};

}  // namespace ig::tasks
