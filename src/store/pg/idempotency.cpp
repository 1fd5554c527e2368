// Idempotency keys of PgStore (see store.hpp). Two nodes beginning one key at once: the first
// INSERT wins, the other waits for it (the unique index) and then reads the row under its lock.

#include "store/pg/ops.hpp"
#include "store/pg/pg_store.hpp"

namespace ig::store {
namespace {

using pg::Connection;
using pg::Params;

constexpr std::int64_t kKeepMs = 24 * 3'600'000;  // a key answers the same for 24 h at least

constexpr char kInsert[] =
    "INSERT INTO idempotency_keys (account_id, key, request_hash, created_ms) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, key) DO NOTHING";
constexpr char kFindLocked[] =
    "SELECT request_hash, task_id, status, response, created_ms FROM idempotency_keys "
    "WHERE account_id = $1 AND key = $2 FOR UPDATE";
constexpr char kRestart[] =
    "UPDATE idempotency_keys SET request_hash = $3, task_id = '', status = 0, response = '', "
    "created_ms = $4 WHERE account_id = $1 AND key = $2";
constexpr char kFinish[] =
    "UPDATE idempotency_keys SET task_id = $3, status = $4, response = $5 "
    "WHERE account_id = $1 AND key = $2";
constexpr char kAbandon[] =
    "DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND task_id = ''";
// Old keys go a few at a time with each new one: the table stays at about a day's keys.
// SKIP LOCKED: two nodes expiring at once do not wait on each other.
constexpr char kExpire[] =
    "DELETE FROM idempotency_keys WHERE (account_id, key) IN (SELECT account_id, key "
    "FROM idempotency_keys WHERE created_ms < $1 ORDER BY created_ms LIMIT 16 "
    "FOR UPDATE SKIP LOCKED)";

// What an existing row says, or nullopt when it is expired or its first request died (the key
// is then taken over).
std::optional<IdempotentBegin> existing(const pg::Row& r, const std::string& request_hash,
                                        std::int64_t now_ms, std::int64_t in_progress_ms) {
  const std::string task_id = r.text(1);
  const std::int64_t created = r.int64(4);
  const bool expired = created < now_ms - kKeepMs;
  const bool abandoned = task_id.empty() && created < now_ms - in_progress_ms;
  if (expired || abandoned) {
    return std::nullopt;
  }
  IdempotentBegin out;
  if (r.text(0) != request_hash) {
    out.state = IdempotentBegin::State::kMismatch;
  } else if (task_id.empty()) {
    out.state = IdempotentBegin::State::kInProgress;
  } else {
    out.state = IdempotentBegin::State::kReplay;
    out.task_id = task_id;
    out.status = static_cast<int>(r.int64(2));
    out.body = r.text(3);
  }
  return out;
}

core::Result<IdempotentBegin> begin_tx(Connection& c, std::int64_t account_id,
                                       const std::string& key, const std::string& request_hash,
                                       std::int64_t now_ms, std::int64_t in_progress_ms) {
  // A row deleted between the INSERT and the SELECT (its first request abandoned it) is tried
  // again; a third time would need a third request racing on the same key.
  for (int round = 0; round < 3; ++round) {
    auto inserted =
        pg::affected(c, kInsert, Params(account_id, key, request_hash, now_ms), "begin_idempotent");
    if (!inserted.ok()) {
      return inserted.error();
    }
    if (*inserted == 1) {
      if (auto expired = c.exec(kExpire, Params(now_ms - kKeepMs), "begin_idempotent");
          !expired.ok()) {
        return expired.error();
      }
      return IdempotentBegin{};
    }
    auto rows = c.exec(kFindLocked, Params(account_id, key), "begin_idempotent");
    if (!rows.ok()) {
      return rows.error();
    }
    if (rows->empty()) {
      continue;
    }
    if (auto seen = existing((*rows)[0], request_hash, now_ms, in_progress_ms)) {
      return *seen;
    }
    auto restarted =
        c.exec(kRestart, Params(account_id, key, request_hash, now_ms), "begin_idempotent");
    if (!restarted.ok()) {
      return restarted.error();
    }
    return IdempotentBegin{};
  }
  return core::make_error(core::ErrorCode::kUnavailable, "store: begin_idempotent failed");
}

}  // namespace

core::Result<IdempotentBegin> PgStore::begin_idempotent(std::int64_t account_id,
                                                        const std::string& key,
                                                        const std::string& request_hash,
                                                        std::int64_t now_ms,
                                                        std::int64_t in_progress_ms) {
  return pg::in_transaction<IdempotentBegin>(*pool_, "begin_idempotent", [&](Connection& c) {
    return begin_tx(c, account_id, key, request_hash, now_ms, in_progress_ms);
  });
}

core::Status PgStore::finish_idempotent(std::int64_t account_id, const std::string& key,
                                        const std::string& task_id, int status,
                                        const std::string& body) {
  return pg::with_connection<core::Ok>(
      *pool_, "finish_idempotent", [&](Connection& c) -> core::Result<core::Ok> {
        auto r =
            c.exec(kFinish, Params(account_id, key, task_id, status, body), "finish_idempotent");
        if (!r.ok()) {
          return r.error();
        }
        return core::Ok{};
      });
}

core::Status PgStore::abandon_idempotent(std::int64_t account_id, const std::string& key) {
  return pg::with_connection<core::Ok>(
      *pool_, "abandon_idempotent", [&](Connection& c) -> core::Result<core::Ok> {
        auto r = c.exec(kAbandon, Params(account_id, key), "abandon_idempotent");
        if (!r.ok()) {
          return r.error();
        }
        return core::Ok{};
      });
}

}  // namespace ig::store
