// The callback outbox of SqliteStore (see store.hpp): rows written with a task's terminal state
// (enqueue_callback, in that transaction), leased by the sender, every attempt recorded.

#include <utility>

#include "store/sqlite/billing.hpp"
#include "store/sqlite/ops.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/row_readers.hpp"

namespace ig::store {

namespace detail {
namespace {

// A msg_id per callback: "msg_" and 24 random hex digits, from SQLite's own randomness.
constexpr char kEnqueue[] =
    "INSERT INTO callbacks (task_row, url, msg_id, state, next_ms, created_ms, updated_ms) "
    "SELECT row_id, json_extract(request_json, '$.callback_url'), "
    "'msg_' || lower(hex(randomblob(12))), 'pending', ?2, ?2, ?2 FROM tasks "
    "WHERE row_id = ?1 AND COALESCE(json_extract(request_json, '$.callback_url'), '') != '' "
    "ON CONFLICT (task_row) DO NOTHING";

#define IG_CALLBACK_COLUMNS                                                                  \
  "c.id, c.task_row, t.id, c.url, c.msg_id, c.state, c.attempts, c.next_ms, c.created_ms, " \
  "COALESCE(a.id, 0), COALESCE(a.webhook_secret, '')"
#define IG_CALLBACK_JOIN                                                     \
  " FROM callbacks c JOIN tasks t ON t.row_id = c.task_row"                  \
  " LEFT JOIN api_keys k ON k.id = t.key_id LEFT JOIN accounts a ON a.id = k.account_id"

constexpr char kClaim[] =
    "UPDATE callbacks SET lease_until_ms = ?3, updated_ms = ?2 WHERE id IN ("
    "SELECT id FROM callbacks WHERE state = 'pending' AND next_ms <= ?2 AND lease_until_ms < ?2 "
    "ORDER BY next_ms LIMIT ?1)";
constexpr char kLeased[] =
    "SELECT " IG_CALLBACK_COLUMNS IG_CALLBACK_JOIN
    " WHERE c.state = 'pending' AND c.lease_until_ms = ?1 AND c.updated_ms = ?2 ORDER BY c.next_ms";
constexpr char kOfTask[] = "SELECT " IG_CALLBACK_COLUMNS IG_CALLBACK_JOIN " WHERE c.task_row = ?1";
constexpr char kAttemptsOf[] =
    "SELECT started_ms, http_status, latency_ms, error FROM callback_attempts "
    "WHERE callback_id = ?1 ORDER BY id";
constexpr char kInsertAttempt[] =
    "INSERT INTO callback_attempts (callback_id, started_ms, http_status, latency_ms, error) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr char kAfterAttempt[] =
    "UPDATE callbacks SET state = ?2, next_ms = ?3, attempts = attempts + 1, lease_until_ms = 0, "
    "updated_ms = ?4 WHERE id = ?1";
constexpr char kRedeliver[] =
    "UPDATE callbacks SET state = 'pending', next_ms = ?2, attempts = 0, lease_until_ms = 0, "
    "updated_ms = ?2 WHERE task_row = ?1";
// A row being delivered (leased) is due again only when its lease runs out: without that, a
// slow delivery kept the sender looking every millisecond.
constexpr char kNextDue[] =
    "SELECT MIN(MAX(next_ms, lease_until_ms + 1)) FROM callbacks WHERE state = 'pending'";
constexpr char kSecretOf[] = "SELECT webhook_secret FROM accounts WHERE id = ?1";
constexpr char kSetSecretIfNone[] =
    "UPDATE accounts SET webhook_secret = ?2 WHERE id = ?1 AND webhook_secret = ''";
constexpr char kSetSecret[] = "UPDATE accounts SET webhook_secret = ?2 WHERE id = ?1";

#undef IG_CALLBACK_COLUMNS
#undef IG_CALLBACK_JOIN

CallbackDelivery read_delivery(const Statement& st) {
  return rows::delivery(st);
}

core::Result<std::optional<std::string>> read_secret(Connection& c, std::int64_t account) {
  auto st = c.prepare(kSecretOf, "webhook_secret");
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, account);
  int rc = st->step();
  if (rc == SQLITE_DONE) {
    return std::optional<std::string>();
  }
  if (rc != SQLITE_ROW) {
    return c.error(rc, "webhook_secret");
  }
  return std::optional<std::string>(st->text(0));
}

}  // namespace

core::Status enqueue_callback(Connection& c, std::int64_t task_row, std::int64_t now_ms) {
  auto st = c.prepare(kEnqueue, "enqueue_callback");
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, task_row);
  st->bind(2, now_ms);
  if (int rc = st->step(); rc != SQLITE_DONE) {
    return c.error(rc, "enqueue_callback");
  }
  return core::ok_status();
}

}  // namespace detail

