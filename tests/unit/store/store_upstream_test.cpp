// Where a task's paid work lives (usage, upstream route and id), the upstream call log, and
// claims that stop at max_attempts.

#include <cstdint>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/fail_codes.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit/store/store_test_util.hpp"

namespace ig::store::testing {
namespace {

using core::ErrorCode;
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

// --- usage and upstream

TEST_P(StoreTest, UsageIsStoredWithTheOutcome) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("full", 10)).ok());
  ASSERT_TRUE(store->insert_task(make_task("partial", 20)).ok());
  ASSERT_TRUE(store->insert_task(make_task("none", 30)).ok());
  auto claims = claim(*store, "w", 3, 100, 1000);
  ASSERT_EQ(claims.size(), 3u);

  auto full = outcome(TaskState::kSucceeded, "", 200);
  full.usage = core::TokenUsage{.input_tokens = 50,
                                .input_text_tokens = 20,
                                .input_image_tokens = 30,
                                .output_tokens = 4160,
                                .total_tokens = 4210};
  auto partial = outcome(TaskState::kFailed, "upstream_error", 200);
  partial.usage.total_tokens = 0;  // zero is a count, not "unknown"
  ASSERT_EQ(value_of(store->complete_task(claims[0].task.row_id, 1, full)), Fence::kApplied);
  ASSERT_EQ(value_of(store->complete_task(claims[1].task.row_id, 1, partial)), Fence::kApplied);
  ASSERT_EQ(value_of(store->complete_task(claims[2].task.row_id, 1,
                                          outcome(TaskState::kSucceeded, "", 200))),
            Fence::kApplied);

  EXPECT_EQ(get(*store, "full")->usage, full.usage);
  EXPECT_EQ(get(*store, "partial")->usage, partial.usage);
  EXPECT_FALSE(get(*store, "partial")->usage.empty());
  EXPECT_EQ(get(*store, "none")->usage, core::TokenUsage{});
  EXPECT_EQ(sql_text("SELECT usage_json FROM tasks WHERE id = 'none'"), "");
  EXPECT_EQ(sql_text("SELECT usage_json FROM tasks WHERE id = 'partial'"), R"({"total_tokens":0})");
}

TEST_P(StoreTest, UpstreamIsRecordedByTheRunningAttemptOnly) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  EXPECT_EQ(get(*store, "x")->upstream_route, "");
  const auto row = claim(*store, "w1", 1, 1000, 2000).at(0).task.row_id;
  EXPECT_EQ(value_of(store->set_upstream(row, 1, "kie", "task-123")), Fence::kApplied);
  auto t = get(*store, "x");
  EXPECT_EQ(t->upstream_route, "kie");
  EXPECT_EQ(t->upstream_id, "task-123");

  // The next attempt sees where the work lives (to resume it); the old one can change nothing.
  auto again = claim(*store, "w2", 1, 3000, 9000);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].task.upstream_route, "kie");
  EXPECT_EQ(again[0].task.upstream_id, "task-123");
  EXPECT_EQ(value_of(store->set_upstream(row, 1, "other", "late")), Fence::kFencedOut);
  EXPECT_EQ(value_of(store->set_upstream(row, 2, "kie", "task-456")), Fence::kApplied);
  ASSERT_EQ(value_of(store->complete_task(row, 2, outcome(TaskState::kSucceeded, "", 4000))),
            Fence::kApplied);
  t = get(*store, "x");
  EXPECT_EQ(t->upstream_route, "kie");  // kept after completion, for `tasks show`
  EXPECT_EQ(t->upstream_id, "task-456");
}

// --- upstream call log

