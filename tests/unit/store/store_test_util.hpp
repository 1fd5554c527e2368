#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/task.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit/store/test_db.hpp"

namespace ig::store::testing {

/// A store on a fresh database file per test.
class StoreTest : public ::testing::Test {
 protected:
  std::filesystem::path db_path() const { return dir_.path() / "imagegate.db"; }

  std::unique_ptr<SqliteStore> open_store(SqliteOptions opts = {}) {
    opts.path = db_path();
    auto r = SqliteStore::open(opts);
    if (!r.ok()) {
      ADD_FAILURE() << "open: " << r.error().message;
      return nullptr;
    }
    return std::move(*r);
  }

  TempDir dir_;
};

inline core::Task make_task(std::string id, std::int64_t created_ms, std::int64_t key_id = 0) {
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

/// "t<i>", built without operator+ (GCC 12 reports a false -Wrestrict on "t" + to_string).
inline std::string task_id(int i) {
  std::string s = std::to_string(i);
  s.insert(s.begin(), 't');
  return s;
}

inline ApiKey make_key(std::string prefix, std::string secret_hash) {
  ApiKey k;
  k.prefix = std::move(prefix);
  k.secret_hash = std::move(secret_hash);
  return k;
}

inline core::TaskOutcome outcome(core::TaskState state, std::string fail_code,
                                 std::int64_t completed_ms,
                                 std::vector<core::ResultObject> results = {}) {
  core::TaskOutcome o;
  o.state = state;
  o.fail_code = std::move(fail_code);
  o.completed_ms = completed_ms;
  o.results = std::move(results);
  return o;
}

/// The value of a store call that must not fail; a database error fails the test and gives T{}.
template <class T>
T must(core::Result<T> r) {
  if (!r.ok()) {
    ADD_FAILURE() << "store error: " << r.error().message;
    return T{};
  }
  return std::move(r).value();
}

/// The value of a store call that must not fail, or nullopt (and a failed test) on an error:
/// for comparing a Fence or a bool without mistaking an error for either.
template <class T>
std::optional<T> value_of(core::Result<T> r) {
  if (!r.ok()) {
    ADD_FAILURE() << "store error: " << r.error().message;
    return std::nullopt;
  }
  return std::move(r).value();
}

/// get_task / find_key_* that must not fail: the row, or nullopt when there is none.
template <class T>
std::optional<T> found(core::Result<std::optional<T>> r) {
  return must(std::move(r));
}

/// The tasks a claim_tasks call (that must not fail) claimed. max_attempts is high so that
/// only tests about it see tasks exhausted.
inline std::vector<Claim> claim(Store& store, const std::string& owner, int max,
                                std::int64_t now_ms, std::int64_t lease_until_ms,
                                int max_attempts = 100) {
  return must(store.claim_tasks(owner, max, now_ms, lease_until_ms, max_attempts)).claims;
}

inline std::optional<core::Task> get(Store& store, const std::string& id) {
  return found(store.get_task(id));
}

inline std::vector<std::string> ids_of(const std::vector<Claim>& claims) {
  std::vector<std::string> out;
  for (const auto& c : claims) {
    out.push_back(c.task.id);
  }
  return out;
}

}  // namespace ig::store::testing
