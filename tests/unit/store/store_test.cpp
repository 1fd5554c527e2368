#include "store/sqlite/sqlite_store.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/pg/migrations.hpp"
#include "store/sqlite/migrations.hpp"
#include "unit/store/store_test_util.hpp"

namespace ig::store {
namespace {

using testing::claim;
using testing::counts_text;
using ::testing::ElementsAre;
using testing::found;
using testing::get;
using testing::ids_of;
using testing::kCountsOfTheTasksTable;
using ::testing::IsEmpty;
using testing::make_key;
using testing::make_task;
using testing::must;
using testing::outcome;
using testing::RawDb;
using testing::value_of;
using StoreTest = testing::StoreTest;
using SqliteStoreTest = testing::SqliteStoreTest;
using core::ErrorCode;
using core::TaskState;

void expect_same_request(const core::GenerationRequest& a, const core::GenerationRequest& b) {
  EXPECT_EQ(a.dialect, b.dialect);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.prompt, b.prompt);
  EXPECT_EQ(a.input_urls, b.input_urls);
  EXPECT_EQ(a.mask_url, b.mask_url);
  EXPECT_EQ(a.aspect_ratio, b.aspect_ratio);
  EXPECT_EQ(a.tier, b.tier);
  EXPECT_EQ(a.quality, b.quality);
  EXPECT_EQ(a.output_format, b.output_format);
  EXPECT_EQ(a.n, b.n);
  EXPECT_EQ(a.size, b.size);
  EXPECT_EQ(a.callback_url, b.callback_url);
}

void expect_same_results(const std::vector<core::ResultObject>& a,
                         const std::vector<core::ResultObject>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key, b[i].key);
    EXPECT_EQ(a[i].content_type, b[i].content_type);
    EXPECT_EQ(a[i].width, b[i].width);
    EXPECT_EQ(a[i].height, b[i].height);
  }
}

// --- open and migrations

TEST_F(SqliteStoreTest, OpenAppliesEveryMigrationOnceAndUsesWal) {
  const auto known = static_cast<std::int64_t>(detail::migrations().size());
  ASSERT_GE(known, 1);
  ASSERT_NE(open_store(), nullptr);
  RawDb raw(db_path());
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM schema_migrations"), known);
  EXPECT_EQ(raw.integer("SELECT MAX(version) FROM schema_migrations"), known);
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM sqlite_schema WHERE name IN "
                        "('api_keys', 'tasks', 'tasks_claim', 'tasks_by_key')"),
            4);
  const std::string applied = raw.text("SELECT group_concat(applied_ms) FROM schema_migrations");

  ASSERT_NE(open_store(), nullptr);  // reopen: nothing to apply
  EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM schema_migrations"), known);
  EXPECT_EQ(raw.text("SELECT group_concat(applied_ms) FROM schema_migrations"), applied);
}

TEST_P(StoreTest, RefusesDatabaseWithNewerSchema) {
  ASSERT_NE(open_store(), nullptr);
  // Each store's own latest version (PostgreSQL has steps of its own past SQLite's).
  const auto newer =
      (is_sqlite() ? detail::migrations().size() : pg::migrations().size()) + 1;
  sql_exec("INSERT INTO schema_migrations VALUES (" + std::to_string(newer) + ", 0)");
  auto r = try_open_store();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, ::testing::HasSubstr("newer"));
}

// One process serves an embedded store: it counts requests per minute in memory and the
// store keeps no buckets (api::KeyGate never asks it).
TEST_F(SqliteStoreTest, KeepsNoSharedRateBuckets) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->shared_by_nodes());
  auto r = store->take_rate_tokens(1, 60, 1, 1'700'000'000'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::ErrorCode::kInternal);
}

