#include "providers/sandbox/sandbox_provider.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <thread>

#include "unit/providers/vips_helpers.hpp"

namespace ig::providers {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

GenerateJob job(std::string task_id, int n, core::Size size = {64, 48}) {
  GenerateJob j;
  j.request.prompt = "a small test picture";
  j.request.n = n;
  j.request.size = size;
  j.task_id = std::move(task_id);
  return j;
}

class SandboxProviderTest : public ::testing::Test {
 protected:
  GenerateResult run(SandboxProvider& provider, GenerateJob j) {
    asio::io_context ioc;
    std::optional<GenerateResult> result;
    std::exception_ptr error;
    asio::co_spawn(ioc, provider.generate(j),
                   [&](std::exception_ptr e, GenerateResult r) {
                     error = e;
                     result = std::move(r);
                   });
    ioc.run();
    EXPECT_FALSE(error) << "generate threw";
    EXPECT_TRUE(result.has_value());
    return result ? std::move(*result) : GenerateResult{};
  }

  asio::thread_pool pool_{2};
};

TEST_F(SandboxProviderTest, ReturnsNImagesOfTheRequestedSizeAfterTheLatency) {
  SandboxProvider provider({.latency = milliseconds(10), .failure_rate = 0.0},
                           pool_.get_executor());
  EXPECT_EQ(provider.name(), "sandbox");

  const auto start = std::chrono::steady_clock::now();
  GenerateResult result = run(provider, job("task-1", 3, {96, 64}));
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(10));

  ASSERT_FALSE(result.error.has_value()) << result.error->message;
  ASSERT_EQ(result.images.size(), 3u);
  for (const ImageBytes& img : result.images) {
    EXPECT_EQ(img.mime, "image/png");
    EXPECT_EQ(img.width, 96);
    EXPECT_EQ(img.height, 64);
    vips::VImage decoded = test::decode(img.bytes);
    EXPECT_EQ(decoded.width(), 96);
    EXPECT_EQ(decoded.height(), 64);
  }
  EXPECT_NE(result.images[0].bytes, result.images[1].bytes);
  EXPECT_NE(result.images[1].bytes, result.images[2].bytes);
}

TEST_F(SandboxProviderTest, RendersReferencesAndMasksFromTheJob) {
  SandboxProvider provider({.latency = milliseconds(0)}, pool_.get_executor());
  GenerateJob j = job("task-2", 1, {120, 80});
  j.references.push_back(test::png(test::reference_picture(120, 80, {250, 40, 40})));
  GenerateResult with_ref = run(provider, j);
  ASSERT_FALSE(with_ref.error.has_value()) << with_ref.error->message;
  GenerateResult without_ref = run(provider, job("task-2", 1, {120, 80}));
  ASSERT_EQ(with_ref.images.size(), 1u);
  ASSERT_EQ(without_ref.images.size(), 1u);
  EXPECT_NE(with_ref.images[0].bytes, without_ref.images[0].bytes);

  j.mask = test::png(test::reference_picture(60, 40, {1, 1, 1}));  // wrong size, no alpha
  GenerateResult bad_mask = run(provider, j);
  ASSERT_TRUE(bad_mask.error.has_value());
  EXPECT_EQ(bad_mask.error->code, "generation_failed");
  EXPECT_EQ(bad_mask.error->cls, FailureClass::kFailed);
  EXPECT_TRUE(bad_mask.images.empty());
}

TEST_F(SandboxProviderTest, FailureRateOneAlwaysFails) {
  SandboxProvider provider({.latency = milliseconds(1), .failure_rate = 1.0}, pool_.get_executor());
  for (int attempt = 1; attempt <= 3; ++attempt) {
    GenerateJob j = job("task-" + std::to_string(attempt), 2);
    j.attempt = attempt;
    GenerateResult result = run(provider, std::move(j));
    ASSERT_TRUE(result.error.has_value());
    EXPECT_EQ(result.error->code, "generation_failed");
    EXPECT_EQ(result.error->message, "sandbox provider: simulated generation failure");
    EXPECT_EQ(result.error->cls, FailureClass::kFailed);
    EXPECT_TRUE(result.images.empty());
  }
}

TEST_F(SandboxProviderTest, FailureRateZeroNeverFails) {
  SandboxProvider provider({.latency = milliseconds(1), .failure_rate = 0.0}, pool_.get_executor());
  for (int i = 0; i < 5; ++i) {
    GenerateResult result = run(provider, job("task-" + std::to_string(i), 1));
    EXPECT_FALSE(result.error.has_value());
    EXPECT_EQ(result.images.size(), 1u);
  }
}

TEST_F(SandboxProviderTest, FailuresAreADeterministicShareOfTaskAttempts) {
  int failures = 0;
  constexpr int kTasks = 2000;
  for (int i = 0; i < kTasks; ++i) {
    const std::string id = "task-" + std::to_string(i);
    const bool failed = SandboxProvider::simulated_failure(id, 1, 0.3);
    EXPECT_EQ(failed, SandboxProvider::simulated_failure(id, 1, 0.3)) << "deterministic";
    failures += failed ? 1 : 0;
  }
  EXPECT_GT(failures, kTasks * 25 / 100);
  EXPECT_LT(failures, kTasks * 35 / 100);

  int differs_by_attempt = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string id = "task-" + std::to_string(i);
    differs_by_attempt += SandboxProvider::simulated_failure(id, 1, 0.5) !=
                          SandboxProvider::simulated_failure(id, 2, 0.5);
  }
  EXPECT_GT(differs_by_attempt, 50) << "a retry is a new draw";
}

TEST_F(SandboxProviderTest, CancellingTheWaitEndsTheCoroutine) {
  SandboxProvider provider({.latency = std::chrono::minutes(10)}, pool_.get_executor());
  asio::io_context ioc;
  asio::cancellation_signal cancel;
  std::optional<GenerateResult> result;
  const GenerateJob j = job("task-c", 1);
  asio::co_spawn(
      ioc, provider.generate(j),
      asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, GenerateResult r) {
        EXPECT_FALSE(e);
        result = std::move(r);
      }));
  asio::steady_timer trigger(ioc, milliseconds(20));
  trigger.async_wait([&](auto) { cancel.emit(asio::cancellation_type::terminal); });

  const auto start = std::chrono::steady_clock::now();
  ioc.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->error.has_value());
  EXPECT_EQ(result->error->code, "cancelled");
  EXPECT_EQ(result->error->cls, FailureClass::kNoWork);
  EXPECT_TRUE(result->images.empty());
}

TEST_F(SandboxProviderTest, StoppingTheExecutorEndsTheWait) {
  auto provider = std::make_shared<SandboxProvider>(
      SandboxConfig{.latency = std::chrono::minutes(10)}, pool_.get_executor());
  bool completed = false;
  const GenerateJob j = job("task-s", 1);
  {
    asio::io_context ioc;
    asio::co_spawn(ioc, provider->generate(j),
                   [&](std::exception_ptr, GenerateResult) { completed = true; });
    std::thread stopper([&] {
      std::this_thread::sleep_for(milliseconds(20));
      ioc.stop();
    });
    const auto start = std::chrono::steady_clock::now();
    ioc.run();
    stopper.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  }  // destroying the context destroys the suspended coroutine and its timer
  EXPECT_FALSE(completed);
}

}  // namespace
}  // namespace ig::providers
