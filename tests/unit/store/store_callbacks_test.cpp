// The callback outbox: a row per task end with a callback URL, in the transaction that ends it;
// leased claims; attempts; redelivery; the account's webhook secret.

#include <gtest/gtest.h>

#include "unit/store/store_test_util.hpp"

namespace ig::store {
namespace {

using core::TaskState;
using testing::claim;
using testing::get;
using testing::make_key;
using testing::make_task;
using testing::must;
using testing::outcome;
using testing::value_of;

constexpr std::int64_t kT0 = 1'790'000'000'000;
// Rows are queued at the wall clock's now; a claim at kFar finds them whatever today is.
constexpr std::int64_t kFar = 4'000'000'000'000;

class CallbackStoreTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    if (!set_up_base()) {
      return;
    }
    store_ = open_store();
    ASSERT_NE(store_, nullptr);
    key_ = must(store_->create_key_in_account(make_key("sk-cb", "hash-cb"), std::nullopt));
  }
  std::int64_t insert(const std::string& id, const std::string& callback) {
    core::Task t = make_task(id, kT0, key_.id);
    t.request.callback_url = callback;
    EXPECT_TRUE(store_->insert_task(t).ok());
    return get(*store_, id)->row_id;
  }
  std::unique_ptr<Store> store_;
  ApiKey key_;
};

TEST_P(CallbackStoreTest, EveryEndOfATaskWithACallbackQueuesOneRow) {
  const auto ok = insert("ok", "https://hooks.example/ok");
  const auto cancelled = insert("cancelled", "https://hooks.example/c");
  insert("silent", "");
  ASSERT_EQ(claim(*store_, "w", 3, kT0, kT0 + 60'000).size(), 3u);
  EXPECT_EQ(value_of(store_->complete_task(ok, 1, outcome(TaskState::kSucceeded, "", kT0 + 5))),
            Fence::kApplied);
  EXPECT_EQ(value_of(store_->cancel_task(cancelled, kT0 + 6)), true);
  EXPECT_EQ(value_of(store_->complete_task(get(*store_, "silent")->row_id, 1,
                                           outcome(TaskState::kSucceeded, "", kT0 + 7))),
            Fence::kApplied);

  auto due = must(store_->claim_callbacks(10, kFar, kFar + 30'000));
  ASSERT_EQ(due.size(), 2u);  // none for the task without a URL
  for (const auto& d : due) {
    EXPECT_EQ(d.state, "pending");
    EXPECT_EQ(d.attempts, 0);
    EXPECT_TRUE(d.msg_id.starts_with("msg_")) << d.msg_id;
    EXPECT_EQ(d.account_id, key_.account_id);
  }
  EXPECT_NE(due[0].msg_id, due[1].msg_id);
  auto cb = must(store_->task_callback(ok));
  ASSERT_TRUE(cb.has_value());
  EXPECT_EQ(cb->first.url, "https://hooks.example/ok");
  EXPECT_EQ(cb->first.task_id, "ok");
}

TEST_P(CallbackStoreTest, ALeasedRowIsNotClaimedAgainUntilItsLeaseEnds) {
  const auto row = insert("t", "https://hooks.example/t");
  claim(*store_, "w", 1, kT0, kT0 + 60'000);
  ASSERT_EQ(value_of(store_->complete_task(row, 1, outcome(TaskState::kSucceeded, "", kT0))),
            Fence::kApplied);
  const std::int64_t now = testing::must(store_->next_callback_due()).value_or(0);
  ASSERT_GT(now, 0);
  auto first = must(store_->claim_callbacks(5, now, now + 30'000));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(must(store_->claim_callbacks(5, now + 10, now + 30'010)).empty());
  // While it is being delivered it is due when its lease ends, not now.
  EXPECT_EQ(must(store_->next_callback_due()).value_or(0), now + 30'001);
  // The process died: after the lease it is taken again, with the same msg_id.
  auto again = must(store_->claim_callbacks(5, now + 30'001, now + 60'000));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].msg_id, first[0].msg_id);
}

TEST_P(CallbackStoreTest, AttemptsAreRecordedAndARedeliveryStartsOver) {
  const auto row = insert("t", "https://hooks.example/t");
  claim(*store_, "w", 1, kT0, kT0 + 60'000);
  ASSERT_EQ(value_of(store_->complete_task(row, 1, outcome(TaskState::kFailed, "x", kT0))),
            Fence::kApplied);
  auto d = must(store_->claim_callbacks(1, kFar, kFar + 30'000)).at(0);
  ASSERT_TRUE(store_
                  ->record_callback_attempt(d.id, CallbackAttempt{kT0 + 1, 500, 12, "HTTP 500"},
                                            "pending", kT0 + 1'000)
                  .ok());
  EXPECT_EQ(must(store_->next_callback_due()).value_or(0), kT0 + 1'000);
  ASSERT_TRUE(
      store_
          ->record_callback_attempt(d.id, CallbackAttempt{kT0 + 2, 410, 5, "410 Gone"}, "failed", 0)
          .ok());
  EXPECT_FALSE(must(store_->next_callback_due()).has_value());
  auto cb = must(store_->task_callback(row));
  ASSERT_TRUE(cb.has_value());
  EXPECT_EQ(cb->first.state, "failed");
  EXPECT_EQ(cb->first.attempts, 2);
  ASSERT_EQ(cb->second.size(), 2u);
  EXPECT_EQ(cb->second[0].http_status, 500);
  EXPECT_EQ(cb->second[1].error, "410 Gone");
  EXPECT_FALSE(store_->record_callback_attempt(d.id, {}, "lost", 0).ok());

  EXPECT_EQ(value_of(store_->redeliver_callback(row, kT0 + 5)), true);
  auto re = must(store_->claim_callbacks(1, kT0 + 5, kT0 + 30'005));
  ASSERT_EQ(re.size(), 1u);
  EXPECT_EQ(re[0].msg_id, d.msg_id);
  EXPECT_EQ(re[0].attempts, 0);
  EXPECT_EQ(value_of(store_->redeliver_callback(insert("none", ""), kT0)), false);
}

TEST_P(CallbackStoreTest, TheFirstSecretOfAnAccountStays) {
  auto first = must(store_->webhook_secret(key_.account_id, "whsec_first"));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, "whsec_first");
  EXPECT_EQ(*must(store_->webhook_secret(key_.account_id, "whsec_second")), "whsec_first");
  EXPECT_EQ(value_of(store_->set_webhook_secret(key_.account_id, "whsec_rotated")), true);
  EXPECT_EQ(*must(store_->webhook_secret(key_.account_id, "")), "whsec_rotated");
  EXPECT_FALSE(must(store_->webhook_secret(999, "whsec_x")).has_value());
  EXPECT_EQ(value_of(store_->set_webhook_secret(999, "whsec_x")), false);
}

INSTANTIATE_TEST_SUITE_P(Backends, CallbackStoreTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         testing::backend_name);

}  // namespace
}  // namespace ig::store