TEST_F(SqliteStoreTest, RejectsBadOptions) {
  auto bad_sync = SqliteStore::open(SqliteOptions{.path = db_path(), .synchronous = "OFF"});
  ASSERT_FALSE(bad_sync.ok());
  EXPECT_EQ(bad_sync.error().code, ErrorCode::kInvalidRequest);

  auto no_dir = SqliteStore::open(SqliteOptions{.path = dir_.path() / "missing" / "x.db"});
  EXPECT_FALSE(no_dir.ok());

  SqliteOptions normal;
  normal.synchronous = "normal";
  EXPECT_NE(open_sqlite(normal), nullptr);
}

// --- keys

TEST_P(StoreTest, KeysAreFoundByHashAndPrefix) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->count_keys(), 0);
  auto created = store->create_key(ApiKey{.name = "ops",
                                          .prefix = "sk-AbC1",
                                          .secret_hash = std::string(64, 'a'),
                                          .disabled = true,
                                          .account_id = 0,
                                          .limits = {},
                                          .created_ms = 1'700'000'000'000});
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_GT(created->id, 0);

  auto by_hash = found(store->find_key_by_hash(std::string(64, 'a')));
  ASSERT_TRUE(by_hash.has_value());
  EXPECT_EQ(by_hash->id, created->id);
  EXPECT_EQ(by_hash->name, "ops");
  EXPECT_EQ(by_hash->prefix, "sk-AbC1");
  EXPECT_TRUE(by_hash->disabled);
  EXPECT_GT(by_hash->account_id, 0);  // an account of its own
  EXPECT_EQ(by_hash->created_ms, 1'700'000'000'000);

  auto by_prefix = found(store->find_key_by_prefix("sk-AbC1"));
  ASSERT_TRUE(by_prefix.has_value());
  EXPECT_EQ(by_prefix->secret_hash, std::string(64, 'a'));

  EXPECT_FALSE(found(store->find_key_by_hash(std::string(64, 'b'))).has_value());
  EXPECT_FALSE(found(store->find_key_by_prefix("sk-Zzz")).has_value());
  EXPECT_FALSE(found(store->find_key_by_prefix("")).has_value());
  EXPECT_EQ(store->count_keys(), 1);
}

TEST_P(StoreTest, DuplicateKeyPrefixOrHashIsAConflict) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->create_key(make_key("sk-1", "h1")).ok());

  auto same_prefix = store->create_key(make_key("sk-1", "h2"));
  ASSERT_FALSE(same_prefix.ok());
  EXPECT_EQ(same_prefix.error().code, ErrorCode::kConflict);

  auto same_hash = store->create_key(make_key("sk-2", "h1"));
  ASSERT_FALSE(same_hash.ok());
  EXPECT_EQ(same_hash.error().code, ErrorCode::kConflict);

  // Keys without a prefix do not collide with each other.
  EXPECT_TRUE(store->create_key(make_key("", "h3")).ok());
  EXPECT_TRUE(store->create_key(make_key("", "h4")).ok());
  EXPECT_FALSE(store->create_key(make_key("sk-5", "")).ok());  // no hash
  EXPECT_EQ(store->count_keys(), 3);
  EXPECT_EQ(found(store->find_key_by_hash("h2")), std::nullopt);
}

// --- tasks

