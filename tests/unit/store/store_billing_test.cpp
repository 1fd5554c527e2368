// The ledger of both stores: holds at create, one settlement per task, limits checked in
// the create's own transaction, and the balance always equal to the ledger's sum.

#include <atomic>
#include <numeric>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/store/store_test_util.hpp"

namespace ig::store {
namespace {

using core::ErrorCode;
using core::TaskState;
using testing::claim;
using testing::get;
using testing::make_key;
using testing::make_task;
using testing::must;
using testing::outcome;
using testing::task_id;
using testing::value_of;

constexpr std::int64_t kCredit = 1'000'000;
constexpr std::int64_t kT0 = 1'790'000'000'000;  // ms; a fixed "now"

class BillingTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    if (!set_up_base()) {
      return;
    }
    store_ = open_store();
    ASSERT_NE(store_, nullptr);
  }

  ApiKey new_key(std::optional<std::int64_t> credits, KeyLimits limits = {},
                 std::int64_t account_id = 0) {
    const int n = next_++;
    ApiKey k = make_key("sk-" + std::to_string(n), "hash-" + std::to_string(n));
    k.name = "k";
    k.limits = std::move(limits);
    k.account_id = account_id;
    k.created_ms = kT0;
    return must(store_->create_key_in_account(k, credits));
  }

  core::Task priced(std::string id, const ApiKey& key, std::int64_t price,
                    std::int64_t created = kT0) {
    core::Task t = make_task(std::move(id), created, key.id);
    t.price = price;
    return t;
  }

  Account account(std::int64_t id) { return must(store_->get_account(id)).value_or(Account{}); }

  // The balance equals the ledger's sum, and the cached column equals both.
  void expect_balanced(std::int64_t account_id) {
    auto rows = must(store_->list_ledger(account_id));
    const std::int64_t sum =
        std::accumulate(rows.begin(), rows.end(), std::int64_t{0},
                        [](std::int64_t acc, const LedgerEntry& e) { return acc + e.amount; });
    EXPECT_EQ(account(account_id).balance, sum);
    EXPECT_EQ(sql_text("SELECT balance FROM accounts WHERE id = " + std::to_string(account_id)),
              std::to_string(sum));
  }

  std::vector<std::string> kinds(std::int64_t account_id) {
    std::vector<std::string> out;
    for (const auto& e : must(store_->list_ledger(account_id))) {
      out.push_back(e.kind);
    }
    return out;
  }

  std::unique_ptr<Store> store_;
  int next_ = 1;
};

TEST_P(BillingTest, AKeyWithoutCreditsHasAnUnmeteredAccountOfItsOwn) {
  ApiKey k = new_key(std::nullopt);
  EXPECT_GT(k.account_id, 0);
  Account a = account(k.account_id);
  EXPECT_FALSE(a.metered);
  EXPECT_EQ(a.balance, 0);
  EXPECT_TRUE(must(store_->list_ledger(k.account_id)).empty());
  // Nothing is refused for balance, and every movement is still recorded.
  ASSERT_TRUE(store_->insert_task(priced("t1", k, 5 * kCredit)).ok());
  EXPECT_EQ(account(k.account_id).balance, -5 * kCredit);
  EXPECT_THAT(kinds(k.account_id), ::testing::ElementsAre("hold"));
  expect_balanced(k.account_id);
}