using detail::Connection;
using detail::guarded;
using detail::internal;
using detail::run_write;

core::Result<std::vector<CallbackDelivery>> SqliteStore::claim_callbacks(
    int max, std::int64_t now_ms, std::int64_t lease_until_ms) {
  using Out = core::Result<std::vector<CallbackDelivery>>;
  return guarded(
      "claim_callbacks",
      [&]() -> Out {
        return run_write<std::vector<CallbackDelivery>>(*writer_, [&](Connection& c) -> Out {
          auto st = c.prepare(detail::kClaim, "claim_callbacks");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, std::int64_t{max});
          st->bind(2, now_ms);
          st->bind(3, lease_until_ms);
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "claim_callbacks");
          }
          std::vector<CallbackDelivery> out;
          if (st->changes() == 0) {
            return out;
          }
          // The rows this claim just leased: its lease and time mark them (a concurrent
          // claim in the same millisecond runs in another transaction of the one writer).
          auto leased = c.prepare(detail::kLeased, "claim_callbacks");
          if (!leased.ok()) {
            return leased.error();
          }
          leased->bind(1, lease_until_ms);
          leased->bind(2, now_ms);
          int rc = SQLITE_OK;
          while ((rc = leased->step()) == SQLITE_ROW) {
            out.push_back(detail::read_delivery(*leased));
          }
          if (rc != SQLITE_DONE) {
            return c.error(rc, "claim_callbacks");
          }
          return out;
        });
      },
      [] { return Out(internal("claim_callbacks")); });
}

core::Status SqliteStore::record_callback_attempt(std::int64_t callback_id,
                                                  const CallbackAttempt& attempt,
                                                  const std::string& state,
                                                  std::int64_t next_ms) {
  if (state != "pending" && state != "delivered" && state != "failed") {
    return core::make_error(core::ErrorCode::kInvalidRequest, "store: bad callback state");
  }
  return guarded(
      "record_callback_attempt",
      [&]() -> core::Status {
        auto op = [&](Connection& c) -> core::Status {
          auto st = c.prepare(detail::kInsertAttempt, "record_callback_attempt");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, callback_id);
          st->bind(2, attempt.started_ms);
          st->bind(3, std::int64_t{attempt.http_status});
          st->bind(4, attempt.latency_ms);
          st->bind(5, attempt.error);
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "record_callback_attempt");
          }
          auto up = c.prepare(detail::kAfterAttempt, "record_callback_attempt");
          if (!up.ok()) {
            return up.error();
          }
          up->bind(1, callback_id);
          up->bind(2, state);
          up->bind(3, next_ms);
          up->bind(4, attempt.started_ms + attempt.latency_ms);
          if (int rc = up->step(); rc != SQLITE_DONE) {
            return c.error(rc, "record_callback_attempt");
          }
          return core::ok_status();
        };
        return writer_->submit(op);
      },
      [] { return core::Status(internal("record_callback_attempt")); });
}