TEST_P(StoreTest, TaskRoundTripKeepsEveryField) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto key = store->create_key(make_key("sk-a", "ha"));
  ASSERT_TRUE(key.ok());

  core::Task t;
  t.id = "task-unified-1700000000-abcdefgh";
  t.key_id = key->id;
  core::GenerationRequest& r = t.request;
  r.dialect = core::Dialect::kUnified;
  r.model = "gpt-image-2";
  r.mode = core::Mode::kImageToImage;
  r.prompt = "a \"quoted\" 猫\nacross lines";
  r.input_urls = {"https://a.example/1.png", "https://b.example/2.jpg?x=1&y=2"};
  r.mask_url = "https://a.example/mask.png";
  r.aspect_ratio = "16:9";
  r.tier = core::Tier::k2K;
  r.quality = "high";
  r.output_format = "webp";
  r.n = 3;
  r.size = {2048, 1152};
  r.callback_url = "https://hooks.example/cb";
  t.param = R"({"model":"gpt-image-2","prompt":"a \"quoted\" 猫"})";
  t.created_ms = 1'700'000'000'123;
  ASSERT_TRUE(store->insert_task(t).ok());

  auto got = get(*store, t.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_GT(got->row_id, 0);
  EXPECT_EQ(got->id, t.id);
  EXPECT_EQ(got->key_id, key->id);
  expect_same_request(got->request, r);
  EXPECT_EQ(got->param, t.param);
  EXPECT_EQ(got->state, TaskState::kQueued);
  EXPECT_EQ(got->attempt, 0);
  EXPECT_EQ(got->created_ms, t.created_ms);
  EXPECT_EQ(got->started_ms, 0);
  EXPECT_EQ(got->completed_ms, 0);
  EXPECT_TRUE(got->results.empty());

  // The lifecycle fields come from claim and complete.
  auto claims = claim(*store, "w1", 1, 1'700'000'001'000, 1'700'000'061'000);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].task.row_id, got->row_id);
  EXPECT_EQ(claims[0].lease_until_ms, 1'700'000'061'000);
  expect_same_request(claims[0].task.request, r);
  EXPECT_EQ(claims[0].task.param, t.param);

  core::TaskOutcome out;
  out.state = TaskState::kSucceeded;
  out.results = {{"task-unified-1700000000-abcdefgh/1.webp", "image/webp", 2048, 1152},
                 {"task-unified-1700000000-abcdefgh/2.webp", "image/webp", 2048, 1152}};
  out.completed_ms = 1'700'000'042'000;
  ASSERT_EQ(value_of(store->complete_task(got->row_id, 1, out)), Fence::kApplied);

  got = get(*store, t.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->state, TaskState::kSucceeded);
  EXPECT_EQ(got->attempt, 1);
  EXPECT_EQ(got->started_ms, 1'700'000'001'000);
  EXPECT_EQ(got->completed_ms, 1'700'000'042'000);
  EXPECT_EQ(got->fail_code, "");
  expect_same_results(got->results, out.results);
  expect_same_request(got->request, r);
}

TEST_P(StoreTest, FailedOutcomeKeepsCodeAndMessage) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("t1", 10)).ok());
  auto claims = claim(*store, "w", 1, 100, 1000);
  ASSERT_EQ(claims.size(), 1u);
  auto failed = outcome(TaskState::kFailed, "content_policy_violation", 200);
  failed.fail_msg = "the prompt was refused";
  ASSERT_EQ(value_of(store->complete_task(claims[0].task.row_id, 1, failed)), Fence::kApplied);
  auto got = get(*store, "t1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->state, TaskState::kFailed);
  EXPECT_EQ(got->fail_code, "content_policy_violation");
  EXPECT_EQ(got->fail_msg, "the prompt was refused");
  EXPECT_EQ(got->completed_ms, 200);
  EXPECT_TRUE(got->results.empty());
}

TEST_P(StoreTest, UnknownTaskIsAbsent) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(get(*store, "nope"), std::nullopt);
}

TEST_P(StoreTest, DuplicateTaskIdIsAConflictAndKeepsTheFirst) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("same", 10)).ok());
  auto second = make_task("same", 20);
  second.request.prompt = "something else";
  auto s = store->insert_task(second);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kConflict);
  EXPECT_EQ(get(*store, "same")->request.prompt, "a lighthouse at dusk");
  EXPECT_EQ(get(*store, "same")->created_ms, 10);
}

TEST_P(StoreTest, TaskOfUnknownKeyIsRefused) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto s = store->insert_task(make_task("t", 10, /*key_id=*/4242));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInternal);                  // foreign_keys is on
  EXPECT_EQ(s.error().message.find("FOREIGN"), std::string::npos);  // no SQL text
  EXPECT_EQ(get(*store, "t"), std::nullopt);
}

// --- claims, leases, fencing

