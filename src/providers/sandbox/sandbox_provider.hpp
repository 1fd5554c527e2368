#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "providers/provider.hpp"

namespace ig::providers {

/// How the sandbox behaves; a plain value, parsed once from the config.
struct SandboxConfig {
  std::chrono::milliseconds latency{1000};  // simulated upstream time before rendering
  double failure_rate = 0.0;                // 0..1, decided per (task id, attempt)
};

/// Deterministic local renderer, no network: waits `latency` on a timer of the caller's
/// executor, fails a deterministic share of (task id, attempt) pairs, and renders the images
/// with render_image() on the blocking pool. Cancelling the awaiting coroutine during the wait
/// ends it with a "cancelled" error of class kNoWork (nothing was drawn). Thread-safe (immutable after construction).
class SandboxProvider final : public Provider {
 public:
  SandboxProvider(SandboxConfig cfg, boost::asio::thread_pool::executor_type blocking);

  std::string_view name() const override { return "sandbox"; }
  std::string_view kind() const override { return "sandbox"; }
  boost::asio::awaitable<GenerateResult> generate(const GenerateJob& job) override;

  /// Whether (task id, attempt) is one of the simulated failures for `failure_rate`.
  static bool simulated_failure(std::string_view task_id, int attempt, double failure_rate);

 private:
  SandboxConfig cfg_;
  boost::asio::thread_pool::executor_type blocking_;
};

}  // namespace ig::providers
