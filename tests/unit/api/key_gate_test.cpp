// Requests per minute counted in memory (one process) and in the shared store (several
// nodes): a node takes tokens ahead of need and spends them within a second, remembers a
// refusal until the bucket refills, follows a changed limit at once, and counts on its own
// while the database cannot be reached.
#include "api/key_gate.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "core/clock.hpp"

namespace ig::api {
namespace {

namespace asio = boost::asio;
using core::ErrorCode;

// One key's shared bucket as the database keeps it, in whole tokens (what a test needs).
struct FakeBucket {
  int tokens = 0;
  std::int64_t retry_after_ms = 700;
  bool down = false;
  std::vector<int> wants;  // the `want` of each take

  core::Result<store::RateGrant> take(int want) {
    wants.push_back(want);
    if (down) {
      return core::make_error(ErrorCode::kUnavailable, "store: the database is away");
    }
    store::RateGrant g;
    g.granted = std::min(want, tokens);
    tokens -= g.granted;
    if (g.granted == 0) {
      g.retry_after_ms = retry_after_ms;
    }
    return g;
  }
};

class KeyGateTest : public ::testing::Test {
 protected:
  void share() {
    gate_.share_rates(
        [this](std::int64_t key_id, int rpm, int want, std::int64_t now_ms) {
          EXPECT_EQ(key_id, key_.id);
          EXPECT_EQ(rpm, key_.limits.rpm);
          EXPECT_EQ(now_ms, clock_.now_ms());
          return bucket_.take(want);
        },
        pool_.get_executor());
  }

  // admit(), then take_shared() when the key counts in the shared store: what the router does.
  core::Status request() {
    const auto peer = asio::ip::make_address("127.0.0.1");
    if (auto s = gate_.admit(key_, peer, ""); !s.ok() || !gate_.counts_shared(key_)) {
      return s;
    }
    asio::io_context ioc;
    auto f = asio::co_spawn(ioc, gate_.take_shared(key_), asio::use_future);
    ioc.run();
    return f.get();
  }

  // How many of `n` requests in a row are admitted.
  int admitted_of(int n) {
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      ok += request().ok() ? 1 : 0;
    }
    return ok;
  }

  core::ManualClock clock_{1'700'000'000'000};
  asio::thread_pool pool_{1};
  KeyGate gate_{clock_, billing::CidrSet()};
  FakeBucket bucket_;
  store::ApiKey key_ = [] {
    store::ApiKey k;
    k.id = 7;
    return k;
  }();
};

TEST_F(KeyGateTest, OneProcessCountsInMemory) {
  key_.limits.rpm = 3;
  EXPECT_FALSE(gate_.counts_shared(key_));
  EXPECT_EQ(admitted_of(3), 3);
  auto refused = request();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(refused.error().retry_after_s, 20);  // a token every 20 s
}

TEST_F(KeyGateTest, AKeyWithoutALimitNeverAsksTheStore) {
  share();
  key_.limits.rpm = 0;
  EXPECT_FALSE(gate_.counts_shared(key_));
  EXPECT_EQ(admitted_of(100), 100);
  EXPECT_TRUE(bucket_.wants.empty());
}

TEST_F(KeyGateTest, SharedTokensAreTakenAheadAndSpentWithinASecond) {
  share();
  key_.limits.rpm = 6000;  // 100 a second: a tenth of a second's worth is 10
  bucket_.tokens = 25;
  ASSERT_TRUE(gate_.counts_shared(key_));
  // One take of 10 serves ten requests.
  EXPECT_EQ(admitted_of(10), 10);
  EXPECT_EQ(bucket_.wants, std::vector<int>({10}));
  EXPECT_EQ(bucket_.tokens, 15);
  // The eleventh takes again; of those 10, one is spent and 9 are held.
  EXPECT_TRUE(request().ok());
  EXPECT_EQ(bucket_.wants.size(), 2u);
  // Held tokens not spent within a second are let go: the next request takes anew.
  clock_.advance_ms(1'001);
  EXPECT_TRUE(request().ok());
  EXPECT_EQ(bucket_.wants.size(), 3u);
  EXPECT_EQ(bucket_.tokens, 0);
}

TEST_F(KeyGateTest, ARefusalIsRememberedUntilTheBucketRefills) {
  share();
  key_.limits.rpm = 60;  // below 600 a minute a take asks for one token
  bucket_.tokens = 2;
  bucket_.retry_after_ms = 1'500;
  EXPECT_EQ(admitted_of(2), 2);
  EXPECT_EQ(bucket_.wants, std::vector<int>({1, 1}));
  auto refused = request();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(refused.error().retry_after_s, 2);  // 1.5 s, rounded up
  EXPECT_NE(refused.error().message.find("60 a minute"), std::string::npos);
  // Refused again from memory: the database is not asked before the bucket can hold a token.
  EXPECT_EQ(admitted_of(50), 0);
  EXPECT_EQ(bucket_.wants.size(), 3u);
  clock_.advance_ms(1'000);
  refused = request();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().retry_after_s, 1);
  EXPECT_EQ(bucket_.wants.size(), 3u);
  clock_.advance_ms(500);
  bucket_.tokens = 1;
  EXPECT_TRUE(request().ok());
  EXPECT_EQ(bucket_.wants.size(), 4u);
}

TEST_F(KeyGateTest, AChangedLimitForgetsWhatWasLearntUnderTheOldOne) {
  share();
  key_.limits.rpm = 60;
  bucket_.tokens = 0;
  bucket_.retry_after_ms = 30'000;
  EXPECT_FALSE(request().ok());
  EXPECT_EQ(bucket_.wants.size(), 1u);
  // The limit is raised (the admin API, then this node's key cache): asked again at once.
  key_.limits.rpm = 120;
  bucket_.tokens = 1;
  EXPECT_TRUE(request().ok());
  EXPECT_EQ(bucket_.wants.size(), 2u);
}

TEST_F(KeyGateTest, WhileTheDatabaseIsAwayEachNodeCountsInMemory) {
  share();
  key_.limits.rpm = 2;
  bucket_.down = true;
  EXPECT_EQ(admitted_of(5), 2);
  auto refused = request();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(refused.error().retry_after_s, 30);
  // Back: the shared bucket counts again.
  bucket_.down = false;
  bucket_.tokens = 1;
  EXPECT_TRUE(request().ok());
}

TEST_F(KeyGateTest, TheAllowlistIsCheckedBeforeAnyToken) {
  share();
  key_.limits.rpm = 60;
  key_.limits.ip_allowlist = {"10.0.0.0/8"};
  bucket_.tokens = 5;
  auto refused = request();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kForbidden);
  EXPECT_TRUE(bucket_.wants.empty());
}

}  // namespace
}  // namespace ig::api