TEST_P(StoreTest, ClaimTakesOldestFirstUpToMax) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  // Inserted out of order; b and d share a created_ms, so insertion (row_id) decides.
  for (auto [id, created] : std::vector<std::pair<std::string, int>>{
           {"a", 30}, {"b", 10}, {"c", 20}, {"d", 10}, {"e", 40}}) {
    ASSERT_TRUE(store->insert_task(make_task(id, created)).ok());
  }
  auto first = claim(*store, "w1", 3, 100, 1000);
  EXPECT_THAT(ids_of(first), ElementsAre("b", "d", "c"));
  for (const auto& c : first) {
    EXPECT_EQ(c.task.state, TaskState::kRunning);
    EXPECT_EQ(c.task.attempt, 1);
    EXPECT_EQ(c.task.started_ms, 100);
    EXPECT_EQ(c.lease_until_ms, 1000);
  }
  EXPECT_THAT(ids_of(claim(*store, "w2", 10, 200, 1000)), ElementsAre("a", "e"));
  EXPECT_THAT(claim(*store, "w3", 10, 300, 1000), IsEmpty());  // all leased
  EXPECT_THAT(claim(*store, "w3", 0, 300, 1000), IsEmpty());

  // A finished task is never claimed again, even after its lease time.
  ASSERT_EQ(value_of(store->complete_task(first[0].task.row_id, 1,
                                          outcome(TaskState::kSucceeded, "", 400))),
            Fence::kApplied);
  EXPECT_THAT(ids_of(claim(*store, "w4", 10, 5000, 9000)), ElementsAre("d", "c", "a", "e"));
}

// A claimer reads its clock, then claims; a task committed in between is newer than that
// time. Its start is its creation then, never before it (the timeline of the admin's task
// page showed "claimed" above "created").
TEST_P(StoreTest, AClaimNeverStartsATaskBeforeItWasCreated) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("early", 50)).ok());
  ASSERT_TRUE(store->insert_task(make_task("late", 130)).ok());
  auto claims = claim(*store, "w", 10, 100, 1000);
  ASSERT_THAT(ids_of(claims), ElementsAre("early", "late"));
  EXPECT_EQ(claims[0].task.started_ms, 100);
  EXPECT_EQ(claims[1].task.started_ms, 130);
  EXPECT_EQ(get(*store, "late")->started_ms, 130);
}

TEST_P(StoreTest, ATaskInsertedClaimedRunsUnderItsCreatorsLease) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto c = store->insert_claimed_task(make_task("x", 100), "creator", 2000);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_GT(c->task.row_id, 0);
  EXPECT_EQ(c->task.state, TaskState::kRunning);
  EXPECT_EQ(c->task.attempt, 1);
  EXPECT_EQ(c->task.started_ms, 100);
  EXPECT_EQ(c->lease_until_ms, 2000);
  auto got = get(*store, "x");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->row_id, c->task.row_id);
  EXPECT_EQ(got->state, TaskState::kRunning);
  EXPECT_EQ(got->attempt, 1);
  EXPECT_EQ(got->started_ms, 100);

  // Nobody else claims it while the lease holds; after it, the next claim is attempt 2 and
  // the creator is fenced out.
  EXPECT_THAT(claim(*store, "other", 5, 1500, 9000), IsEmpty());
  auto again = claim(*store, "other", 5, 2001, 9000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].task.attempt, 2);
  EXPECT_EQ(again[0].task.started_ms, 100);
  EXPECT_EQ(
      value_of(store->complete_task(c->task.row_id, 1, outcome(TaskState::kSucceeded, "", 2500))),
      Fence::kFencedOut);

  // The same id again is a conflict and changes nothing.
  auto dup = store->insert_claimed_task(make_task("x", 200), "creator", 3000);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kConflict);
  EXPECT_EQ(get(*store, "x")->attempt, 2);
}

TEST_P(StoreTest, ATaskInsertedClaimedCompletesUnderAttemptOne) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto c = store->insert_claimed_task(make_task("y", 100), "creator", 2000);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(value_of(store->renew_lease(c->task.row_id, 1, 4000)), Fence::kApplied);
  EXPECT_EQ(
      value_of(store->complete_task(c->task.row_id, 1, outcome(TaskState::kSucceeded, "", 3000))),
      Fence::kApplied);
  EXPECT_EQ(get(*store, "y")->state, TaskState::kSucceeded);
  EXPECT_THAT(claim(*store, "other", 5, 9000, 9999), IsEmpty());
}

