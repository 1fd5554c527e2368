// What only the PostgreSQL store has: migrations under an advisory lock by many nodes at once,
// a bounded pool, connections lost and re-established, several stores (nodes) sharing one
// database without overdrawing an account or sharing a task, SQL that never takes user text as
// SQL, a claim whose plan reads no task it does not take, and counts per state that read no
// finished task.

#include "store/pg/pg_store.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <latch>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/pg/migrations.hpp"
#include "store/pg/statements.hpp"
#include "unit/store/store_test_util.hpp"

namespace ig::store::testing {
namespace {

using core::ErrorCode;
using core::TaskState;

constexpr std::int64_t kCredit = 1'000'000;

// Rows the scans of table `tasks` in an EXPLAIN (ANALYZE, FORMAT JSON) plan read: those they
// returned and those their filter removed, over every loop. With `under_cte`, only the scans
// under the plan's CTEs (a claim's candidates; the UPDATE's own join to the rows it changes is
// left out).
std::int64_t tasks_rows_read(const boost::json::value& plan, bool under_cte,
                             bool in_cte = false) {
  std::int64_t n = 0;
  if (const auto* o = plan.if_object()) {
    const auto* subplan = o->if_contains("Subplan Name");
    in_cte = in_cte || (subplan != nullptr && subplan->is_string() &&
                        subplan->as_string().starts_with("CTE "));
    const auto* relation = o->if_contains("Relation Name");
    if ((in_cte || !under_cte) && relation != nullptr && relation->is_string() &&
        relation->as_string() == "tasks") {
      const auto count = [&](const char* field) -> std::int64_t {
        const auto* v = o->if_contains(field);
        return v != nullptr && v->is_number() ? v->to_number<std::int64_t>() : 0;
      };
      n += count("Actual Rows") * std::max<std::int64_t>(count("Actual Loops"), 1);
      n += count("Rows Removed by Filter") + count("Rows Removed by Index Recheck");
    }
    for (const auto& [k, v] : *o) {
      n += tasks_rows_read(v, under_cte, in_cte);
    }
  } else if (const auto* a = plan.if_array()) {
    for (const auto& v : *a) {
      n += tasks_rows_read(v, under_cte, in_cte);
    }
  }
  return n;
}

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    schema_ = PgSchema::create();
    if (schema_ == nullptr) {
      GTEST_SKIP() << "no PostgreSQL server: set IMAGEGATE_TEST_PG (ctest starts one)";
    }
    std::random_device rd;
    app_name_ = "ig-test-" + std::to_string(rd());
  }

  /// A store on this test's schema; its connections carry app_name_ (to find them on the
  /// server).
  std::unique_ptr<PgStore> open(int pool_size = 4) {
    PgOptions opts;
    opts.url = schema_->url() + "&application_name=" + app_name_;
    opts.pool_size = pool_size;
    opts.acquire_timeout = std::chrono::seconds(20);
    auto r = PgStore::open(opts);
    if (!r.ok()) {
      ADD_FAILURE() << "open: " << r.error().message;
      return nullptr;
    }
    return std::move(*r);
  }

  /// Connections of this test's stores that the server has now.
  std::int64_t server_connections() {
    RawPg admin(schema_->server_url());
    const std::string n = admin.text(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '" + app_name_ + "'");
    return n.empty() ? -1 : std::stoll(n);
  }

  /// Ends every server session of this test's stores, as a PostgreSQL restart does.
  void kill_connections() {
    RawPg admin(schema_->server_url());
    admin.text(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name = '" +
        app_name_ + "'");
  }

  std::unique_ptr<PgSchema> schema_;
  std::string app_name_;
};

TEST_F(PgStoreTest, OpenAppliesEveryMigrationOnceAndAgainNothing) {
  const auto known = static_cast<std::int64_t>(pg::migrations().size());
  ASSERT_NE(open(), nullptr);
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM schema_migrations"), std::to_string(known));
  EXPECT_EQ(schema_->text("SELECT MAX(version) FROM schema_migrations"), std::to_string(known));
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() "
                          "AND indexname IN ('tasks_claim', 'tasks_by_key', 'ledger_one_hold', "
                          "'ledger_one_settlement', 'tasks_by_created')"),
            "5");
  const std::string applied = schema_->text(
      "SELECT string_agg(applied_ms::text, ',' ORDER BY version) "
      "FROM schema_migrations");
  ASSERT_NE(open(), nullptr);  // reopen: nothing to apply
  EXPECT_EQ(schema_->text("SELECT string_agg(applied_ms::text, ',' ORDER BY version) "
                          "FROM schema_migrations"),
            applied);
}

