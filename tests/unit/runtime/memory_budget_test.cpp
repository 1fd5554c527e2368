#include "runtime/memory_budget.hpp"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ig::runtime {
namespace {

TEST(MemoryBudget, GrantsUpToTheCapAndTakesBackWhatIsReleased) {
  MemoryBudget budget(100);
  auto a = budget.try_acquire(60);
  ASSERT_TRUE(a);
  EXPECT_EQ(a.bytes(), 60u);
  EXPECT_FALSE(budget.try_acquire(41));
  auto b = budget.try_acquire(40);
  ASSERT_TRUE(b);
  EXPECT_EQ(budget.used(), 100u);
  EXPECT_FALSE(budget.try_acquire(1));
  a.release();
  EXPECT_EQ(budget.used(), 40u);
  EXPECT_FALSE(a);
  a.release();  // twice is once
  EXPECT_EQ(budget.used(), 40u);
  {
    auto c = budget.try_acquire(60);
    EXPECT_TRUE(c);
  }
  EXPECT_EQ(budget.used(), 40u);
}

TEST(MemoryBudget, ARequestLargerThanTheCapIsRefusedEvenWhenIdle) {
  MemoryBudget budget(100);
  EXPECT_FALSE(budget.try_acquire(101));
  EXPECT_EQ(budget.used(), 0u);
  MemoryBudget unlimited(0);
  EXPECT_TRUE(unlimited.try_acquire(std::size_t{1} << 40));
}

TEST(MemoryBudget, LeasesMoveWithoutReleasingTwice) {
  MemoryBudget budget(10);
  auto a = budget.try_acquire(10);
  MemoryBudget::Lease b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): a moved-from lease is empty
  EXPECT_EQ(budget.used(), 10u);
  MemoryBudget::Lease c;
  c = std::move(b);
  EXPECT_EQ(budget.used(), 10u);
  c = MemoryBudget::Lease();
  EXPECT_EQ(budget.used(), 0u);
}

TEST(MemoryBudget, ConcurrentTakersNeverPassTheCap) {
  MemoryBudget budget(1000);
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        auto l = budget.try_acquire(300);
        if (budget.used() > 1000) {
          over = true;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_FALSE(over.load());
  EXPECT_EQ(budget.used(), 0u);
}

}  // namespace
}  // namespace ig::runtime