core::Result<std::optional<std::pair<CallbackDelivery, std::vector<CallbackAttempt>>>>
SqliteStore::task_callback(std::int64_t task_row) {
  using Value = std::optional<std::pair<CallbackDelivery, std::vector<CallbackAttempt>>>;
  using Out = core::Result<Value>;
  return guarded(
      "task_callback",
      [&]() -> Out {
        Connection* c = reader();
        if (c == nullptr) {
          return detail::no_reader("task_callback");
        }
        auto st = c->prepare(detail::kOfTask, "task_callback");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, task_row);
        int rc = st->step();
        if (rc == SQLITE_DONE) {
          return Value();
        }
        if (rc != SQLITE_ROW) {
          return c->error(rc, "task_callback");
        }
        std::pair<CallbackDelivery, std::vector<CallbackAttempt>> out;
        out.first = detail::read_delivery(*st);
        auto at = c->prepare(detail::kAttemptsOf, "task_callback");
        if (!at.ok()) {
          return at.error();
        }
        at->bind(1, out.first.id);
        while ((rc = at->step()) == SQLITE_ROW) {
          out.second.push_back(rows::callback_attempt(*at));
        }
        if (rc != SQLITE_DONE) {
          return c->error(rc, "task_callback");
        }
        return Value(std::move(out));
      },
      [] { return Out(internal("task_callback")); });
}

core::Result<bool> SqliteStore::redeliver_callback(std::int64_t task_row, std::int64_t now_ms) {
  return guarded(
      "redeliver_callback",
      [&] {
        return run_write<bool>(*writer_, [&](Connection& c) -> core::Result<bool> {
          auto st = c.prepare(detail::kRedeliver, "redeliver_callback");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, task_row);
          st->bind(2, now_ms);
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "redeliver_callback");
          }
          return st->changes() == 1;
        });
      },
      [] { return core::Result<bool>(internal("redeliver_callback")); });
}

core::Result<std::optional<std::int64_t>> SqliteStore::next_callback_due() {
  using Out = core::Result<std::optional<std::int64_t>>;
  return guarded(
      "next_callback_due",
      [&]() -> Out {
        Connection* c = reader();
        if (c == nullptr) {
          return detail::no_reader("next_callback_due");
        }
        auto st = c->prepare(detail::kNextDue, "next_callback_due");
        if (!st.ok()) {
          return st.error();
        }
        if (int rc = st->step(); rc != SQLITE_ROW) {
          return c->error(rc, "next_callback_due");
        }
        if (st->is_null(0)) {
          return std::optional<std::int64_t>();
        }
        return std::optional<std::int64_t>(st->int64(0));
      },
      [] { return Out(internal("next_callback_due")); });
}

core::Result<std::optional<std::string>> SqliteStore::webhook_secret(
    std::int64_t account_id, const std::string& candidate) {
  using Out = core::Result<std::optional<std::string>>;
  return guarded(
      "webhook_secret",
      [&]() -> Out {
        return run_write<std::optional<std::string>>(*writer_, [&](Connection& c) -> Out {
          if (!candidate.empty()) {
            auto st = c.prepare(detail::kSetSecretIfNone, "webhook_secret");
            if (!st.ok()) {
              return st.error();
            }
            st->bind(1, account_id);
            st->bind(2, candidate);
            if (int rc = st->step(); rc != SQLITE_DONE) {
              return c.error(rc, "webhook_secret");
            }
          }
          return detail::read_secret(c, account_id);
        });
      },
      [] { return Out(internal("webhook_secret")); });
}

core::Result<bool> SqliteStore::set_webhook_secret(std::int64_t account_id,
                                                   const std::string& secret) {
  return guarded(
      "set_webhook_secret",
      [&] {
        return run_write<bool>(*writer_, [&](Connection& c) -> core::Result<bool> {
          auto st = c.prepare(detail::kSetSecret, "set_webhook_secret");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, account_id);
          st->bind(2, secret);
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "set_webhook_secret");
          }
          return st->changes() == 1;
        });
      },
      [] { return core::Result<bool>(internal("set_webhook_secret")); });
}

}  // namespace ig::store