// N nodes starting at once on an empty database: each step is applied once (a second
// CREATE TABLE would fail the node), every node opens.
TEST_F(PgStoreTest, NodesStartingAtOnceMigrateOnce) {
  constexpr int kNodes = 6;
  std::latch start(kNodes);
  std::vector<std::future<bool>> opened;
  for (int i = 0; i < kNodes; ++i) {
    opened.push_back(std::async(std::launch::async, [&] {
      start.arrive_and_wait();
      PgOptions opts;
      opts.url = schema_->url();
      opts.pool_size = 1;
      auto r = PgStore::open(opts);
      if (!r.ok()) {
        ADD_FAILURE() << r.error().message;
      }
      return r.ok();
    }));
  }
  for (auto& f : opened) {
    EXPECT_TRUE(f.get());
  }
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM schema_migrations"),
            std::to_string(pg::migrations().size()));
}

TEST_F(PgStoreTest, RejectsBadOptionsAndAnUnreachableServer) {
  auto no_url = PgStore::open(PgOptions{});
  ASSERT_FALSE(no_url.ok());
  EXPECT_EQ(no_url.error().code, ErrorCode::kInvalidRequest);

  PgOptions no_pool;
  no_pool.url = schema_->url();
  no_pool.pool_size = 0;
  EXPECT_EQ(PgStore::open(no_pool).error().code, ErrorCode::kInvalidRequest);

  // Port 1 on loopback: nothing listens there.
  PgOptions down;
  down.url = "postgres://imagegate:secret-password@127.0.0.1:1/imagegate";
  down.connect_timeout_s = 2;
  auto r = PgStore::open(down);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(r.error().message, ::testing::Not(::testing::HasSubstr("secret-password")));
}

// Many threads, a pool of two: never more than two connections, and every call answered.
TEST_F(PgStoreTest, ThePoolNeverOpensMoreThanItsSize) {
  auto store = open(/*pool_size=*/2);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("t", 10)).ok());
  constexpr int kThreads = 8;
  std::atomic<int> failures{0};
  std::atomic<int> most{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int j = 0; j < 40; ++j) {
        if (!store->get_task("t").ok() || !store->healthy()) {
          failures.fetch_add(1);
        }
        int open_now = store->open_connections();
        int seen = most.load();
        while (open_now > seen && !most.compare_exchange_weak(seen, open_now)) {
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(most.load(), 2);
  EXPECT_GE(most.load(), 1);
  EXPECT_LE(server_connections(), 2);
}

// PostgreSQL restarted while the store's connections were idle: the next calls, reads and
// writes, get new connections and succeed.
TEST_F(PgStoreTest, ConnectionsLostWhileIdleAreReplaced) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  auto key = must(store->create_key_in_account(make_key("sk-r", "h-r"), 10 * kCredit));
  core::Task t = make_task("before", 10, key.id);
  t.price = kCredit;
  ASSERT_TRUE(store->insert_task(t).ok());
  ASSERT_GE(server_connections(), 1);

  kill_connections();
  ASSERT_TRUE(wait_until([&] { return server_connections() == 0; }));

  EXPECT_EQ(get(*store, "before")->id, "before");
  t.id = "after";
  EXPECT_TRUE(store->insert_task(t).ok());
  EXPECT_TRUE(store->healthy());
  EXPECT_EQ(must(store->get_account(key.account_id))->balance, 8 * kCredit);
}

