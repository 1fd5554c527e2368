#include "providers/sandbox/sandbox_provider.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "providers/sandbox/render.hpp"
#include "runtime/offload.hpp"

namespace ig::providers {
namespace {

namespace asio = boost::asio;

GenerateResult failed(std::string code, std::string message, FailureClass cls) {
  GenerateResult result;
  result.error = GenerateError{std::move(code), std::move(message), cls};
  return result;
}

GenerateResult render_failed(std::string_view why) {
  std::string message = "sandbox provider: ";
  message += why;
  return failed("generation_failed", std::move(message), FailureClass::kFailed);
}

/// Renders the job's n images; runs on the blocking pool and never throws. Returns a
/// GenerateResult rather than a core::Result because offload() needs a default-constructible
/// value.
GenerateResult render_all(const GenerateJob& job) {
  try {
    GenerateResult result;
    result.images.reserve(static_cast<std::size_t>(job.request.n));
    for (int i = 0; i < job.request.n; ++i) {
      RenderInput in;
      in.request = &job.request;
      in.references = &job.references;
      in.mask = job.mask ? &*job.mask : nullptr;
      in.index = i;
      auto image = render_image(in);
      if (!image) {
        return render_failed(image.error().message);
      }
      result.images.push_back(std::move(*image));
    }
    return result;
  } catch (const std::exception&) {  // std::bad_alloc: render_image catches the rest
    return render_failed("out of memory");
  }
}

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

SandboxProvider::SandboxProvider(SandboxConfig cfg,
                                 boost::asio::thread_pool::executor_type blocking)
    : cfg_(cfg), blocking_(std::move(blocking)) {}

bool SandboxProvider::simulated_failure(std::string_view task_id, int attempt,
                                        double failure_rate) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : task_id) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h = mix64(h ^ mix64(static_cast<std::uint64_t>(attempt)));
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;  // uniform in [0, 1)
  return u < failure_rate;
}

asio::awaitable<GenerateResult> SandboxProvider::generate(const GenerateJob& job) {
  // Cancellation is reported by the timer's error code, never as an exception.
  co_await asio::this_coro::throw_if_cancelled(false);
  // A cancellation that arrived before this wait started is not delivered to it.
  if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
    co_return failed("cancelled", "sandbox provider: cancelled", FailureClass::kNoWork);
  }
  if (cfg_.latency.count() > 0) {
    asio::steady_timer timer(co_await asio::this_coro::executor, cfg_.latency);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      co_return failed("cancelled", "sandbox provider: cancelled", FailureClass::kNoWork);
    }
  }
  if (simulated_failure(job.task_id, job.attempt, cfg_.failure_rate)) {
    co_return failed("generation_failed", "sandbox provider: simulated generation failure",
                    FailureClass::kFailed);
  }
  if (job.request.n < 1) {
    co_return failed("generation_failed", "sandbox provider: no images requested",
                    FailureClass::kRejected);
  }
  // The job must outlive this frame (the awaiter may go away while the pool renders), so the
  // pool task owns it. runtime::offload passes its callable through a capturing coroutine
  // lambda, whose captures g++ 12 destroys twice (GCC PR 100611, asio issue 1135): the
  // callable therefore holds only a raw pointer and takes ownership when it runs.
  auto* owned = new GenerateJob(job);
  auto render = [owned]() {
    const std::unique_ptr<GenerateJob> own(owned);
    return render_all(*own);
  };
  co_return co_await runtime::offload(blocking_, render);
}

}  // namespace ig::providers
