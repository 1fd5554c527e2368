#include "billing/rate_limiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <limits>
#include <thread>
#include <vector>

namespace ig::billing {
namespace {

/// How many of `n` takes at `now_ms` are allowed.
int allowed(RateLimiter& limiter, std::int64_t key, int rpm, std::int64_t now_ms, int n) {
  int count = 0;
  for (int i = 0; i < n; ++i) {
    count += limiter.take(key, rpm, now_ms).allowed ? 1 : 0;
  }
  return count;
}

TEST(RateLimiter, TripsExactlyAtTheLimitAndRecoversAfterAMinute) {
  RateLimiter limiter;
  const std::int64_t t0 = 1'700'000'000'000;
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(limiter.take(7, 60, t0).allowed) << i;
  }
  const auto refused = limiter.take(7, 60, t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 1);
  // One token a second comes back; a full minute refills the whole bucket, and no more.
  EXPECT_EQ(allowed(limiter, 7, 60, t0 + 999, 5), 0);
  EXPECT_EQ(allowed(limiter, 7, 60, t0 + 1'000, 5), 1);
  EXPECT_EQ(allowed(limiter, 7, 60, t0 + 61'000, 100), 60);
}

TEST(RateLimiter, KeysHaveTheirOwnBuckets) {
  RateLimiter limiter;
  EXPECT_EQ(allowed(limiter, 1, 3, 0, 10), 3);
  EXPECT_EQ(allowed(limiter, 2, 3, 0, 10), 3);
  EXPECT_EQ(allowed(limiter, 1, 3, 0, 10), 0);
}

TEST(RateLimiter, RetryAfterIsTheWaitForOneTokenRoundedUp) {
  RateLimiter limiter;
  ASSERT_TRUE(limiter.take(1, 1, 0).allowed);
  EXPECT_EQ(limiter.take(1, 1, 0).retry_after_s, 60);
  EXPECT_EQ(limiter.take(1, 1, 30'000).retry_after_s, 30);
  EXPECT_EQ(limiter.take(1, 1, 59'001).retry_after_s, 1);
  EXPECT_TRUE(limiter.take(1, 1, 60'000).allowed);

  // 7 per minute: a token every 8571.4 ms, so 9 s.
  ASSERT_EQ(allowed(limiter, 2, 7, 0, 7), 7);
  const auto refused = limiter.take(2, 7, 0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 9);
  EXPECT_FALSE(limiter.take(2, 7, 8'571).allowed);
  EXPECT_TRUE(limiter.take(2, 7, 8'572).allowed);

  // Very high limits still say at least one second.
  ASSERT_EQ(allowed(limiter, 3, 600'000, 0, 600'000), 600'000);
  EXPECT_EQ(limiter.take(3, 600'000, 0).retry_after_s, 1);
}

TEST(RateLimiter, ALowerLimitTakesEffectAtOnce) {
  RateLimiter limiter;
  ASSERT_EQ(allowed(limiter, 1, 100, 0, 10), 10);  // 90 tokens left
  EXPECT_EQ(allowed(limiter, 1, 5, 0, 100), 5);    // clamped to the new capacity
  EXPECT_EQ(limiter.take(1, 5, 0).retry_after_s, 12);
}

TEST(RateLimiter, AHigherLimitRefillsAtTheNewRate) {
  RateLimiter limiter;
  ASSERT_EQ(allowed(limiter, 1, 10, 0, 100), 10);
  // The raise grants nothing at once; from then on tokens come at 600/min (10 a second).
  EXPECT_EQ(allowed(limiter, 1, 600, 0, 100), 0);
  EXPECT_EQ(allowed(limiter, 1, 600, 1'000, 100), 10);
  EXPECT_EQ(allowed(limiter, 1, 600, 61'000, 1'000), 600);
}

TEST(RateLimiter, ZeroOrNegativeMeansUnlimitedAndKeepsNoState) {
  RateLimiter limiter;
  EXPECT_EQ(allowed(limiter, 1, 0, 0, 10'000), 10'000);
  EXPECT_EQ(allowed(limiter, 2, -5, 0, 10'000), 10'000);
  EXPECT_EQ(limiter.size(), 0u);
  EXPECT_EQ(limiter.take(1, 0, 0).retry_after_s, 0);
}

TEST(RateLimiter, AClockSteppingBackRefillsNothing) {
  RateLimiter limiter;
  ASSERT_EQ(allowed(limiter, 1, 60, 100'000, 60), 60);
  EXPECT_FALSE(limiter.take(1, 60, 50'000).allowed);
  EXPECT_FALSE(limiter.take(1, 60, 100'500).allowed);
  EXPECT_TRUE(limiter.take(1, 60, 101'000).allowed);
}

TEST(RateLimiter, ExtremeTimesDoNotOverflow) {
  RateLimiter limiter;
  const std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  const std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  const int big = std::numeric_limits<int>::max();
  ASSERT_TRUE(limiter.take(1, 1, lo).allowed);
  EXPECT_FALSE(limiter.take(1, 1, lo).allowed);
  EXPECT_TRUE(limiter.take(1, 1, hi).allowed);
  EXPECT_FALSE(limiter.take(1, 1, hi).allowed);
  EXPECT_TRUE(limiter.take(2, big, lo).allowed);
  EXPECT_TRUE(limiter.take(2, big, hi).allowed);
}

TEST(RateLimiter, FullIdleBucketsAreDroppedLongBeforeTheBound) {
  RateLimiter limiter(/*max_keys=*/1'000, /*shards=*/1);
  // A new key every second, each full again a second after its one request.
  for (std::int64_t key = 0; key < 10'000; ++key) {
    ASSERT_TRUE(limiter.take(key, 60, key * 1'000).allowed) << key;
    ASSERT_LT(limiter.size(), 100u) << key;
  }
}

TEST(RateLimiter, ManyActiveKeysStayWithinTheBound) {
  RateLimiter limiter(/*max_keys=*/100, /*shards=*/4);
  for (std::int64_t key = 0; key < 10'000; ++key) {
    ASSERT_TRUE(limiter.take(key, 1, 0).allowed) << key;
    ASSERT_LE(limiter.size(), 100u) << key;
  }
}

TEST(RateLimiter, SweepsDoNotRefillAnActiveKey) {
  RateLimiter limiter(/*max_keys=*/4, /*shards=*/1);
  ASSERT_TRUE(limiter.take(1, 1, 0).allowed);  // key 1 is empty until t = 60 s
  // Many other keys come and go; each is full again a millisecond after its request.
  for (std::int64_t i = 0; i < 1'000; ++i) {
    ASSERT_TRUE(limiter.take(100 + i, 60'000, 1 + 2 * i).allowed);
    ASSERT_LE(limiter.size(), 4u);
  }
  const auto still = limiter.take(1, 1, 2'001);
  EXPECT_FALSE(still.allowed);
  EXPECT_EQ(still.retry_after_s, 58);
}

TEST(RateLimiter, WhenEveryKeyIsActiveTheOnesNearestToFullAreDroppedFirst) {
  RateLimiter limiter(/*max_keys=*/4, /*shards=*/1);
  ASSERT_TRUE(limiter.take(1, 1, 0).allowed);  // missing a token for 60 s
  for (std::int64_t key = 2; key <= 4; ++key) {
    ASSERT_TRUE(limiter.take(key, 60, 0).allowed);  // missing a token for 1 s
  }
  for (std::int64_t key = 5; key <= 7; ++key) {
    ASSERT_TRUE(limiter.take(key, 1, 0).allowed);
    ASSERT_EQ(limiter.size(), 4u);
  }
  // Keys 2..4 made room; key 1, with the most to lose, is still held and still empty.
  EXPECT_FALSE(limiter.take(1, 1, 0).allowed);
  for (std::int64_t key = 5; key <= 7; ++key) {
    EXPECT_FALSE(limiter.take(key, 1, 0).allowed) << key;
  }
  for (std::int64_t key = 8; key <= 1'000; ++key) {
    ASSERT_TRUE(limiter.take(key, 1, 0).allowed);
    ASSERT_LE(limiter.size(), 4u);
  }
}

TEST(RateLimiter, ConcurrentTakesNeverExceedTheBucket) {
  RateLimiter limiter;
  constexpr int kThreads = 8;
  std::atomic<int> granted{0};
  std::atomic<int> other_keys{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();  // all at once, to contend
      for (int i = 0; i < 1'000; ++i) {
        if (limiter.take(42, 500, 5'000).allowed) {
          granted.fetch_add(1, std::memory_order_relaxed);
        }
        // Keys of their own, on other shards, at the same time.
        if (limiter.take(1'000 + t, 100, 5'000).allowed) {
          other_keys.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(granted.load(), 500);
  EXPECT_EQ(other_keys.load(), kThreads * 100);
}

}  // namespace
}  // namespace ig::billing