// The connection is lost in the middle of a transaction (the write waits on a row lock when
// the server ends its session): the call fails as kUnavailable, nothing of it is applied,
// and retried, it lands once.
TEST_F(PgStoreTest, AWriteCutOffMidTransactionIsRolledBackAndRetryable) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  auto key = must(store->create_key_in_account(make_key("sk-m", "h-m"), 10 * kCredit));
  core::Task t = make_task("paid", 10, key.id);
  t.price = 3 * kCredit;
  ASSERT_TRUE(store->insert_task(t).ok());
  const auto row = claim(*store, "w", 1, 1000, 60'000).at(0).task.row_id;

  RawPg locker(schema_->url());
  // The capture's ledger row waits: its foreign key needs a share lock on the account.
  locker.exec("BEGIN; SELECT 1 FROM accounts FOR UPDATE");
  auto done = outcome(TaskState::kSucceeded, "", 2000, {{"paid/a1-1.png", "image/png", 8, 8}});
  auto completing =
      std::async(std::launch::async, [&] { return store->complete_task(row, 1, done); });
  ASSERT_TRUE(wait_until([&] {
    return schema_->text("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '" +
                         app_name_ + "' AND wait_event_type = 'Lock'") == "1";
  }));
  kill_connections();
  auto r = completing.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  locker.exec("COMMIT");

  // Nothing landed: the task still runs under attempt 1, its hold unsettled.
  auto still = get(*store, "paid");
  EXPECT_EQ(still->state, TaskState::kRunning);
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM ledger WHERE kind IN ('capture', 'refund')"), "0");
  EXPECT_EQ(value_of(store->complete_task(row, 1, done)), Fence::kApplied);
  EXPECT_EQ(value_of(store->complete_task(row, 1, done)), Fence::kFencedOut);
  EXPECT_EQ(get(*store, "paid")->state, TaskState::kSucceeded);
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM ledger WHERE kind = 'capture'"), "1");
  EXPECT_EQ(must(store->get_account(key.account_id))->balance, 7 * kCredit);
}