TEST_P(StoreTest, UpstreamCallsAreLoggedInOrderAndFinishedOnce) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  ASSERT_TRUE(store->insert_task(make_task("y", 20)).ok());
  const auto x = get(*store, "x")->row_id;
  const auto y = get(*store, "y")->row_id;
  EXPECT_THAT(must(store->list_upstream_calls(x)), IsEmpty());

  auto first = store->begin_upstream_call(UpstreamCall{.task_row = x,
                                                       .attempt = 1,
                                                       .route = "openai",
                                                       .provider_kind = "openai",
                                                       .started_ms = 1000});
  auto other = store->begin_upstream_call(UpstreamCall{.task_row = y, .attempt = 1});
  auto second = store->begin_upstream_call(UpstreamCall{.task_row = x,
                                                        .attempt = 2,
                                                        .route = "kie",
                                                        .provider_kind = "relay",
                                                        .upstream_id = "kie-1",
                                                        .started_ms = 5000});
  ASSERT_TRUE(first.ok() && other.ok() && second.ok());
  EXPECT_LT(*first, *second);

  // A crash now would leave both in flight.
  auto calls = must(store->list_upstream_calls(x));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].error_class, "in_flight");
  EXPECT_EQ(calls[0].duration_ms, -1);
  EXPECT_EQ(calls[1].error_class, "in_flight");

  ASSERT_TRUE(store
                  ->finish_upstream_call(*first, 503, 1200, "no_work", "upstream_error",
                                         "the upstream answered 503", "")
                  .ok());
  // An empty upstream_id keeps the one recorded at the start.
  ASSERT_TRUE(store->finish_upstream_call(*second, 200, 30'000, "", "", "", "").ok());

  calls = must(store->list_upstream_calls(x));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].id, *first);
  EXPECT_EQ(calls[0].task_row, x);
  EXPECT_EQ(calls[0].attempt, 1);
  EXPECT_EQ(calls[0].route, "openai");
  EXPECT_EQ(calls[0].provider_kind, "openai");
  EXPECT_EQ(calls[0].upstream_id, "");
  EXPECT_EQ(calls[0].http_status, 503);
  EXPECT_EQ(calls[0].started_ms, 1000);
  EXPECT_EQ(calls[0].duration_ms, 1200);
  EXPECT_EQ(calls[0].error_class, "no_work");
  EXPECT_EQ(calls[0].error_code, "upstream_error");
  EXPECT_EQ(calls[0].message, "the upstream answered 503");
  EXPECT_EQ(calls[1].id, *second);
  EXPECT_EQ(calls[1].attempt, 2);
  EXPECT_EQ(calls[1].upstream_id, "kie-1");
  EXPECT_EQ(calls[1].error_class, "");
  EXPECT_EQ(calls[1].duration_ms, 30'000);

  auto theirs = must(store->list_upstream_calls(y));
  ASSERT_EQ(theirs.size(), 1u);
  EXPECT_EQ(theirs[0].id, *other);
  EXPECT_GT(theirs[0].started_ms, 0);  // 0 means "now"
  EXPECT_EQ(theirs[0].error_class, "in_flight");

  // A call finishes once; the id found at the end replaces none recorded at the start.
  auto twice = store->finish_upstream_call(*first, 200, 1, "", "", "", "");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().code, ErrorCode::kConflict);
  ASSERT_TRUE(store->finish_upstream_call(*other, 200, 10, "", "", "", "found-at-end").ok());
  EXPECT_EQ(must(store->list_upstream_calls(y))[0].upstream_id, "found-at-end");
}

TEST_P(StoreTest, UpstreamCallLogRefusesWhatMakesNoSense) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto x = get(*store, "x")->row_id;
  auto orphan = store->begin_upstream_call(UpstreamCall{.task_row = x + 100, .attempt = 1});
  ASSERT_FALSE(orphan.ok());
  EXPECT_EQ(orphan.error().code, ErrorCode::kInvalidRequest);

  auto id = store->begin_upstream_call(UpstreamCall{.task_row = x, .attempt = 1});
  ASSERT_TRUE(id.ok());
  auto unknown = store->finish_upstream_call(*id + 100, 200, 1, "", "", "", "");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  for (const char* cls : {"in_flight", "ok", "timeout"}) {
    auto bad = store->finish_upstream_call(*id, 200, 1, cls, "", "", "");
    ASSERT_FALSE(bad.ok()) << cls;
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidRequest);
  }
  auto negative = store->finish_upstream_call(*id, 200, -1, "", "", "", "");
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(must(store->list_upstream_calls(x)).at(0).error_class, "in_flight");
  for (const char* cls : {"no_work", "route_fault", "rejected", "unknown", "failed"}) {
    auto call = store->begin_upstream_call(UpstreamCall{.task_row = x, .attempt = 1});
    ASSERT_TRUE(call.ok());
    EXPECT_TRUE(store->finish_upstream_call(*call, 0, 5, cls, "c", "m", "").ok()) << cls;
  }
}