TEST_P(BillingTest, CreditsMakeTheAccountMeteredWithATopUp) {
  ApiKey k = new_key(10 * kCredit);
  Account a = account(k.account_id);
  EXPECT_TRUE(a.metered);
  EXPECT_EQ(a.balance, 10 * kCredit);
  EXPECT_EQ(a.total_purchased, 10 * kCredit);
  EXPECT_THAT(kinds(k.account_id), ::testing::ElementsAre("topup"));
  // Zero credits given is still metered: the first create needs a top-up.
  ApiKey zero = new_key(0);
  EXPECT_TRUE(account(zero.account_id).metered);
  auto refused = store_->insert_task(priced("z", zero, 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInsufficientCredits);
}

TEST_P(BillingTest, AHoldThatTheBalanceCannotCoverCreatesNothing) {
  ApiKey k = new_key(10 * kCredit);
  ASSERT_TRUE(store_->insert_task(priced("a", k, 6 * kCredit)).ok());
  auto refused = store_->insert_task(priced("b", k, 5 * kCredit));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInsufficientCredits);
  EXPECT_NE(refused.error().message.find("costs 5 credits"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(get(*store_, "b"), std::nullopt);
  auto claimed = store_->insert_claimed_task(priced("c", k, 5 * kCredit), "me", kT0 + 1000);
  ASSERT_FALSE(claimed.ok());
  EXPECT_EQ(claimed.error().code, ErrorCode::kInsufficientCredits);
  EXPECT_EQ(get(*store_, "c"), std::nullopt);
  // Exactly the rest is fine.
  ASSERT_TRUE(store_->insert_claimed_task(priced("d", k, 4 * kCredit), "me", kT0 + 1000).ok());
  EXPECT_EQ(account(k.account_id).balance, 0);
  EXPECT_EQ(get(*store_, "a")->price, 6 * kCredit);
  expect_balanced(k.account_id);
}

TEST_P(BillingTest, SuccessCapturesFailureAndCancellationRefund) {
  ApiKey k = new_key(100 * kCredit);
  for (const char* id : {"ok", "bad", "cancelled", "queued-cancel"}) {
    ASSERT_TRUE(store_->insert_task(priced(id, k, 10 * kCredit)).ok());
  }
  EXPECT_EQ(account(k.account_id).balance, 60 * kCredit);
  auto claims = claim(*store_, "w", 3, kT0, kT0 + 60'000);
  ASSERT_EQ(claims.size(), 3u);
  auto row = [&](const std::string& id) { return get(*store_, id)->row_id; };
  EXPECT_EQ(value_of(store_->complete_task(row("ok"), 1, outcome(TaskState::kSucceeded, "", kT0))),
            Fence::kApplied);
  EXPECT_EQ(value_of(store_->complete_task(row("bad"), 1,
                                           outcome(TaskState::kFailed, "upstream_error", kT0))),
            Fence::kApplied);
  EXPECT_EQ(value_of(store_->cancel_task(row("cancelled"), kT0)), true);
  EXPECT_EQ(value_of(store_->cancel_task(row("queued-cancel"), kT0)), true);
  Account a = account(k.account_id);
  EXPECT_EQ(a.balance, 90 * kCredit);  // 100 - the one captured
  EXPECT_EQ(a.total_consumed, 10 * kCredit);
  EXPECT_EQ(a.total_purchased, 100 * kCredit);
  // One settlement per task.
  EXPECT_EQ(sql_text("SELECT COUNT(*) FROM ledger WHERE kind = 'capture'"), "1");
  EXPECT_EQ(sql_text("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'"), "3");
  expect_balanced(k.account_id);
}

TEST_P(BillingTest, ALateWorkerCannotSettleTwice) {
  ApiKey k = new_key(100 * kCredit);
  ASSERT_TRUE(store_->insert_task(priced("x", k, 10 * kCredit)).ok());
  const auto row = claim(*store_, "w1", 1, kT0, kT0 + 10).at(0).task.row_id;
  ASSERT_EQ(claim(*store_, "w2", 1, kT0 + 20, kT0 + 60'000).size(), 1u);  // lease lapsed
  EXPECT_EQ(value_of(store_->complete_task(row, 2, outcome(TaskState::kFailed, "f", kT0))),
            Fence::kApplied);
  // The first worker ends late: fenced out, no second settlement.
  EXPECT_EQ(value_of(store_->complete_task(row, 1, outcome(TaskState::kSucceeded, "", kT0))),
            Fence::kFencedOut);
  EXPECT_EQ(value_of(store_->cancel_task(row, kT0)), false);
  EXPECT_THAT(kinds(k.account_id), ::testing::ElementsAre("topup", "hold", "refund"));
  expect_balanced(k.account_id);
  // And the schema itself refuses a second settlement, whatever the code does.
  EXPECT_EQ(sql_text("SELECT COUNT(*) FROM ledger"), "3");
  const std::string second =
      "INSERT INTO ledger (account_id, kind, amount, price, task_row, created_ms) VALUES (" +
      std::to_string(k.account_id) + ", 'capture', 0, 10, " + std::to_string(row) + ", 1)";
  EXPECT_TRUE(sql_fails(second));
  EXPECT_EQ(sql_text("SELECT COUNT(*) FROM ledger"), "3");
}

TEST_P(BillingTest, ATaskClaimedTooOftenIsRefunded) {
  ApiKey k = new_key(100 * kCredit);
  ASSERT_TRUE(store_->insert_task(priced("x", k, 10 * kCredit)).ok());
  ASSERT_EQ(must(store_->claim_tasks("w", 1, kT0, kT0 + 1, 1)).claims.size(), 1u);
  auto batch = must(store_->claim_tasks("w", 1, kT0 + 10, kT0 + 20, 1));
  ASSERT_EQ(batch.exhausted.size(), 1u);
  EXPECT_EQ(account(k.account_id).balance, 100 * kCredit);
  EXPECT_THAT(kinds(k.account_id), ::testing::ElementsAre("topup", "hold", "refund"));
}

// 200 creates at once against a balance that covers exactly 10: exactly 10 are accepted.
TEST_P(BillingTest, ConcurrentCreatesNeverOverdrawAMeteredAccount) {
  ApiKey k = new_key(47 * kCredit);  // 10 × 4.7
  std::atomic<int> accepted{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 200; i += 8) {
        core::Task task = priced(task_id(i), k, 4'700'000);
        core::Status s = core::ok_status();
        if (i % 2 == 0) {
          s = store_->insert_task(task);
        } else if (auto c = store_->insert_claimed_task(task, "me", kT0 + 1000); !c.ok()) {
          s = c.error();
        }
        if (s.ok()) {
          ++accepted;
        } else if (s.error().code == ErrorCode::kInsufficientCredits) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(accepted.load(), 10);
  EXPECT_EQ(refused.load(), 190);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(account(k.account_id).balance, 0);
  EXPECT_EQ(sql_text("SELECT COUNT(*) FROM tasks"), "10");
  EXPECT_EQ(sql_text("SELECT COUNT(*) FROM ledger WHERE kind = 'hold'"), "10");
  expect_balanced(k.account_id);
}

TEST_P(BillingTest, TheActiveTaskLimitCountsQueuedAndRunning) {
  KeyLimits limits;
  limits.max_active = 2;
  ApiKey k = new_key(std::nullopt, limits);
  ASSERT_TRUE(store_->insert_task(priced("a", k, 1)).ok());
  ASSERT_TRUE(store_->insert_claimed_task(priced("b", k, 1), "me", kT0 + 1000).ok());
  auto refused = store_->insert_task(priced("c", k, 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kTooManyActive);
  EXPECT_GE(refused.error().retry_after_s, 1);
  EXPECT_EQ(get(*store_, "c"), std::nullopt);
  // Another key of the same account has its own limit.
  ApiKey other = new_key(std::nullopt, {}, k.account_id);
  EXPECT_EQ(other.account_id, k.account_id);
  EXPECT_FALSE(account(k.account_id).metered);
  ASSERT_TRUE(store_->insert_task(priced("other", other, 1)).ok());
  // One ends: room again.
  ASSERT_EQ(value_of(store_->cancel_task(get(*store_, "a")->row_id, kT0)), true);
  ASSERT_TRUE(store_->insert_task(priced("c", k, 1)).ok());
}

TEST_P(BillingTest, SpendLimitsTripAtTheirValueAndRecoverAfterTheWindow) {
  KeyLimits limits;
  limits.spend_hourly = 10 * kCredit;
  ApiKey k = new_key(std::nullopt, limits);
  ASSERT_TRUE(store_->insert_task(priced("a", k, 6 * kCredit, kT0)).ok());
  ASSERT_TRUE(store_->insert_task(priced("b", k, 4 * kCredit, kT0 + 600'000)).ok());  // = 10
  auto refused = store_->insert_task(priced("c", k, 1, kT0 + 900'000));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kSpendLimited);
  EXPECT_NE(refused.error().message.find("hourly"), std::string::npos);
  // The oldest hold (at kT0) leaves the hour at kT0 + 3600 s: 2700 s from kT0 + 900 s.
  EXPECT_EQ(refused.error().retry_after_s, 2700);
  // A refunded task no longer counts.
  ASSERT_EQ(value_of(store_->cancel_task(get(*store_, "b")->row_id, kT0)), true);
  ASSERT_TRUE(store_->insert_task(priced("c", k, 4 * kCredit, kT0 + 900'000)).ok());
  // After the window, room again.
  ASSERT_FALSE(store_->insert_task(priced("d", k, 6 * kCredit, kT0 + 1'000'000)).ok());
  ASSERT_TRUE(store_->insert_task(priced("d", k, 6 * kCredit, kT0 + 3'600'000)).ok());

  KeyLimits total;
  total.spend_total = 3 * kCredit;
  ApiKey capped = new_key(std::nullopt, total);
  ASSERT_TRUE(store_->insert_task(priced("t1", capped, 3 * kCredit)).ok());
  auto never = store_->insert_task(priced("t2", capped, 1, kT0 + 100 * 86'400'000LL));
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(never.error().code, ErrorCode::kSpendLimited);
  EXPECT_EQ(never.error().retry_after_s, 0);  // waiting does not help
}

TEST_P(BillingTest, ADisabledKeyCreatesNothing) {
  ApiKey k = new_key(std::nullopt);
  KeyPatch p;
  p.disabled = true;
  ASSERT_TRUE(must(store_->update_key(k.id, p)).has_value());
  auto refused = store_->insert_task(priced("x", k, 1));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthorized);
}

TEST_P(BillingTest, CreditsWithANewKeyOfAnExistingAccountMakeItMetered) {
  ApiKey first = new_key(std::nullopt);
  EXPECT_FALSE(account(first.account_id).metered);
  ApiKey second = new_key(3 * kCredit, {}, first.account_id);
  Account a = account(first.account_id);
  EXPECT_TRUE(a.metered);
  EXPECT_EQ(a.balance, 3 * kCredit);
  auto refused = store_->insert_task(priced("x", first, 4 * kCredit));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInsufficientCredits);
}

TEST_P(BillingTest, KeysAreUpdatedRotatedAndListed) {
  ApiKey k = new_key(std::nullopt);
  KeyPatch p;
  p.name = "renamed";
  p.rpm = 60;
  p.spend_daily = 5 * kCredit;
  p.ip_allowlist = std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"};
  auto updated = must(store_->update_key(k.id, p));
  ASSERT_TRUE(updated.has_value());
  EXPECT_EQ(updated->name, "renamed");
  EXPECT_EQ(updated->limits.rpm, 60);
  auto read = must(store_->get_key(k.id));
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->limits, updated->limits);
  EXPECT_EQ(read->limits.ip_allowlist, (std::vector<std::string>{"10.0.0.0/8", "2001:db8::/32"}));
  EXPECT_FALSE(must(store_->update_key(9999, p)).has_value());

  auto rotated = must(store_->rotate_key(k.id, "sk-rotated", "new-hash"));
  ASSERT_TRUE(rotated.has_value());
  EXPECT_EQ(rotated->prefix, "sk-rotated");
  EXPECT_FALSE(must(store_->find_key_by_hash(k.secret_hash)).has_value());
  EXPECT_TRUE(must(store_->find_key_by_hash("new-hash")).has_value());
  EXPECT_FALSE(must(store_->rotate_key(9999, "x", "y")).has_value());

  new_key(std::nullopt);
  EXPECT_EQ(must(store_->list_keys()).size(), 2u);
  // An unknown account is not created on the fly.
  ApiKey orphan = make_key("sk-orphan", "orphan");
  orphan.account_id = 4242;
  auto r = store_->create_key_in_account(orphan, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

TEST_P(BillingTest, TopUpsAndAdjustmentsMoveTheBalance) {
  ApiKey k = new_key(std::nullopt);
  auto after = must(store_->add_credits(k.account_id, "topup", 25 * kCredit, "bought", kT0));
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->metered);  // a top-up makes it metered
  EXPECT_EQ(after->balance, 25 * kCredit);
  after = must(store_->add_credits(k.account_id, "adjust", -5 * kCredit, "goodwill reversal", kT0));
  EXPECT_EQ(after->balance, 20 * kCredit);
  EXPECT_EQ(after->total_purchased, 25 * kCredit);
  EXPECT_FALSE(store_->add_credits(k.account_id, "topup", -1, "", kT0).ok());
  EXPECT_FALSE(store_->add_credits(k.account_id, "adjust", 0, "", kT0).ok());
  EXPECT_FALSE(store_->add_credits(k.account_id, "gift", 1, "", kT0).ok());
  EXPECT_FALSE(must(store_->add_credits(777, "topup", 1, "", kT0)).has_value());
  auto rows = must(store_->list_ledger(k.account_id));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].reason, "goodwill reversal");
  expect_balanced(k.account_id);
}

TEST_P(BillingTest, AdminListsFilterAndUsageCountsPerDay) {
  ApiKey a = new_key(std::nullopt);
  ApiKey b = new_key(std::nullopt);
  const std::int64_t day = 86'400'000;
  ASSERT_TRUE(store_->insert_task(priced("a1", a, 2 * kCredit, kT0)).ok());
  ASSERT_TRUE(store_->insert_task(priced("a2", a, 3 * kCredit, kT0 + day)).ok());
  ASSERT_TRUE(store_->insert_task(priced("b1", b, 5 * kCredit, kT0 + day)).ok());
  auto c = claim(*store_, "w", 3, kT0 + day, kT0 + 2 * day);
  ASSERT_EQ(c.size(), 3u);
  std::vector<core::ResultObject> two(2);
  two[0].key = "a1/x";
  two[1].key = "a1/y";
  ASSERT_EQ(value_of(store_->complete_task(get(*store_, "a1")->row_id, 1,
                                           outcome(TaskState::kSucceeded, "", kT0, two))),
            Fence::kApplied);

  TaskFilter f;
  f.key_id = a.id;
  auto page = must(store_->list_all_tasks(f, 0, 10));
  EXPECT_EQ(page.total, 2);
  ASSERT_EQ(page.tasks.size(), 2u);
  EXPECT_EQ(page.tasks[0].id, "a2");  // newest first
  f = {};
  f.state = "running";
  EXPECT_EQ(must(store_->list_all_tasks(f, 0, 10)).total, 2);
  f = {};
  f.since_ms = kT0 + 1;
  EXPECT_EQ(must(store_->list_all_tasks(f, 0, 1)).total, 2);
  EXPECT_EQ(must(store_->list_all_tasks(f, 0, 1)).tasks.size(), 1u);
  f = {};
  f.model = "gpt-image-2";
  EXPECT_EQ(must(store_->list_all_tasks(f, 0, 10)).total, 3);
  f.model = "dall-e-3";
  EXPECT_EQ(must(store_->list_all_tasks(f, 0, 10)).total, 0);

  auto used = must(store_->usage(a.id, kT0 - day, kT0 + 2 * day));
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].tasks, 1);
  EXPECT_EQ(used[0].images, 2);
  EXPECT_EQ(used[0].credits, 2 * kCredit);
  EXPECT_EQ(used[1].tasks, 1);
  EXPECT_EQ(used[1].credits, 0);  // still running: nothing captured
  EXPECT_EQ(must(store_->usage(0, kT0 - day, kT0 + 2 * day)).size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Backends, BillingTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         testing::backend_name);

}  // namespace
}  // namespace ig::store