// Two nodes, creates racing on one metered account: exactly as many as the balance covers are
// accepted, on whichever node, and the balance never goes below zero.
TEST_F(PgStoreTest, TwoNodesNeverOverdrawOneAccount) {
  auto a = open();
  auto b = open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto key = must(a->create_key_in_account(make_key("sk-n", "h-n"), 10 * kCredit));
  constexpr int kCreates = 40;  // 10 credits, 1 each: 10 fit
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  std::latch start(kCreates);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      core::Task t = make_task(task_id(i), 100 + i, key.id);
      t.price = kCredit;
      Store& node = i % 2 == 0 ? static_cast<Store&>(*a) : static_cast<Store&>(*b);
      start.arrive_and_wait();
      auto s = node.insert_task(t);
      if (s.ok()) {
        accepted.fetch_add(1);
      } else if (s.error().code == ErrorCode::kInsufficientCredits) {
        refused.fetch_add(1);
      } else {
        other.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(accepted.load(), 10);
  EXPECT_EQ(refused.load(), kCreates - 10);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(must(b->get_account(key.account_id))->balance, 0);
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM tasks"), "10");
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM ledger WHERE kind = 'hold'"), "10");
}

// The active-task limit across nodes: creates racing on two stores never exceed it.
TEST_F(PgStoreTest, TwoNodesKeepTheActiveTaskLimit) {
  auto a = open();
  auto b = open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ApiKey k = make_key("sk-act", "h-act");
  k.limits.max_active = 3;
  auto key = must(a->create_key_in_account(k, std::nullopt));
  constexpr int kCreates = 20;
  std::atomic<int> accepted{0};
  std::latch start(kCreates);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCreates; ++i) {
    threads.emplace_back([&, i] {
      Store& node = i % 2 == 0 ? static_cast<Store&>(*a) : static_cast<Store&>(*b);
      start.arrive_and_wait();
      if (node.insert_task(make_task(task_id(i), 100 + i, key.id)).ok()) {
        accepted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(accepted.load(), 3);
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM tasks"), "3");
}

// A key's requests-per-minute bucket: starts full, gives at most what it holds, refills at
// rpm a minute, says when the next token is there, and takes a changed rpm at once.
TEST_F(PgStoreTest, RateBucketsGiveWhatTheyHoldAndRefillAtTheirRate) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->shared_by_nodes());
  const std::int64_t t0 = 1'700'000'000'000;
  // 60 a minute: a full bucket of 60; a take of 50, then 10 of the 20 asked, then none.
  EXPECT_EQ(must(store->take_rate_tokens(7, 60, 50, t0)).granted, 50);
  EXPECT_EQ(must(store->take_rate_tokens(7, 60, 20, t0)).granted, 10);
  RateGrant none = must(store->take_rate_tokens(7, 60, 1, t0));
  EXPECT_EQ(none.granted, 0);
  EXPECT_EQ(none.retry_after_ms, 1000);  // one token a second
  // 400 ms later: 0.4 of a token, so 600 ms to wait; at 1 s one token, and only one.
  none = must(store->take_rate_tokens(7, 60, 1, t0 + 400));
  EXPECT_EQ(none.granted, 0);
  EXPECT_EQ(none.retry_after_ms, 600);
  EXPECT_EQ(must(store->take_rate_tokens(7, 60, 5, t0 + 1000)).granted, 1);
  // A clock behind the last take refills nothing.
  EXPECT_EQ(must(store->take_rate_tokens(7, 60, 1, t0 + 500)).granted, 0);
  // Another key has a bucket of its own.
  EXPECT_EQ(must(store->take_rate_tokens(8, 3, 5, t0)).granted, 3);
  EXPECT_EQ(must(store->take_rate_tokens(8, 3, 1, t0)).retry_after_ms, 20'000);
  // An hour idle fills a bucket, never beyond its size.
  EXPECT_EQ(must(store->take_rate_tokens(7, 60, 100, t0 + 3'600'000)).granted, 60);
  // A lower rpm clamps what is held: 60 a minute full, then 2 a minute holds 2.
  EXPECT_EQ(must(store->take_rate_tokens(9, 60, 1, t0)).granted, 1);
  EXPECT_EQ(must(store->take_rate_tokens(9, 2, 10, t0)).granted, 2);
  // Bad arguments are refused, not stored.
  EXPECT_EQ(store->take_rate_tokens(10, 0, 1, t0).error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(store->take_rate_tokens(10, 5, 0, t0).error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM rate_buckets WHERE key_id = 10"), "0");
}

// Two nodes taking from one bucket at once, one token at a time: exactly the bucket's size is
// granted, never a token twice.
TEST_F(PgStoreTest, TwoNodesNeverShareARateToken) {
  auto a = open(4);
  auto b = open(4);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kThreads = 8;
  constexpr int kTakesEach = 40;
  const std::int64_t now = 1'700'000'000'000;
  std::atomic<int> granted{0};
  std::atomic<int> failed{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      Store& node = i % 2 == 0 ? static_cast<Store&>(*a) : static_cast<Store&>(*b);
      start.arrive_and_wait();
      for (int n = 0; n < kTakesEach; ++n) {
        auto r = node.take_rate_tokens(42, 100, 1 + n % 3, now);
        if (!r.ok()) {
          failed.fetch_add(1);
        } else {
          granted.fetch_add(r->granted);
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(granted.load(), 100);
}

// Two nodes claiming from one queue, with their leases: no task is claimed twice, and the
// outbox rows of tasks ended with a callback are each leased by one sender.
TEST_F(PgStoreTest, TwoNodesNeverClaimTheSameTaskOrCallback) {
  auto a = open();
  auto b = open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kTasks = 120;
  for (int i = 0; i < kTasks; ++i) {
    core::Task t = make_task(task_id(i), i);
    t.request.callback_url = "https://example.com/hook";
    ASSERT_TRUE(a->insert_task(t).ok());
  }
  std::vector<std::vector<Claim>> got(4);
  std::latch start(4);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      Store& node = w % 2 == 0 ? static_cast<Store&>(*a) : static_cast<Store&>(*b);
      start.arrive_and_wait();
      for (;;) {
        auto claims = claim(node, "w" + std::to_string(w), 5, 1000, 60'000);
        if (claims.empty()) {
          return;
        }
        for (const auto& c : claims) {
          EXPECT_EQ(value_of(node.complete_task(c.task.row_id, c.task.attempt,
                                                outcome(TaskState::kSucceeded, "", 2000))),
                    Fence::kApplied);
        }
        got[static_cast<std::size_t>(w)].insert(got[static_cast<std::size_t>(w)].end(),
                                                claims.begin(), claims.end());
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  std::set<std::string> ids;
  std::size_t total = 0;
  for (const auto& claims : got) {
    for (const auto& c : claims) {
      ids.insert(c.task.id);
      ++total;
    }
  }
  EXPECT_EQ(total, static_cast<std::size_t>(kTasks));
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kTasks));

  constexpr std::int64_t kFar = 4'000'000'000'000;
  std::vector<std::future<std::vector<CallbackDelivery>>> senders;
  std::latch go(2);
  for (Store* node : {static_cast<Store*>(a.get()), static_cast<Store*>(b.get())}) {
    senders.push_back(std::async(std::launch::async, [&, node] {
      std::vector<CallbackDelivery> mine;
      go.arrive_and_wait();
      for (;;) {
        auto batch = must(node->claim_callbacks(7, kFar, kFar + 60'000));
        if (batch.empty()) {
          return mine;
        }
        mine.insert(mine.end(), batch.begin(), batch.end());
      }
    }));
  }
  std::set<std::int64_t> delivered;
  std::size_t leased = 0;
  for (auto& s : senders) {
    for (const auto& d : s.get()) {
      delivered.insert(d.id);
      ++leased;
    }
  }
  EXPECT_EQ(leased, static_cast<std::size_t>(kTasks));
  EXPECT_EQ(delivered.size(), static_cast<std::size_t>(kTasks));
}

// Text that would be SQL if it were spliced in is stored and found as the text it is.
TEST_F(PgStoreTest, UserTextIsNeverSql) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  const std::string evil = "x'); DROP TABLE tasks; --";
  ApiKey k = make_key("sk-'q", "h'); DELETE FROM api_keys; --");
  k.name = evil;
  auto key = must(store->create_key_in_account(k, std::nullopt));
  EXPECT_EQ(found(store->find_key_by_hash("h'); DELETE FROM api_keys; --"))->name, evil);
  EXPECT_EQ(must(store->list_keys_page("'; --", 0, 10)).total, 0);
  EXPECT_EQ(must(store->list_keys_page("x')", 0, 10)).total, 1);
  core::Task t = make_task(evil, 10, key.id);
  t.request.prompt = evil;
  ASSERT_TRUE(store->insert_task(t).ok());
  EXPECT_EQ(get(*store, evil)->request.prompt, evil);
  EXPECT_EQ(store->count_keys(), 1);
  EXPECT_EQ(store->count_tasks_by_state()[TaskState::kQueued], 1);
}

// The asynchronous writes complete on the store's threads, in the order of their effects.
TEST_F(PgStoreTest, AsynchronousWritesComplete) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  std::promise<core::Result<core::Ok>> inserted;
  store->insert_task_async(make_task("async", 10),
                           [&](core::Result<core::Ok> r) { inserted.set_value(std::move(r)); });
  ASSERT_TRUE(inserted.get_future().get().ok());
  std::promise<core::Result<Claim>> claimed;
  store->insert_claimed_task_async(make_task("async-claimed", 20), "me", 60'000,
                                   [&](core::Result<Claim> r) { claimed.set_value(std::move(r)); });
  auto c = claimed.get_future().get();
  ASSERT_TRUE(c.ok());
  std::promise<core::Result<Fence>> completed;
  store->complete_task_async(c->task.row_id, 1, outcome(TaskState::kFailed, "x", 30),
                             [&](core::Result<Fence> r) { completed.set_value(std::move(r)); });
  EXPECT_EQ(value_of(completed.get_future().get()), Fence::kApplied);
  EXPECT_EQ(get(*store, "async-claimed")->state, TaskState::kFailed);
  EXPECT_EQ(get(*store, "async")->state, TaskState::kQueued);
}

TEST_F(PgStoreTest, AClaimReadsNoTaskItDoesNotTake) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  // 2,000 finished tasks, 2,000 running under leases that hold, 3 queued: a claim takes the
  // 3. (One query ordered by created_ms over both states walked tasks_by_created through the
  // 4,000 older tasks.)
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, attempt, created_ms, updated_ms, "
      "lease_owner, lease_until_ms) SELECT 'done' || i, 'jobs', '{}', 'succeeded', 1, i, 1, "
      "NULL, 0 FROM generate_series(1, 2000) i");
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, attempt, created_ms, updated_ms, "
      "lease_owner, lease_until_ms) SELECT 'run' || i, 'jobs', '{}', 'running', 1, 2000 + i, "
      "1, 'other', 1000000 FROM generate_series(1, 2000) i");
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) "
      "SELECT 'queued' || i, 'jobs', '{}', 'queued', 5000 + i, 1 FROM generate_series(1, 3) i");
  schema_->exec("ANALYZE tasks");
  schema_->exec(std::string("PREPARE claim (text, bigint, bigint, bigint, bigint) AS ") +
                pg::sql::kClaimTasks);
  schema_->exec(std::string("PREPARE exhaust (text, bigint, bigint, bigint) AS ") +
                pg::sql::kExhaustTasks);

  const auto rows_read = [&](const std::string& execute) {
    const std::string plan = schema_->text("EXPLAIN (ANALYZE, FORMAT JSON) " + execute);
    boost::system::error_code ec;
    const auto json = boost::json::parse(plan, ec);
    EXPECT_FALSE(ec) << plan;
    return ec ? std::int64_t{-1} : tasks_rows_read(json, /*under_cte=*/true);
  };
  const std::int64_t exhaust = rows_read("EXECUTE exhaust('too_many_attempts', 10000, 64, 3)");
  EXPECT_GE(exhaust, 3);  // the three queued are read
  EXPECT_LE(exhaust, 10);
  const std::int64_t claim = rows_read("EXECUTE claim('node', 70000, 10000, 64, 3)");
  EXPECT_GE(claim, 3);
  EXPECT_LE(claim, 10);
  EXPECT_EQ(schema_->text("SELECT string_agg(id, ' ' ORDER BY created_ms) FROM tasks "
                          "WHERE lease_owner = 'node'"),
            "queued1 queued2 queued3");
}

// The schema as a binary of migration `version` left it.
void make_schema_at(PgSchema& schema, int version) {
  schema.exec(
      "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)");
  for (const auto& m : pg::migrations()) {
    if (m.version > version) {
      break;
    }
    schema.exec(std::string(m.sql));
    schema.exec("INSERT INTO schema_migrations VALUES (" + std::to_string(m.version) + ", 1)");
  }
}

TEST_F(PgStoreTest, MigrationTenCountsTheTasksAlreadyThere) {
  make_schema_at(*schema_, 9);
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) "
      "SELECT 'done' || i, 'jobs', '{}', CASE WHEN i % 3 = 0 THEN 'failed' ELSE 'succeeded' END,"
      " i, 1 FROM generate_series(1, 30) i");
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) "
      "VALUES ('q', 'jobs', '{}', 'queued', 1, 1), ('c', 'jobs', '{}', 'cancelled', 1, 1)");
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(counts_text(store->count_tasks_by_state()),
            "queued=1 running=0 succeeded=20 failed=10 cancelled=1");
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM task_count_deltas"), "0");
}

