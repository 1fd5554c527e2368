// The stores' reads behind the admin views: usage per day and key or model, account
// and ledger pages with the running balance, a task's ledger, upstream call statistics, and
// that each walks an index rather than the whole table.

#include <atomic>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/sqlite/statements.hpp"
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
using testing::RawDb;
using testing::value_of;

constexpr std::int64_t kCredit = 1'000'000;
constexpr std::int64_t kT0 = 1'790'000'000'000;  // ms; 2026-09-21 (UTC)
constexpr std::int64_t kDay = 86'400'000;

class AdminReadsTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    if (!set_up_base()) {
      return;
    }
    store_ = open_store();
    ASSERT_NE(store_, nullptr);
  }

  ApiKey new_key(std::optional<std::int64_t> credits, std::int64_t account_id = 0) {
    const int n = next_++;
    ApiKey k = make_key("sk-" + std::to_string(n), "hash-" + std::to_string(n));
    k.name = "key " + std::to_string(n);
    k.account_id = account_id;
    k.created_ms = kT0;
    return must(store_->create_key_in_account(k, credits));
  }

  // A task of `key` created at `created`, priced, with `model`; then claimed and ended in
  // `end` (kQueued: left queued) with `images` results.
  std::int64_t task(const std::string& id, const ApiKey& key, std::int64_t created,
                    std::int64_t price, const std::string& model, TaskState end, int images = 1) {
    core::Task t = make_task(id, created, key.id);
    t.price = price;
    t.request.model = model;
    EXPECT_TRUE(store_->insert_task(t).ok());
    const std::int64_t row = get(*store_, id)->row_id;
    if (end == TaskState::kQueued) {
      return row;
    }
    auto claims = claim(*store_, "w", 1, created, created + 60'000);
    EXPECT_EQ(claims.size(), 1u);
    if (end == TaskState::kCancelled) {
      EXPECT_EQ(value_of(store_->cancel_task(row, created + 10)), true);
      return row;
    }
    std::vector<core::ResultObject> results(static_cast<std::size_t>(images));
    for (int i = 0; i < images; ++i) {
      results[static_cast<std::size_t>(i)].key = id + "/" + std::to_string(i) + ".png";
    }
    EXPECT_EQ(
        value_of(store_->complete_task(
            row, 1,
            outcome(end, end == TaskState::kFailed ? "upstream_error" : "", created + 10,
                    end == TaskState::kSucceeded ? results : std::vector<core::ResultObject>{}))),
        Fence::kApplied);
    return row;
  }

  std::unique_ptr<Store> store_;
  int next_ = 1;
};

