// A create with an Idempotency-Key whose process dies after the task's commit and before the
// answer is recorded (finish_idempotent): the crash suite (tests/integration/test_crash.py)
// found such keys left "in progress" with their task committed, so a retry got 409 for a
// minute and then a second task, held and charged again. The insert now names the task in the
// key's row in its own transaction (Store::insert_task); a retry replays it (status 0: the
// router renders the task as created).

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "store/sqlite/sqlite_store.hpp"
#include "unit/store/test_db.hpp"

namespace ig::store {
namespace {

using State = IdempotentBegin::State;

template <class T>
T must(core::Result<T> r) {
  if (!r.ok()) {
    ADD_FAILURE() << "store error: " << r.error().message;
    return T{};
  }
  return std::move(r).value();
}

ApiKey make_key(std::string prefix, std::string secret_hash) {
  ApiKey k;
  k.prefix = std::move(prefix);
  k.secret_hash = std::move(secret_hash);
  return k;
}

core::Task make_task(std::string id, std::int64_t created_ms, std::int64_t key_id) {
  core::Task t;
  t.id = std::move(id);
  t.key_id = key_id;
  t.created_ms = created_ms;
  t.request.dialect = core::Dialect::kJobs;
  t.request.model = "gpt-image-2";
  t.request.prompt = "a lighthouse at dusk";
  t.request.size = {1024, 1024};
  t.param = R"({"model":"gpt-image-2","input":{"prompt":"a lighthouse at dusk"}})";
  return t;
}

constexpr std::int64_t kT0 = 1'800'000'000'000;
constexpr std::int64_t kMinute = 60'000;

class CreateIdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SqliteOptions opts;
    opts.path = dir_.path() / "imagegate.db";
    auto opened = SqliteStore::open(opts);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
  }

  ApiKey new_key(const std::string& n, std::optional<std::int64_t> credits) {
    ApiKey k = make_key("sk-" + n, "hash-" + n);
    k.created_ms = kT0;
    return must(store_->create_key_in_account(k, credits));
  }

  core::Task task(const std::string& id, const ApiKey& key, const std::string& idem) {
    core::Task t = make_task(id, kT0, key.id);
    t.price = 4'700'000;
    t.idempotency_key = idem;
    return t;
  }

  IdempotentBegin begin(std::int64_t account, const std::string& key, std::int64_t now) {
    return must(store_->begin_idempotent(account, key, "hash", now, kMinute));
  }

  testing::TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(CreateIdempotencyTest, TheInsertNamesTheTaskInItsKeySoARetryAfterACrashReplaysIt) {
  const ApiKey key = new_key("a", 100'000'000);  // 100 credits
  EXPECT_EQ(begin(key.account_id, "k1", kT0).state, State::kNew);
  ASSERT_TRUE(store_->insert_task(task("task-1", key, "k1")).ok());
  // The process dies here: finish_idempotent never runs. The retry, even after the minute
  // that frees a key whose first request died, finds the task instead of making another.
  for (std::int64_t at : {kT0 + 1, kT0 + 2 * kMinute}) {
    const IdempotentBegin again = begin(key.account_id, "k1", at);
    EXPECT_EQ(again.state, State::kReplay);
    EXPECT_EQ(again.task_id, "task-1");
    EXPECT_EQ(again.status, 0);  // no answer recorded: rendered from the task
  }

  // The same through the claimed insert (the creating process runs the task at once).
  EXPECT_EQ(begin(key.account_id, "k2", kT0).state, State::kNew);
  ASSERT_TRUE(store_->insert_claimed_task(task("task-2", key, "k2"), "me", kT0 + 30'000).ok());
  EXPECT_EQ(begin(key.account_id, "k2", kT0 + 2 * kMinute).task_id, "task-2");

  // A recorded answer is kept as it was.
  EXPECT_EQ(begin(key.account_id, "k3", kT0).state, State::kNew);
  ASSERT_TRUE(store_->insert_task(task("task-3", key, "k3")).ok());
  ASSERT_TRUE(store_->finish_idempotent(key.account_id, "k3", "task-3", 200, "{\"a\":1}").ok());
  const IdempotentBegin replay = begin(key.account_id, "k3", kT0 + 5);
  EXPECT_EQ(replay.state, State::kReplay);
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(replay.body, "{\"a\":1}");
}

TEST_F(CreateIdempotencyTest, OnlyTheKeysOwnAccountAndAnUnfinishedRowAreTied) {
  const ApiKey a = new_key("a", std::nullopt);
  const ApiKey b = new_key("b", std::nullopt);
  EXPECT_EQ(begin(b.account_id, "shared", kT0).state, State::kNew);
  // a's task names "shared", which a's account never began: b's row is not touched.
  ASSERT_TRUE(store_->insert_task(task("task-a", a, "shared")).ok());
  EXPECT_EQ(begin(b.account_id, "shared", kT0 + 1).state, State::kInProgress);

  // A row that already names a task keeps it.
  EXPECT_EQ(begin(a.account_id, "k", kT0).state, State::kNew);
  ASSERT_TRUE(store_->insert_task(task("task-1", a, "k")).ok());
  ASSERT_TRUE(store_->insert_task(task("task-2", a, "k")).ok());
  EXPECT_EQ(begin(a.account_id, "k", kT0 + 1).task_id, "task-1");
}

TEST_F(CreateIdempotencyTest, ARefusedInsertTiesNothing) {
  const ApiKey poor = new_key("p", 1'000'000);  // 1 credit: the 4.7 price is refused
  EXPECT_EQ(begin(poor.account_id, "k", kT0).state, State::kNew);
  auto st = store_->insert_task(task("task-1", poor, "k"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, core::ErrorCode::kInsufficientCredits);
  EXPECT_EQ(begin(poor.account_id, "k", kT0 + 1).state, State::kInProgress);  // abandoned next
  ASSERT_TRUE(store_->abandon_idempotent(poor.account_id, "k").ok());
  EXPECT_EQ(begin(poor.account_id, "k", kT0 + 2).state, State::kNew);
}

}  // namespace
}  // namespace ig::store
