// The callback outbox of PgStore (see store.hpp): rows written with a task's terminal state
// (enqueue_callback, in that transaction), leased by a sender on any node with
// FOR UPDATE SKIP LOCKED, every attempt recorded.

#include <utility>

#include "store/pg/billing.hpp"
#include "store/pg/ops.hpp"
#include "store/pg/pg_store.hpp"
#include "store/row_readers.hpp"

namespace ig::store {

namespace pg {
namespace {

// A msg_id per callback: "msg_" and 24 hex digits of a random UUID (gen_random_uuid is built
// into PostgreSQL >= 13).
constexpr char kEnqueue[] =
    "INSERT INTO callbacks (task_row, url, msg_id, state, next_ms, created_ms, updated_ms) "
    "SELECT row_id, request_json::json ->> 'callback_url', "
    "'msg_' || left(replace(gen_random_uuid()::text, '-', ''), 24), 'pending', $2, $2, $2 "
    "FROM tasks WHERE row_id = $1 "
    "AND COALESCE(request_json::json ->> 'callback_url', '') <> '' "
    "ON CONFLICT (task_row) DO NOTHING";

#define IG_CALLBACK_COLUMNS                                                                 \
  "c.id, c.task_row, t.id, c.url, c.msg_id, c.state, c.attempts, c.next_ms, c.created_ms, " \
  "COALESCE(a.id, 0), COALESCE(a.webhook_secret, '')"
#define IG_CALLBACK_JOIN                   \
  " JOIN tasks t ON t.row_id = c.task_row" \
  " LEFT JOIN api_keys k ON k.id = t.key_id LEFT JOIN accounts a ON a.id = k.account_id"

// Leases the due rows no other sender holds (locked rows are skipped, not waited for).
constexpr char kClaim[] =
    "WITH due AS (SELECT id FROM callbacks WHERE state = 'pending' AND next_ms <= $2 "
    "  AND lease_until_ms < $2 ORDER BY next_ms, id LIMIT $1 FOR UPDATE SKIP LOCKED), "
    "leased AS (UPDATE callbacks SET lease_until_ms = $3, updated_ms = $2 FROM due "
    "  WHERE callbacks.id = due.id RETURNING callbacks.*) "
    "SELECT " IG_CALLBACK_COLUMNS " FROM leased c" IG_CALLBACK_JOIN " ORDER BY c.next_ms, c.id";
constexpr char kOfTask[] =
    "SELECT " IG_CALLBACK_COLUMNS " FROM callbacks c" IG_CALLBACK_JOIN " WHERE c.task_row = $1";
constexpr char kAttemptsOf[] =
    "SELECT started_ms, http_status, latency_ms, error FROM callback_attempts "
    "WHERE callback_id = $1 ORDER BY id";
constexpr char kInsertAttempt[] =
    "INSERT INTO callback_attempts (callback_id, started_ms, http_status, latency_ms, error) "
    "VALUES ($1, $2, $3, $4, $5)";
constexpr char kAfterAttempt[] =
    "UPDATE callbacks SET state = $2, next_ms = $3, attempts = attempts + 1, lease_until_ms = 0, "
    "updated_ms = $4 WHERE id = $1";
constexpr char kRedeliver[] =
    "UPDATE callbacks SET state = 'pending', next_ms = $2, attempts = 0, lease_until_ms = 0, "
    "updated_ms = $2 WHERE task_row = $1";
// A row being delivered (leased) is due again only when its lease runs out.
constexpr char kNextDue[] =
    "SELECT MIN(GREATEST(next_ms, lease_until_ms + 1)) FROM callbacks WHERE state = 'pending'";
constexpr char kSecretOf[] = "SELECT webhook_secret FROM accounts WHERE id = $1";
constexpr char kSetSecretIfNone[] =
    "UPDATE accounts SET webhook_secret = $2 WHERE id = $1 AND webhook_secret = ''";
constexpr char kSetSecret[] = "UPDATE accounts SET webhook_secret = $2 WHERE id = $1";

#undef IG_CALLBACK_COLUMNS
#undef IG_CALLBACK_JOIN

CallbackDelivery read_delivery(const Row& r) {
  return rows::delivery(r);
}

CallbackAttempt read_attempt(const Row& r) {
  return rows::callback_attempt(r);
}

}  // namespace

core::Status enqueue_callback(Connection& c, std::int64_t task_row, std::int64_t now_ms) {
  auto r = c.exec(kEnqueue, Params(task_row, now_ms), "enqueue_callback");
  if (!r.ok()) {
    return r.error();
  }
  return core::ok_status();
}

}  // namespace pg

using pg::Connection;
using pg::Params;

core::Result<std::vector<CallbackDelivery>> PgStore::claim_callbacks(int max, std::int64_t now_ms,
                                                                     std::int64_t lease_until_ms) {
  return pg::with_connection<std::vector<CallbackDelivery>>(
      *pool_, "claim_callbacks", [&](Connection& c) {
        return pg::query_rows<CallbackDelivery>(c, pg::kClaim,
                                                Params(std::int64_t{max}, now_ms, lease_until_ms),
                                                "claim_callbacks", pg::read_delivery);
      });
}

core::Status PgStore::record_callback_attempt(std::int64_t callback_id,
                                              const CallbackAttempt& attempt,
                                              const std::string& state, std::int64_t next_ms) {
  if (state != "pending" && state != "delivered" && state != "failed") {
    return core::make_error(core::ErrorCode::kInvalidRequest, "store: bad callback state");
  }
  return pg::in_transaction<core::Ok>(
      *pool_, "record_callback_attempt", [&](Connection& c) -> core::Result<core::Ok> {
        auto inserted = c.exec(pg::kInsertAttempt,
                               Params(callback_id, attempt.started_ms, attempt.http_status,
                                      attempt.latency_ms, attempt.error),
                               "record_callback_attempt");
        if (!inserted.ok()) {
          return inserted.error();
        }
        auto updated =
            c.exec(pg::kAfterAttempt,
                   Params(callback_id, state, next_ms, attempt.started_ms + attempt.latency_ms),
                   "record_callback_attempt");
        if (!updated.ok()) {
          return updated.error();
        }
        return core::Ok{};
      });
}

core::Result<std::optional<std::pair<CallbackDelivery, std::vector<CallbackAttempt>>>>
PgStore::task_callback(std::int64_t task_row) {
  using Value = std::optional<std::pair<CallbackDelivery, std::vector<CallbackAttempt>>>;
  return pg::in_snapshot<Value>(*pool_, "task_callback", [&](Connection& c) -> core::Result<Value> {
    auto delivery = pg::query_one<CallbackDelivery>(c, pg::kOfTask, Params(task_row),
                                                    "task_callback", pg::read_delivery);
    if (!delivery.ok()) {
      return delivery.error();
    }
    if (!*delivery) {
      return Value();
    }
    auto attempts = pg::query_rows<CallbackAttempt>(c, pg::kAttemptsOf, Params((*delivery)->id),
                                                    "task_callback", pg::read_attempt);
    if (!attempts.ok()) {
      return attempts.error();
    }
    return Value(std::pair(std::move(**delivery), std::move(*attempts)));
  });
}

core::Result<bool> PgStore::redeliver_callback(std::int64_t task_row, std::int64_t now_ms) {
  return pg::with_connection<bool>(
      *pool_, "redeliver_callback", [&](Connection& c) -> core::Result<bool> {
        auto n = pg::affected(c, pg::kRedeliver, Params(task_row, now_ms), "redeliver_callback");
        if (!n.ok()) {
          return n.error();
        }
        return *n == 1;
      });
}

core::Result<std::optional<std::int64_t>> PgStore::next_callback_due() {
  using Out = core::Result<std::optional<std::int64_t>>;
  return pg::with_connection<std::optional<std::int64_t>>(
      *pool_, "next_callback_due", [&](Connection& c) -> Out {
        auto rows = c.exec(pg::kNextDue, Params(), "next_callback_due");
        if (!rows.ok()) {
          return rows.error();
        }
        if ((*rows)[0].is_null(0)) {
          return std::optional<std::int64_t>();
        }
        return std::optional<std::int64_t>((*rows)[0].int64(0));
      });
}

core::Result<std::optional<std::string>> PgStore::webhook_secret(std::int64_t account_id,
                                                                 const std::string& candidate) {
  using Out = core::Result<std::optional<std::string>>;
  return pg::in_transaction<std::optional<std::string>>(
      *pool_, "webhook_secret", [&](Connection& c) -> Out {
        if (!candidate.empty()) {
          // Conditional: of two nodes setting a first secret at once, one wins, and both
          // read the winner's below.
          auto set = c.exec(pg::kSetSecretIfNone, Params(account_id, candidate), "webhook_secret");
          if (!set.ok()) {
            return set.error();
          }
        }
        return pg::query_one<std::string>(c, pg::kSecretOf, Params(account_id), "webhook_secret",
                                          [](const pg::Row& r) { return r.text(0); });
      });
}

core::Result<bool> PgStore::set_webhook_secret(std::int64_t account_id, const std::string& secret) {
  return pg::with_connection<bool>(
      *pool_, "set_webhook_secret", [&](Connection& c) -> core::Result<bool> {
        auto n = pg::affected(c, pg::kSetSecret, Params(account_id, secret), "set_webhook_secret");
        if (!n.ok()) {
          return n.error();
        }
        return *n == 1;
      });
}

}  // namespace ig::store