TEST_P(AdminReadsTest, UsageRowsPerDayKeyAndModelWithFilters) {
  ApiKey a = new_key(std::nullopt);
  ApiKey b = new_key(std::nullopt);
  task("a1", a, kT0, 2 * kCredit, "gpt-image-2", TaskState::kSucceeded, 2);
  task("a2", a, kT0 + 1000, 3 * kCredit, "gpt-image-1", TaskState::kFailed);
  task("b1", b, kT0 + 2000, 5 * kCredit, "gpt-image-2", TaskState::kSucceeded);
  task("b2", b, kT0 + kDay, 7 * kCredit, "gpt-image-2", TaskState::kSucceeded, 3);
  task("late", b, kT0 + 3 * kDay, 1 * kCredit, "gpt-image-2", TaskState::kSucceeded);

  UsageQuery q;
  q.from_ms = kT0 - kDay;
  q.to_ms = kT0 + 2 * kDay;  // "late" is outside
  auto days = must(store_->usage_rows(q));
  ASSERT_EQ(days.size(), 2u);
  EXPECT_EQ(days[0].day, "2026-09-21");
  EXPECT_EQ(days[0].tasks, 3);
  EXPECT_EQ(days[0].images, 3);             // the failed task made none
  EXPECT_EQ(days[0].credits, 7 * kCredit);  // captured only: 2 + 5
  EXPECT_EQ(days[1].tasks, 1);
  EXPECT_EQ(days[1].images, 3);
  EXPECT_EQ(days[0].key_id, 0);
  EXPECT_EQ(days[0].model, "");

  q.group_by = UsageQuery::GroupBy::kKey;
  auto by_key = must(store_->usage_rows(q));
  ASSERT_EQ(by_key.size(), 3u);  // day 1: a, b; day 2: b
  EXPECT_EQ(by_key[0].key_id, a.id);
  EXPECT_EQ(by_key[0].tasks, 2);
  EXPECT_EQ(by_key[0].credits, 2 * kCredit);
  EXPECT_EQ(by_key[1].key_id, b.id);
  EXPECT_EQ(by_key[1].credits, 5 * kCredit);
  EXPECT_EQ(by_key[2].day, "2026-09-22");

  q.group_by = UsageQuery::GroupBy::kModel;
  auto by_model = must(store_->usage_rows(q));
  ASSERT_EQ(by_model.size(), 3u);
  EXPECT_EQ(by_model[0].model, "gpt-image-1");
  EXPECT_EQ(by_model[0].tasks, 1);
  EXPECT_EQ(by_model[1].model, "gpt-image-2");
  EXPECT_EQ(by_model[1].tasks, 2);
  EXPECT_EQ(by_model[1].images, 3);

  // One key, one model.
  q.key_id = a.id;
  q.model = "gpt-image-2";
  auto one = must(store_->usage_rows(q));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].tasks, 1);
  EXPECT_EQ(one[0].images, 2);
  q.key_id = 0;
  q.group_by = UsageQuery::GroupBy::kDay;
  auto model_days = must(store_->usage_rows(q));
  ASSERT_EQ(model_days.size(), 2u);
  EXPECT_EQ(model_days[0].tasks, 2);  // a1, b1
  q.model = "no-such-model";
  EXPECT_TRUE(must(store_->usage_rows(q)).empty());
}

TEST_P(AdminReadsTest, KeysArePagedByIdAndSearchedByIdNameOrPrefix) {
  std::vector<ApiKey> keys;
  for (int i = 0; i < 5; ++i) {
    keys.push_back(new_key(std::nullopt));  // names "key N", prefixes "sk-N"
  }
  auto all = must(store_->list_keys_page("", 0, 2));
  EXPECT_EQ(all.total, 5);
  ASSERT_EQ(all.keys.size(), 2u);
  EXPECT_EQ(all.keys[0].id, keys[0].id);
  EXPECT_EQ(all.keys[1].id, keys[1].id);
  auto last = must(store_->list_keys_page("", 4, 2));
  ASSERT_EQ(last.keys.size(), 1u);
  EXPECT_EQ(last.keys[0].id, keys[4].id);

  const std::string third_name = keys[2].name;  // a part of the name, any case
  auto by_name = must(store_->list_keys_page("KEY " + third_name.substr(4), 0, 10));
  ASSERT_EQ(by_name.total, 1);
  EXPECT_EQ(by_name.keys[0].id, keys[2].id);
  auto by_prefix = must(store_->list_keys_page(keys[3].prefix, 0, 10));
  ASSERT_EQ(by_prefix.total, 1);
  EXPECT_EQ(by_prefix.keys[0].id, keys[3].id);
  auto by_id = must(store_->list_keys_page(std::to_string(keys[1].id), 0, 10));
  ASSERT_GE(by_id.total, 1);
  EXPECT_EQ(by_id.keys[0].id, keys[1].id);
  // LIKE's wildcards are literal: "%" matches no name.
  EXPECT_EQ(must(store_->list_keys_page("%", 0, 10)).total, 0);
  EXPECT_EQ(must(store_->list_keys_page("_", 0, 10)).total, 0);
  EXPECT_EQ(must(store_->list_keys_page("key", 0, 10)).total, 5);
}