TEST_P(StoreTest, ExpiredLeaseIsReclaimedWithTheNextAttempt) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  ASSERT_EQ(claim(*store, "w1", 1, 1000, 2000).size(), 1u);
  EXPECT_THAT(claim(*store, "w2", 1, 2000, 6000), IsEmpty());  // lease ends at 2000

  auto again = claim(*store, "w2", 1, 2001, 6000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].task.attempt, 2);
  EXPECT_EQ(again[0].task.started_ms, 1000);  // the first claim's time stays
  EXPECT_EQ(again[0].lease_until_ms, 6000);
  EXPECT_EQ(get(*store, "x")->attempt, 2);
}

TEST_P(StoreTest, RunsWhoseLeaseEndedAreTakenInTheOrderTheirLeasesEnded) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  for (const auto& [id, created] : {std::pair{"a", 10}, {"b", 20}, {"c", 30}}) {
    ASSERT_TRUE(store->insert_task(make_task(id, created)).ok());
  }
  // Each claimed alone: a's lease ends last, b's first.
  ASSERT_EQ(claim(*store, "w1", 1, 1000, 5000)[0].task.id, "a");
  ASSERT_EQ(claim(*store, "w1", 1, 1000, 3000)[0].task.id, "b");
  ASSERT_EQ(claim(*store, "w1", 1, 1000, 4000)[0].task.id, "c");

  // All three leases have ended: the two that ended first are taken, oldest first.
  auto two = claim(*store, "w2", 2, 6000, 9000);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0].task.id, "b");
  EXPECT_EQ(two[1].task.id, "c");

  // A queued task older than a is taken before it; then a.
  ASSERT_TRUE(store->insert_task(make_task("d", 5)).ok());
  auto next = claim(*store, "w2", 1, 6001, 9000);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].task.id, "d");
  next = claim(*store, "w2", 1, 6002, 9000);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].task.id, "a");
  EXPECT_EQ(next[0].task.attempt, 2);
}