TEST_P(StoreTest, CallsOfARunThatLostItsLeaseAreStillLogged) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 2000).at(0).task.row_id;
  auto call = store->begin_upstream_call(UpstreamCall{.task_row = row, .attempt = 1});
  ASSERT_TRUE(call.ok());
  ASSERT_EQ(claim(*store, "w2", 1, 3000, 9000).size(), 1u);  // attempt 1 lost the task
  // What attempt 1 paid for is a fact worth keeping, whoever owns the task now.
  ASSERT_TRUE(store->finish_upstream_call(*call, 200, 2500, "", "", "", "up-1").ok());
  EXPECT_EQ(must(store->list_upstream_calls(row)).at(0).upstream_id, "up-1");
}

TEST_P(StoreTest, TheSucceedingCallIsClosedByTheCompletionEvenWhenItIsFencedOut) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  ASSERT_TRUE(store->insert_task(make_task("late", 20)).ok());
  auto claims = claim(*store, "w1", 2, 1000, 2000);
  ASSERT_EQ(claims.size(), 2u);
  const auto x = claims[0].task.row_id;
  const auto late = claims[1].task.row_id;
  auto call = must(store->begin_upstream_call(UpstreamCall{.task_row = x, .attempt = 1}));
  auto lost = must(store->begin_upstream_call(UpstreamCall{.task_row = late, .attempt = 1}));

  auto done = outcome(TaskState::kSucceeded, "", 1500);
  done.call_end = core::TaskOutcome::CallEnd{call, 200, 480, "up-x"};
  ASSERT_EQ(value_of(store->complete_task(x, 1, done)), Fence::kApplied);
  auto calls = must(store->list_upstream_calls(x));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].error_class, "");
  EXPECT_EQ(calls[0].http_status, 200);
  EXPECT_EQ(calls[0].duration_ms, 480);
  EXPECT_EQ(calls[0].upstream_id, "up-x");

  // Another worker took "late" over: its outcome does not land, the paid call is still closed.
  ASSERT_EQ(claim(*store, "w2", 1, 3000, 9000).size(), 1u);
  auto late_done = outcome(TaskState::kSucceeded, "", 3500);
  late_done.call_end = core::TaskOutcome::CallEnd{lost, 200, 900, ""};
  ASSERT_EQ(value_of(store->complete_task(late, 1, late_done)), Fence::kFencedOut);
  calls = must(store->list_upstream_calls(late));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].error_class, "");
  EXPECT_EQ(calls[0].duration_ms, 900);
  EXPECT_EQ(get(*store, "late")->state, TaskState::kRunning);
}

// --- max attempts