TEST_P(AdminReadsTest, AccountsArePagedOldestFirstWithTotals) {
  std::vector<ApiKey> keys;
  for (int i = 0; i < 5; ++i) {
    keys.push_back(new_key(i == 0 ? std::optional<std::int64_t>() : (i * 10) * kCredit));
  }
  task("t", keys[1], kT0, 4 * kCredit, "gpt-image-2", TaskState::kSucceeded);
  auto first = must(store_->list_accounts(0, 2));
  EXPECT_EQ(first.total, 5);
  ASSERT_EQ(first.accounts.size(), 2u);
  EXPECT_EQ(first.accounts[0].id, keys[0].account_id);
  EXPECT_FALSE(first.accounts[0].metered);
  EXPECT_EQ(first.accounts[1].id, keys[1].account_id);
  EXPECT_TRUE(first.accounts[1].metered);
  EXPECT_EQ(first.accounts[1].balance, 6 * kCredit);
  EXPECT_EQ(first.accounts[1].total_purchased, 10 * kCredit);
  EXPECT_EQ(first.accounts[1].total_consumed, 4 * kCredit);
  auto last = must(store_->list_accounts(4, 2));
  EXPECT_EQ(last.total, 5);
  ASSERT_EQ(last.accounts.size(), 1u);
  EXPECT_EQ(last.accounts[0].id, keys[4].account_id);
  EXPECT_TRUE(must(store_->list_accounts(10, 2)).accounts.empty());
}

TEST_P(AdminReadsTest, ALedgerPageIsOneSnapshotWhileTheWriterCommits) {
  // The oldest row's running balance is the balance less every newer row: it is the row's own
  // amount only when the page's total, its rows and the balance were read at one moment. Read
  // in separate statements, a row committed between the count and the page moved the page to
  // the second oldest row (the crash suite's "balance is not the ledger's sum").
  ApiKey k = new_key(100 * kCredit);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 500; ++i) {
      if (!store_->add_credits(k.account_id, "adjust", kCredit, "race", kT0 + 1000 + i).ok()) {
        break;
      }
    }
    done = true;
  });
  int torn = 0;
  std::int64_t total = 1;
  while (!done.load()) {
    auto page = must(store_->ledger_page(k.account_id, total - 1, 1));
    if (page.total == total && page.lines.size() == 1 &&
        page.lines[0].balance_after != page.lines[0].entry.amount) {
      ++torn;
    }
    total = page.total;
  }
  writer.join();
  EXPECT_EQ(torn, 0);
}

TEST_P(AdminReadsTest, LedgerPagesCarryTheRunningBalanceNewestFirst) {
  ApiKey k = new_key(100 * kCredit);  // topup 100 at kT0
  task("ok", k, kT0 + 1000, 10 * kCredit, "gpt-image-2", TaskState::kSucceeded);  // hold, capture
  task("bad", k, kT0 + 2000, 20 * kCredit, "gpt-image-2", TaskState::kFailed);    // hold, refund
  ASSERT_TRUE(must(store_->add_credits(k.account_id, "adjust", -5 * kCredit, "fix", kT0 + 3000)));
  task("wait", k, kT0 + 4000, 30 * kCredit, "gpt-image-2", TaskState::kQueued);  // hold

  // Oldest first: topup +100 (100), hold -10 (90), capture 0 (90), hold -20 (70),
  // refund +20 (90), adjust -5 (85), hold -30 (55).
  const std::vector<std::int64_t> balances_newest_first = {55, 85, 90, 70, 90, 90, 100};
  std::vector<LedgerLine> all;
  for (std::int64_t offset = 0;; offset += 3) {
    auto page = must(store_->ledger_page(k.account_id, offset, 3));
    EXPECT_EQ(page.total, 7);
    if (page.lines.empty()) {
      break;
    }
    all.insert(all.end(), page.lines.begin(), page.lines.end());
  }
  ASSERT_EQ(all.size(), 7u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].balance_after, balances_newest_first[i] * kCredit) << i;
  }
  EXPECT_EQ(all[0].entry.kind, "hold");
  EXPECT_EQ(all[0].task_id, "wait");
  EXPECT_EQ(all[1].entry.kind, "adjust");
  EXPECT_EQ(all[1].entry.reason, "fix");
  EXPECT_EQ(all[1].task_id, "");
  EXPECT_EQ(all[6].entry.kind, "topup");
  EXPECT_EQ(all[0].balance_after, must(store_->get_account(k.account_id))->balance);

  EXPECT_EQ(must(store_->ledger_page(4242, 0, 10)).total, 0);
}