TEST_F(PgStoreTest, MigrationTenCountsATaskAnOlderNodeFinishesMeanwhile) {
  // A node of the older binary finishes a task in a transaction still open when a new node
  // migrates. (Counted before its commit and with the triggers made after it, the task would
  // be in neither: the migration locks tasks first.)
  make_schema_at(*schema_, 9);
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, attempt, created_ms, updated_ms) "
      "VALUES ('r', 'jobs', '{}', 'running', 1, 1, 1)");
  RawPg older(schema_->url());
  older.exec("BEGIN");
  older.exec("UPDATE tasks SET state = 'succeeded', completed_ms = 5 WHERE id = 'r'");
  auto opened = std::async(std::launch::async, [&] { return open(); });
  const std::string waiting =
      "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '" + app_name_ +
      "' AND wait_event_type = 'Lock'";
  for (int i = 0; i < 200 && schema_->text(waiting) != "1"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(schema_->text(waiting), "1");
  older.exec("COMMIT");
  auto store = opened.get();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(counts_text(store->count_tasks_by_state()),
            "queued=0 running=0 succeeded=1 failed=0 cancelled=0");
}

TEST_F(PgStoreTest, TheCountsFollowEveryWriteToTasksAndAFoldChangesNone) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  // Whatever writes: inserts of many rows at once, updates that change some states and leave
  // others, finished to finished and back in flight, one that changes no state, a delete, a
  // rolled-back change.
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, attempt, created_ms, updated_ms, "
      "lease_owner, lease_until_ms) SELECT 'run-' || i, 'jobs', '{}', 'running', 1, i, 1, "
      "'other', 1000 FROM generate_series(0, 49) i");
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) "
      "VALUES ('q1', 'jobs', '{}', 'queued', 1, 1), ('q2', 'jobs', '{}', 'queued', 1, 1)");
  schema_->exec("UPDATE tasks SET state = 'succeeded' WHERE id LIKE 'run-1%'");  // 11
  schema_->exec("UPDATE tasks SET state = 'failed' WHERE id IN ('run-2', 'q1')");
  schema_->exec("UPDATE tasks SET lease_until_ms = 5, state = state WHERE state = 'running'");
  schema_->exec("DELETE FROM tasks WHERE id IN ('run-4', 'q2', 'run-10')");
  schema_->exec("UPDATE tasks SET state = 'cancelled' WHERE id = 'run-11'");
  schema_->exec("UPDATE tasks SET state = 'queued' WHERE id = 'run-12'");
  schema_->exec("BEGIN; UPDATE tasks SET state = 'cancelled'; ROLLBACK");
  const std::string counts = counts_text(store->count_tasks_by_state());
  EXPECT_EQ(counts, schema_->text(kCountsOfTheTasksTable));
  EXPECT_EQ(counts, "queued=1 running=37 succeeded=8 failed=2 cancelled=1");
  EXPECT_NE(schema_->text("SELECT COUNT(*) FROM task_count_deltas"), "0");

  store->fold_task_counts();
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM task_count_deltas"), "0");
  EXPECT_EQ(counts_text(store->count_tasks_by_state()), schema_->text(kCountsOfTheTasksTable));
  // A fold with another one in progress (its lock held) leaves the deltas to it.
  schema_->exec("UPDATE tasks SET state = 'failed' WHERE id = 'run-3'");
  RawPg other(schema_->url());
  other.exec("BEGIN");
  other.text(pg::sql::kLockTaskCountFold);
  store->fold_task_counts();
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM task_count_deltas"), "1");
  other.exec("ROLLBACK");
  EXPECT_EQ(counts_text(store->count_tasks_by_state()), schema_->text(kCountsOfTheTasksTable));
}

