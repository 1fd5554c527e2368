// Idempotency keys of SqliteStore (see store.hpp).

#include "store/sqlite/ops.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace ig::store {
namespace {

using detail::Connection;
using detail::guarded;
using detail::internal;
using detail::run_write;

constexpr std::int64_t kKeepMs = 24 * 3'600'000;  // a key answers the same for 24 h at least

constexpr char kFind[] =
    "SELECT request_hash, task_id, status, response, created_ms FROM idempotency_keys "
    "WHERE account_id = ?1 AND key = ?2";
constexpr char kStart[] =
    "INSERT INTO idempotency_keys (account_id, key, request_hash, created_ms) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id, key) DO UPDATE SET "
    "request_hash = excluded.request_hash, task_id = '', status = 0, response = '', "
    "created_ms = excluded.created_ms";
constexpr char kFinish[] =
    "UPDATE idempotency_keys SET task_id = ?3, status = ?4, response = ?5 "
    "WHERE account_id = ?1 AND key = ?2";
constexpr char kAbandon[] =
    "DELETE FROM idempotency_keys WHERE account_id = ?1 AND key = ?2 AND task_id = ''";
// Old keys go a few at a time with each new one: the table stays at about a day's keys.
constexpr char kExpire[] =
    "DELETE FROM idempotency_keys WHERE (account_id, key) IN (SELECT account_id, key "
    "FROM idempotency_keys WHERE created_ms < ?1 ORDER BY created_ms LIMIT 16)";

}  // namespace

core::Result<IdempotentBegin> SqliteStore::begin_idempotent(std::int64_t account_id,
                                                            const std::string& key,
                                                            const std::string& request_hash,
                                                            std::int64_t now_ms,
                                                            std::int64_t in_progress_ms) {
  using Out = core::Result<IdempotentBegin>;
  return guarded(
      "begin_idempotent",
      [&]() -> Out {
        return run_write<IdempotentBegin>(*writer_, [&](Connection& c) -> Out {
          IdempotentBegin out;
          auto st = c.prepare(kFind, "begin_idempotent");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, account_id);
          st->bind(2, key);
          int rc = st->step();
          if (rc == SQLITE_ROW) {
            const std::string hash = st->text(0);
            const std::string task_id = st->text(1);
            const std::int64_t created = st->int64(4);
            const bool expired = created < now_ms - kKeepMs;
            const bool abandoned = task_id.empty() && created < now_ms - in_progress_ms;
            if (!expired && !abandoned) {
              if (hash != request_hash) {
                out.state = IdempotentBegin::State::kMismatch;
              } else if (task_id.empty()) {
                out.state = IdempotentBegin::State::kInProgress;
              } else {
                out.state = IdempotentBegin::State::kReplay;
                out.task_id = task_id;
                out.status = static_cast<int>(st->int64(2));
                out.body = st->text(3);
              }
              return out;
            }
          } else if (rc != SQLITE_DONE) {
            return c.error(rc, "begin_idempotent");
          }
          auto start = c.prepare(kStart, "begin_idempotent");
          if (!start.ok()) {
            return start.error();
          }
          start->bind(1, account_id);
          start->bind(2, key);
          start->bind(3, request_hash);
          start->bind(4, now_ms);
          if (int src = start->step(); src != SQLITE_DONE) {
            return c.error(src, "begin_idempotent");
          }
          auto expire = c.prepare(kExpire, "begin_idempotent");
          if (!expire.ok()) {
            return expire.error();
          }
          expire->bind(1, now_ms - kKeepMs);
          if (int erc = expire->step(); erc != SQLITE_DONE) {
            return c.error(erc, "begin_idempotent");
          }
          return out;
        });
      },
      [] { return Out(internal("begin_idempotent")); });
}

core::Status SqliteStore::finish_idempotent(std::int64_t account_id, const std::string& key,
                                            const std::string& task_id, int status,
                                            const std::string& body) {
  return guarded(
      "finish_idempotent",
      [&]() -> core::Status {
        auto op = [&](Connection& c) -> core::Status {
          auto st = c.prepare(kFinish, "finish_idempotent");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, account_id);
          st->bind(2, key);
          st->bind(3, task_id);
          st->bind(4, std::int64_t{status});
          st->bind(5, body);
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "finish_idempotent");
          }
          return core::ok_status();
        };
        return writer_->submit(op);
      },
      [] { return core::Status(internal("finish_idempotent")); });
}

core::Status SqliteStore::abandon_idempotent(std::int64_t account_id, const std::string& key) {
  return guarded(
      "abandon_idempotent",
      [&]() -> core::Status {
        auto op = [&](Connection& c) -> core::Status {
          auto st = c.prepare(kAbandon, "abandon_idempotent");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, account_id);
          st->bind(2, key);
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "abandon_idempotent");
          }
          return core::ok_status();
        };
        return writer_->submit(op);
      },
      [] { return core::Status(internal("abandon_idempotent")); });
}

}  // namespace ig::store