TEST_P(AdminReadsTest, ATasksLedgerIsItsHoldAndSettlement) {
  ApiKey k = new_key(100 * kCredit);
  const auto ok = task("ok", k, kT0, 10 * kCredit, "gpt-image-2", TaskState::kSucceeded);
  const auto cancelled = task("c", k, kT0, 10 * kCredit, "gpt-image-2", TaskState::kCancelled);
  const auto queued = task("q", k, kT0, 10 * kCredit, "gpt-image-2", TaskState::kQueued);
  auto kinds = [&](std::int64_t row) {
    std::vector<std::string> out;
    for (const auto& e : must(store_->task_ledger(row))) {
      out.push_back(e.kind);
      EXPECT_EQ(e.price, 10 * kCredit);
    }
    return out;
  };
  EXPECT_THAT(kinds(ok), ::testing::ElementsAre("hold", "capture"));
  EXPECT_THAT(kinds(cancelled), ::testing::ElementsAre("hold", "refund"));
  EXPECT_THAT(kinds(queued), ::testing::ElementsAre("hold"));
  ApiKey free_key = new_key(std::nullopt);
  const auto free_task = task("free", free_key, kT0, 0, "gpt-image-2", TaskState::kQueued);
  EXPECT_EQ(must(store_->task_ledger(free_task)).size(), 1u);  // a hold of 0 is still a hold
  EXPECT_TRUE(must(store_->task_ledger(987654)).empty());
}

TEST_P(AdminReadsTest, UpstreamStatsPerRouteOverAWindow) {
  ApiKey k = new_key(std::nullopt);
  const auto row = task("t", k, kT0, 0, "gpt-image-2", TaskState::kQueued);
  auto call = [&](const std::string& route, std::int64_t started, std::int64_t duration,
                  const std::string& cls) {
    auto id = store_->begin_upstream_call(UpstreamCall{.task_row = row,
                                                       .attempt = 1,
                                                       .route = route,
                                                       .provider_kind = "openai",
                                                       .started_ms = started});
    ASSERT_TRUE(id.ok());
    if (cls == "cancelled") {  // a run cancelled mid-call: the provider's code says so
      ASSERT_TRUE(
          store_->finish_upstream_call(*id, 0, duration, "no_work", "cancelled", "", "").ok());
    } else if (cls != "in_flight") {
      ASSERT_TRUE(
          store_->finish_upstream_call(*id, cls.empty() ? 200 : 503, duration, cls, "", "", "")
              .ok());
    }
  };
  // Route a: durations 10..200 ms (20 calls), two of them failed; one in flight.
  for (int i = 1; i <= 20; ++i) {
    call("a", kT0 + i, i * 10, i % 10 == 0 ? "no_work" : "");
  }
  call("a", kT0 + 50, 0, "in_flight");
  call("b", kT0 + 5, 1000, "route_fault");
  call("b", kT0 + 6, 3, "cancelled");  // see below: a cancellation
  call("b", kT0 - 10, 5, "");          // before the window
  call("b", kT0 + kDay, 5, "");        // after it

  auto stats = must(store_->upstream_stats(kT0, kT0 + kDay));
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].route, "a");
  EXPECT_EQ(stats[0].provider_kind, "openai");
  EXPECT_EQ(stats[0].requests, 21);
  EXPECT_EQ(stats[0].succeeded, 18);
  EXPECT_EQ(stats[0].errors, 2);
  EXPECT_EQ(stats[0].in_flight, 1);
  EXPECT_EQ(stats[0].p50_ms, 100);  // nearest rank: the 10th of 20
  EXPECT_EQ(stats[0].p95_ms, 190);  // the 19th
  EXPECT_EQ(stats[0].last_started_ms, kT0 + 50);
  EXPECT_EQ(stats[0].cancelled, 0);
  EXPECT_EQ(stats[1].route, "b");
  EXPECT_EQ(stats[1].requests, 2);
  EXPECT_EQ(stats[1].errors, 1);  // the cancelled call is not the route's error,
  EXPECT_EQ(stats[1].cancelled, 1);
  EXPECT_EQ(stats[1].p50_ms, 1000);  // nor a latency
  EXPECT_EQ(stats[1].p95_ms, 1000);
  EXPECT_TRUE(must(store_->upstream_stats(kT0 + 2 * kDay, kT0 + 3 * kDay)).empty());
  // Only in flight: no percentile.
  auto only = must(store_->upstream_stats(kT0 + 50, kT0 + 51));
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].p50_ms, -1);
}