TEST_P(StoreTest, LeasesAreRenewedInBatchesAndTheLostOnesAreNamed) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  constexpr int kTasks = 600;  // more than one batch
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(store->insert_task(make_task("t" + std::to_string(i), 10 + i)).ok());
  }
  auto mine = claim(*store, "w1", kTasks, 1000, 2000);
  ASSERT_EQ(mine.size(), static_cast<std::size_t>(kTasks));
  // w1's lease lapses; w2 takes the three oldest over, and w1 finishes one other.
  auto taken = claim(*store, "w2", 3, 3000, 9000);
  ASSERT_EQ(taken.size(), 3u);
  ASSERT_EQ(value_of(store->complete_task(mine[500].task.row_id, 1,
                                          outcome(TaskState::kSucceeded, "", 3100))),
            Fence::kApplied);

  std::vector<RunRef> held;
  for (const auto& c : mine) {
    held.push_back({c.task.row_id, c.task.attempt});
  }
  auto lost = must(store->renew_leases(held, 50'000));
  std::vector<RunRef> expected = {held[0], held[1], held[2], held[500]};
  EXPECT_EQ(lost, expected);
  // The others run until 50,000 now: before that only w2's three (leases ended at 9000) can
  // be claimed.
  EXPECT_EQ(claim(*store, "w3", kTasks, 40'000, 99'000).size(), 3u);
  EXPECT_EQ(claim(*store, "w4", kTasks, 50'001, 99'000).size(),
            static_cast<std::size_t>(kTasks - 4));
  EXPECT_THAT(must(store->renew_leases({}, 60'000)), IsEmpty());
}

TEST_P(StoreTest, OnlyTheCurrentAttemptCanFinishATaskAndOnlyOnce) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 2000).at(0).task.row_id;
  ASSERT_EQ(claim(*store, "w2", 1, 3000, 9000).at(0).task.attempt, 2);

  // The worker whose lease expired is fenced out of every write.
  EXPECT_EQ(value_of(store->complete_task(row, 1, outcome(TaskState::kSucceeded, "late", 3500))),
            Fence::kFencedOut);
  EXPECT_EQ(value_of(store->renew_lease(row, 1, 99'000)), Fence::kFencedOut);
  EXPECT_EQ(value_of(store->release_task(row, 1)), Fence::kFencedOut);
  EXPECT_EQ(value_of(store->set_task_size(row, 1, 512, 512)), Fence::kFencedOut);
  EXPECT_EQ(get(*store, "x")->state, TaskState::kRunning);

  EXPECT_EQ(value_of(store->complete_task(row, 2, outcome(TaskState::kSucceeded, "first", 4000))),
            Fence::kApplied);
  EXPECT_EQ(value_of(store->complete_task(row, 2, outcome(TaskState::kFailed, "second", 5000))),
            Fence::kFencedOut);
  auto got = get(*store, "x");
  EXPECT_EQ(got->state, TaskState::kSucceeded);
  EXPECT_EQ(got->fail_code, "first");
  EXPECT_EQ(got->completed_ms, 4000);
  EXPECT_EQ(got->request.size, (core::Size{1024, 1024}));
}

TEST_P(StoreTest, CompleteRefusesANonTerminalState) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 2000).at(0).task.row_id;
  auto r = store->complete_task(row, 1, outcome(TaskState::kQueued, "", 1500));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(get(*store, "x")->state, TaskState::kRunning);
}

TEST_P(StoreTest, RenewedLeaseIsNotReclaimedUntilItEnds) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 2000).at(0).task.row_id;
  EXPECT_EQ(value_of(store->renew_lease(row, 1, 5000)), Fence::kApplied);
  EXPECT_THAT(claim(*store, "w2", 1, 3000, 9000), IsEmpty());
  auto later = claim(*store, "w2", 1, 5001, 9000);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].task.attempt, 2);
}

TEST_P(StoreTest, ReleasedTaskIsClaimableAtOnceKeepingItsAttempt) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 60'000).at(0).task.row_id;
  ASSERT_EQ(value_of(store->release_task(row, 1)), Fence::kApplied);
  auto got = get(*store, "x");
  EXPECT_EQ(got->state, TaskState::kQueued);
  EXPECT_EQ(got->attempt, 1);

  auto again = claim(*store, "w2", 1, 1001, 60'000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].task.attempt, 2);
  EXPECT_EQ(again[0].task.started_ms, 1000);
  EXPECT_EQ(value_of(store->release_task(row, 1)), Fence::kFencedOut);
}

TEST_P(StoreTest, SetTaskSizeUpdatesTheRequestAndItsColumns) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto t = make_task("x", 10);
  t.request.size = {0, 0};  // from the reference image
  t.request.input_urls = {"https://a.example/ref.png"};
  ASSERT_TRUE(store->insert_task(t).ok());
  const auto row = claim(*store, "w1", 1, 1000, 60'000).at(0).task.row_id;
  ASSERT_EQ(value_of(store->set_task_size(row, 1, 1536, 1024)), Fence::kApplied);

  auto got = get(*store, "x");
  ASSERT_TRUE(got.has_value());
  t.request.size = {1536, 1024};
  expect_same_request(got->request, t.request);
  EXPECT_EQ(sql_text("SELECT width || 'x' || height FROM tasks WHERE id = 'x'"), "1536x1024");
}

