// Idempotency keys: first use, replay, mismatch, in progress, per-account scope, expiry.

#include <gtest/gtest.h>

#include "unit/store/store_test_util.hpp"

namespace ig::store {
namespace {

using State = IdempotentBegin::State;
using testing::must;

constexpr std::int64_t kT0 = 1'790'000'000'000;
constexpr std::int64_t kMinute = 60'000;

class IdempotencyTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    if (!set_up_base()) {
      return;
    }
    store_ = open_store();
    ASSERT_NE(store_, nullptr);
  }
  IdempotentBegin begin(std::int64_t account, const std::string& key, const std::string& hash,
                        std::int64_t now) {
    return must(store_->begin_idempotent(account, key, hash, now, kMinute));
  }
  std::unique_ptr<Store> store_;
};

TEST_P(IdempotencyTest, AFinishedKeyReplaysItsAnswerForTheSameRequestOnly) {
  EXPECT_EQ(begin(1, "k", "h1", kT0).state, State::kNew);
  // While the first request runs, a second one with the key waits (409).
  EXPECT_EQ(begin(1, "k", "h1", kT0 + 10).state, State::kInProgress);
  EXPECT_EQ(begin(1, "k", "h2", kT0 + 10).state, State::kMismatch);
  ASSERT_TRUE(store_->finish_idempotent(1, "k", "task-1", 200, R"({"id":"task-1"})").ok());
  auto again = begin(1, "k", "h1", kT0 + 20);
  EXPECT_EQ(again.state, State::kReplay);
  EXPECT_EQ(again.task_id, "task-1");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, R"({"id":"task-1"})");
  EXPECT_EQ(begin(1, "k", "h2", kT0 + 20).state, State::kMismatch);
  // Another account's key of the same name is its own.
  EXPECT_EQ(begin(2, "k", "h2", kT0 + 20).state, State::kNew);
}

TEST_P(IdempotencyTest, AnAbandonedOrDeadFirstRequestFreesTheKey) {
  EXPECT_EQ(begin(1, "k", "h1", kT0).state, State::kNew);
  ASSERT_TRUE(store_->abandon_idempotent(1, "k").ok());
  EXPECT_EQ(begin(1, "k", "h2", kT0 + 1).state, State::kNew);
  // The process died without finishing: after a minute the key is free again.
  EXPECT_EQ(begin(1, "k", "h3", kT0 + 2).state, State::kMismatch);
  EXPECT_EQ(begin(1, "k", "h3", kT0 + 1 + kMinute + 1).state, State::kNew);
  // A finished key is not abandoned by a late abandon.
  ASSERT_TRUE(store_->finish_idempotent(1, "k", "task-3", 200, "{}").ok());
  ASSERT_TRUE(store_->abandon_idempotent(1, "k").ok());
  EXPECT_EQ(begin(1, "k", "h3", kT0 + 2 * kMinute).state, State::kReplay);
}

TEST_P(IdempotencyTest, KeysAreKeptADayThenForgotten) {
  EXPECT_EQ(begin(1, "k", "h1", kT0).state, State::kNew);
  ASSERT_TRUE(store_->finish_idempotent(1, "k", "task-1", 200, "{}").ok());
  const std::int64_t day = 24 * 60 * kMinute;
  EXPECT_EQ(begin(1, "k", "h2", kT0 + day - 1).state, State::kMismatch);
  EXPECT_EQ(begin(1, "k", "h2", kT0 + day + 1).state, State::kNew);
  // Old keys are swept as new ones come.
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(begin(1, "old" + std::to_string(i), "h", kT0).state, State::kNew);
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(begin(1, "new" + std::to_string(i), "h", kT0 + 3 * day).state, State::kNew);
  }
  EXPECT_LE(sql_integer("SELECT COUNT(*) FROM idempotency_keys WHERE created_ms = " +
                        std::to_string(kT0)),
            0);
}

// insert_task names the task in its key's begun Idempotency-Key row, in the same transaction: a
// retry after a crash before finish_idempotent replays the task (status 0) instead of making a
// second one. A key already finished, or of another account, is left as it is.
TEST_P(IdempotencyTest, AnInsertTiesItsBegunKeyToTheTask) {
  auto key = must(store_->create_key_in_account(testing::make_key("sk-i", "h-i"), std::nullopt));
  const std::int64_t account = key.account_id;
  EXPECT_EQ(begin(account, "k", "h1", kT0).state, State::kNew);
  core::Task t = testing::make_task("t1", kT0, key.id);
  t.idempotency_key = "k";
  ASSERT_TRUE(store_->insert_task(t).ok());
  IdempotentBegin again = begin(account, "k", "h1", kT0 + 10);
  EXPECT_EQ(again.state, State::kReplay);
  EXPECT_EQ(again.task_id, "t1");
  EXPECT_EQ(again.status, 0);

  EXPECT_EQ(begin(account, "done", "h2", kT0).state, State::kNew);
  ASSERT_TRUE(store_->finish_idempotent(account, "done", "first", 200, "{}").ok());
  EXPECT_EQ(begin(account + 1, "other", "h3", kT0).state, State::kNew);
  core::Task late = testing::make_task("t2", kT0, key.id);
  late.idempotency_key = "done";
  ASSERT_TRUE(store_->insert_task(late).ok());
  late.id = "t3";
  late.idempotency_key = "other";
  ASSERT_TRUE(store_->insert_task(late).ok());
  EXPECT_EQ(begin(account, "done", "h2", kT0 + 10).task_id, "first");
  EXPECT_EQ(begin(account + 1, "other", "h3", kT0 + 10).state, State::kInProgress);
}

INSTANTIATE_TEST_SUITE_P(Backends, IdempotencyTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         testing::backend_name);

}  // namespace
}  // namespace ig::store