// `n` tasks in `state` (attempt 1), by SQL; their row ids.
std::vector<std::int64_t> insert_tasks(PgSchema& schema, int n, const std::string& state) {
  schema.exec(
      "INSERT INTO tasks (id, dialect, request_json, state, attempt, created_ms, updated_ms) "
      "SELECT '" + state + "-' || i, 'jobs', '{}', '" + state + "', 1, i, 1 "
      "FROM generate_series(1, " + std::to_string(n) + ") i");
  std::istringstream in(schema.text("SELECT string_agg(row_id::text, ' ' ORDER BY row_id) "
                                    "FROM tasks WHERE state = '" + state + "'"));
  std::vector<std::int64_t> rows;
  for (std::int64_t row = 0; in >> row;) {
    rows.push_back(row);
  }
  return rows;
}

TEST_F(PgStoreTest, TheStoreFoldsTheCountsAsItFinishesTasks) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  constexpr auto kTasks = static_cast<int>(PgStore::kFoldEvery);
  for (std::int64_t row : insert_tasks(*schema_, kTasks, "queued")) {
    ASSERT_EQ(value_of(store->cancel_task(row, 10)), true);
  }
  // The last cancel posted a fold to the store's threads, which run every job posted before
  // the store is gone.
  store.reset();
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM task_count_deltas"), "0");
  EXPECT_EQ(schema_->text("SELECT n FROM task_counts WHERE state = 'cancelled'"),
            std::to_string(kTasks));
}