TEST_P(StoreTest, CountsEveryState) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto counts = store->count_tasks_by_state();
  ASSERT_EQ(counts.size(), 5u);
  for (auto [state, n] : counts) {
    EXPECT_EQ(n, 0) << core::to_string(state);
  }
  for (std::string id : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(store->insert_task(make_task(id, 10)).ok());
  }
  auto claims = claim(*store, "w", 2, 100, 1000);
  ASSERT_EQ(claims.size(), 2u);
  ASSERT_EQ(value_of(store->complete_task(claims[0].task.row_id, 1,
                                          outcome(TaskState::kFailed, "x", 150))),
            Fence::kApplied);
  counts = store->count_tasks_by_state();
  EXPECT_EQ(counts[TaskState::kQueued], 2);
  EXPECT_EQ(counts[TaskState::kRunning], 1);
  EXPECT_EQ(counts[TaskState::kFailed], 1);
  EXPECT_EQ(counts[TaskState::kSucceeded], 0);
  EXPECT_EQ(counts[TaskState::kCancelled], 0);
  EXPECT_TRUE(store->healthy());
}

TEST_P(StoreTest, TheCountsFollowEveryWayATaskFinishes) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(store->insert_task(make_task("t" + std::to_string(i), 10 + i)).ok());
  }
  auto run = claim(*store, "w", 6, 100, 1000);  // t0..t5 run, t6 and t7 wait
  ASSERT_EQ(run.size(), 6u);
  const auto row = [&](int i) { return run.at(static_cast<std::size_t>(i)).task.row_id; };
  ASSERT_EQ(value_of(store->complete_task(row(0), 1, outcome(TaskState::kSucceeded, "", 150))),
            Fence::kApplied);
  ASSERT_EQ(value_of(store->complete_task(row(1), 1, outcome(TaskState::kFailed, "x", 150))),
            Fence::kApplied);
  // Fenced out: a second end of t0 and an end under a wrong attempt count nothing.
  ASSERT_EQ(value_of(store->complete_task(row(0), 1, outcome(TaskState::kFailed, "x", 160))),
            Fence::kFencedOut);
  ASSERT_EQ(value_of(store->complete_task(row(2), 7, outcome(TaskState::kFailed, "x", 160))),
            Fence::kFencedOut);
  ASSERT_EQ(value_of(store->cancel_task(row(2), 170)), true);   // running, cancelled
  ASSERT_EQ(value_of(store->cancel_task(row(2), 171)), false);  // already: nothing
  ASSERT_EQ(value_of(store->release_task(row(3), 1)), Fence::kApplied);  // back to the queue
  // t4 and t5's leases end; with max_attempts 1 the next claim fails them and t3 (released
  // after one attempt), and t6, t7 run.
  auto batch = must(store->claim_tasks("w2", 10, 2000, 3000, /*max_attempts=*/1));
  EXPECT_EQ(batch.exhausted.size(), 3u);
  EXPECT_EQ(batch.claims.size(), 2u);
  const std::string counts = counts_text(store->count_tasks_by_state());
  EXPECT_EQ(counts, sql_text(kCountsOfTheTasksTable));
  EXPECT_EQ(counts, "queued=0 running=2 succeeded=1 failed=4 cancelled=1");
}

TEST_P(StoreTest, DataSurvivesCloseAndReopen) {
  std::int64_t row = 0;
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    auto key = make_key("sk-k", "hk");
    ASSERT_TRUE(store->create_key_in_account(key, 7).ok());
    ASSERT_TRUE(store->insert_task(make_task("done", 10)).ok());
    ASSERT_TRUE(store->insert_task(make_task("waiting", 20)).ok());
    row = claim(*store, "w", 1, 100, 1000).at(0).task.row_id;
    ASSERT_EQ(value_of(store->complete_task(row, 1,
                                            outcome(TaskState::kSucceeded, "", 150,
                                                    {{"done/1.png", "image/png", 1024, 1024}}))),
              Fence::kApplied);
    ASSERT_TRUE(get(*store, "done").has_value());  // this thread now has a reader
  }
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(
      found(store->get_account(found(store->find_key_by_prefix("sk-k"))->account_id))->balance, 7);
  auto done = get(*store, "done");
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->row_id, row);
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  ASSERT_EQ(done->results.size(), 1u);
  EXPECT_EQ(done->results[0].key, "done/1.png");
  EXPECT_EQ(get(*store, "waiting")->state, TaskState::kQueued);
  EXPECT_THAT(ids_of(claim(*store, "w", 5, 200, 1000)), ElementsAre("waiting"));
}

