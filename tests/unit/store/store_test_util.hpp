#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
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

inline std::vector<std::string> ids_of(const std::vector<Claim>& claims) {
  std::vector<std::string> out;
  for (const auto& c : claims) {
    out.push_back(c.task.id);
  }
  return out;
}

}  // namespace ig::store::testing