TEST_F(PgStoreTest, AStoreDestroyedWithFinishesQueuedRunsThemAndTheNextOneFoldsThem) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  constexpr auto kTasks = static_cast<int>(PgStore::kFoldEvery);
  std::atomic<int> applied{0};
  for (std::int64_t row : insert_tasks(*schema_, kTasks, "running")) {
    store->complete_task_async(row, 1, outcome(TaskState::kSucceeded, "", 150),
                               [&applied](core::Result<Fence> r) {
                                 if (r.ok() && *r == Fence::kApplied) {
                                   ++applied;
                                 }
                               });
  }
  // Most of the finishes, the kFoldEvery-th among them, run while the store is destroyed: they
  // post no fold then (its threads are going), and the next store to open folds their deltas.
  store.reset();
  EXPECT_EQ(applied.load(), kTasks);
  auto next = open();
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(schema_->text("SELECT COUNT(*) FROM task_count_deltas"), "0");
  EXPECT_EQ(counts_text(next->count_tasks_by_state()),
            "queued=0 running=0 succeeded=" + std::to_string(kTasks) + " failed=0 cancelled=0");
}

TEST_F(PgStoreTest, ACountReadsNoFinishedTask) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) "
      "SELECT 'done' || i, 'jobs', '{}', 'succeeded', i, 1 FROM generate_series(1, 2000) i");
  schema_->exec(
      "INSERT INTO tasks (id, dialect, request_json, state, created_ms, updated_ms) "
      "SELECT 'queued' || i, 'jobs', '{}', 'queued', 5000 + i, 1 FROM generate_series(1, 3) i");
  store->fold_task_counts();
  schema_->exec("ANALYZE tasks");
  // Rows read from tasks: the 3 queued, none of the 2,000 finished. (GROUP BY state read all.)
  const std::string plan =
      schema_->text(std::string("EXPLAIN (ANALYZE, FORMAT JSON) ") + pg::sql::kCountByState);
  boost::system::error_code ec;
  const auto json = boost::json::parse(plan, ec);
  ASSERT_FALSE(ec) << plan;
  const std::int64_t read = tasks_rows_read(json, /*under_cte=*/false);
  EXPECT_GE(read, 3);
  EXPECT_LE(read, 10) << plan;
  EXPECT_EQ(store->count_tasks_by_state()[TaskState::kSucceeded], 2000);
}

}  // namespace
}  // namespace ig::store::testing