TEST_F(SqliteStoreTest, TwoStoresInOneThreadKeepTheirOwnReaders) {
  auto a = open_store();
  ASSERT_NE(a, nullptr);
  testing::TempDir other_dir;
  auto b = SqliteStore::open(SqliteOptions{.path = other_dir.path() / "other.db"});
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(a->insert_task(make_task("only-in-a", 10)).ok());
  EXPECT_TRUE(get(*a, "only-in-a").has_value());
  EXPECT_FALSE(get(**b, "only-in-a").has_value());
  EXPECT_TRUE(get(*a, "only-in-a").has_value());
}

}  // namespace
}  // namespace ig::store

namespace ig::store::testing {
namespace {

using core::TaskState;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> task_ids(const std::vector<core::Task>& tasks) {
  std::vector<std::string> out;
  for (const auto& t : tasks) {
    out.push_back(t.id);
  }
  return out;
}

// --- listing and cancellation

TEST_P(StoreTest, ListTasksIsPerKeyNewestFirstAndPaged) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto k1 = store->create_key(make_key("sk-aaaaaaa", "h1"));
  auto k2 = store->create_key(make_key("sk-bbbbbbb", "h2"));
  ASSERT_TRUE(k1.ok() && k2.ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store->insert_task(make_task(task_id(i), 100 + i, k1->id)).ok());
  }
  ASSERT_TRUE(store->insert_task(make_task("other", 50, k2->id)).ok());
  auto first = must(store->list_tasks(k1->id, 0, 2));
  EXPECT_EQ(first.total, 5);
  EXPECT_THAT(task_ids(first.tasks), ElementsAre("t4", "t3"));
  auto last = must(store->list_tasks(k1->id, 4, 2));
  EXPECT_THAT(task_ids(last.tasks), ElementsAre("t0"));
  EXPECT_THAT(must(store->list_tasks(k1->id, 10, 2)).tasks, IsEmpty());
  auto theirs = must(store->list_tasks(k2->id, 0, 10));
  EXPECT_EQ(theirs.total, 1);
  EXPECT_THAT(task_ids(theirs.tasks), ElementsAre("other"));
}

TEST_P(StoreTest, CancelStopsQueuedAndFencesRunningTasks) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("queued", 10)).ok());
  ASSERT_TRUE(store->insert_task(make_task("running", 20)).ok());
  auto q = get(*store, "queued");
  ASSERT_TRUE(q);
  ASSERT_EQ(value_of(store->cancel_task(q->row_id, 500)), true);
  auto claims = claim(*store, "w", 10, 600, 5000);
  ASSERT_EQ(claims.size(), 1u);  // the cancelled one is never claimed
  EXPECT_EQ(claims[0].task.id, "running");
  const auto row = claims[0].task.row_id;
  ASSERT_EQ(value_of(store->cancel_task(row, 700)), true);
  // The worker that held it can neither renew nor finish it.
  EXPECT_EQ(value_of(store->renew_lease(row, 1, 9000)), Fence::kFencedOut);
  EXPECT_EQ(value_of(store->complete_task(row, 1, outcome(TaskState::kSucceeded, "", 800))),
            Fence::kFencedOut);
  auto t = get(*store, "running");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->state, TaskState::kCancelled);
  EXPECT_EQ(t->fail_code, "cancelled");
  EXPECT_EQ(t->completed_ms, 700);
  // Terminal tasks cannot be cancelled again.
  EXPECT_EQ(value_of(store->cancel_task(row, 900)), false);
  EXPECT_EQ(get(*store, "running")->completed_ms, 700);
}

}  // namespace

// Every TEST_P(StoreTest, …) of this binary runs against SQLite and PostgreSQL.
INSTANTIATE_TEST_SUITE_P(Backends, StoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), backend_name);

}  // namespace ig::store::testing