TEST_P(AdminReadsTest, ATasksPageIsOneSnapshotWhileTasksAreCreated) {
  // The last page's row is the oldest task only when the total and the rows were read at one
  // moment; a task inserted between the count and the page would push the oldest off it.
  ApiKey k = new_key(std::nullopt);
  ASSERT_TRUE(store_->insert_task(make_task("oldest", kT0, k.id)).ok());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 1; i <= 500; ++i) {
      if (!store_->insert_task(make_task("t" + std::to_string(i), kT0 + i, k.id)).ok()) {
        break;
      }
    }
    done = true;
  });
  int torn = 0;
  std::int64_t total = 1;
  while (!done.load()) {
    auto page = must(store_->list_all_tasks(TaskFilter{}, total - 1, 1));
    if (page.total == total && page.tasks.size() == 1 && page.tasks[0].id != "oldest") {
      ++torn;
    }
    total = page.total;
  }
  writer.join();
  EXPECT_EQ(torn, 0);
}

TEST_P(AdminReadsTest, EveryonesTasksFilterByDialect) {
  ApiKey k = new_key(std::nullopt);
  core::Task jobs = make_task("j", kT0, k.id);
  core::Task openai = make_task("o", kT0 + 1, k.id);
  openai.request.dialect = core::Dialect::kOpenAI;
  ASSERT_TRUE(store_->insert_task(jobs).ok());
  ASSERT_TRUE(store_->insert_task(openai).ok());
  TaskFilter f;
  f.dialect = "openai";
  auto page = must(store_->list_all_tasks(f, 0, 10));
  EXPECT_EQ(page.total, 1);
  ASSERT_EQ(page.tasks.size(), 1u);
  EXPECT_EQ(page.tasks[0].id, "o");
  f.key_id = k.id;  // one key's, along tasks_by_key
  EXPECT_EQ(must(store_->list_all_tasks(f, 0, 10)).total, 1);
  f.dialect = "";
  EXPECT_EQ(must(store_->list_all_tasks(f, 0, 10)).total, 2);
  f.key_id = k.id + 1;
  EXPECT_EQ(must(store_->list_all_tasks(f, 0, 10)).total, 0);
  f.key_id = 0;
  EXPECT_EQ(must(store_->list_all_tasks(f, 0, 10)).total, 2);
}

// AdminReadsTest on SQLite alone: its query plans.
class SqliteAdminReadsTest : public AdminReadsTest {
 protected:
  testing::Backend backend() const override { return testing::Backend::kSqlite; }
};

// The plans name an index: a window of a large table is read, not the table.
TEST_F(SqliteAdminReadsTest, WindowsAreReadAlongIndexes) {
  new_key(std::nullopt);
  RawDb raw(db_path());
  auto plan = [&](const std::string& sql) {
    std::string out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(
        sqlite3_prepare_v2(raw.handle(), ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr),
        SQLITE_OK)
        << sqlite3_errmsg(raw.handle());
    while (st != nullptr && sqlite3_step(st) == SQLITE_ROW) {
      out += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
      out += "\n";
    }
    sqlite3_finalize(st);
    return out;
  };
  EXPECT_THAT(plan(detail::sql::kListAllTasksOfKey), ::testing::HasSubstr("tasks_by_key"));
  EXPECT_THAT(plan(detail::sql::kCountAllTasksOfKey), ::testing::HasSubstr("tasks_by_key"));
  EXPECT_THAT(plan(detail::sql::kUsageRowsAll), ::testing::HasSubstr("tasks_by_created"));
  EXPECT_THAT(plan(detail::sql::kUsageRowsOfKey), ::testing::HasSubstr("tasks_by_key"));
  EXPECT_THAT(plan(detail::sql::kUpstreamStats), ::testing::HasSubstr("upstream_calls_by_start"));
  EXPECT_THAT(plan(detail::sql::kLedgerPage), ::testing::HasSubstr("ledger_by_account"));
  EXPECT_THAT(plan(detail::sql::kTaskLedger),
              ::testing::AllOf(::testing::HasSubstr("ledger_one_hold"),
                               ::testing::HasSubstr("ledger_one_settlement")));
}

INSTANTIATE_TEST_SUITE_P(Backends, AdminReadsTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         testing::backend_name);

}  // namespace
}  // namespace ig::store