TEST_P(StoreTest, ATaskClaimedMaxAttemptsTimesIsFailedInsteadOfClaimed) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 2000, 2).at(0).task.row_id;
  ASSERT_EQ(claim(*store, "w2", 1, 3000, 4000, 2).at(0).task.attempt, 2);

  // Attempt 2's lease runs out too: a third claim would pass max_attempts = 2.
  auto batch = must(store->claim_tasks("w3", 1, 5000, 9000, 2));
  EXPECT_THAT(batch.claims, IsEmpty());
  ASSERT_EQ(batch.exhausted.size(), 1u);
  const auto& failed = batch.exhausted[0];
  EXPECT_EQ(failed.id, "x");
  EXPECT_EQ(failed.state, TaskState::kFailed);
  EXPECT_EQ(failed.attempt, 2);
  EXPECT_EQ(failed.fail_code, core::fail::kTooManyAttempts);
  EXPECT_EQ(failed.fail_msg,
            "the task was claimed 2 times without finishing (dispatcher.max_attempts); it is "
            "not run again");
  EXPECT_EQ(failed.completed_ms, 5000);
  EXPECT_EQ(failed.started_ms, 1000);

  auto t = get(*store, "x");
  EXPECT_EQ(t->state, TaskState::kFailed);
  EXPECT_EQ(t->fail_code, "too_many_attempts");
  EXPECT_EQ(sql_text("SELECT COALESCE(lease_owner, 'none') || ' ' || lease_until_ms FROM tasks"),
            "none 0");
  // The worker of attempt 2 is fenced out, and the task is never claimed again.
  EXPECT_EQ(value_of(store->complete_task(row, 2, outcome(TaskState::kSucceeded, "", 6000))),
            Fence::kFencedOut);
  auto later = must(store->claim_tasks("w4", 5, 99'000, 99'999, 2));
  EXPECT_THAT(later.claims, IsEmpty());
  EXPECT_THAT(later.exhausted, IsEmpty());
}

TEST_P(StoreTest, AReleasedTaskAtMaxAttemptsIsNotClaimedAgain) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  const auto row = claim(*store, "w1", 1, 1000, 60'000, 1).at(0).task.row_id;
  ASSERT_EQ(value_of(store->release_task(row, 1)), Fence::kApplied);
  auto batch = must(store->claim_tasks("w2", 1, 2000, 60'000, 1));
  EXPECT_THAT(batch.claims, IsEmpty());
  EXPECT_THAT(task_ids(batch.exhausted), ElementsAre("x"));
  EXPECT_THAT(batch.exhausted[0].fail_msg, ::testing::HasSubstr("claimed 1 times"));
  // A higher limit would have run it again: the limit is the caller's, per claim.
  ASSERT_TRUE(store->insert_task(make_task("y", 20)).ok());
  const auto y = claim(*store, "w1", 1, 3000, 60'000, 1).at(0).task.row_id;
  ASSERT_EQ(value_of(store->release_task(y, 1)), Fence::kApplied);
  EXPECT_EQ(claim(*store, "w2", 1, 4000, 60'000, 2).at(0).task.attempt, 2);
}

TEST_P(StoreTest, ExhaustedTasksDoNotTakeTheClaimsOfOthersAndOrderIsKept) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  // "old" and "older" have used their one attempt (claimed, then released); the rest are new.
  for (auto [id, created] : std::vector<std::pair<std::string, int>>{
           {"older", 5}, {"old", 15}, {"a", 10}, {"b", 20}, {"c", 30}}) {
    ASSERT_TRUE(store->insert_task(make_task(id, created)).ok());
  }
  for (const char* id : {"older", "old"}) {
    const auto row = get(*store, id)->row_id;
    sql_exec("UPDATE tasks SET attempt = 1 WHERE row_id = " + std::to_string(row));
  }
  auto batch = must(store->claim_tasks("w", 2, 100, 1000, 1));
  // The window of the two oldest (older, a) fails "older"; the claim still takes two.
  EXPECT_THAT(ids_of(batch.claims), ElementsAre("a", "b"));
  EXPECT_THAT(task_ids(batch.exhausted), ElementsAre("older"));
  EXPECT_EQ(get(*store, "old")->state, TaskState::kQueued);  // past this claim's window

  batch = must(store->claim_tasks("w", 2, 200, 1000, 1));
  EXPECT_THAT(ids_of(batch.claims), ElementsAre("c"));
  EXPECT_THAT(task_ids(batch.exhausted), ElementsAre("old"));
  EXPECT_EQ(get(*store, "old")->state, TaskState::kFailed);
}

TEST_P(StoreTest, MaxAttemptsMustBePositive) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->insert_task(make_task("x", 10)).ok());
  auto r = store->claim_tasks("w", 1, 100, 1000, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(get(*store, "x")->state, TaskState::kQueued);
}

}  // namespace
}  // namespace ig::store::testing
