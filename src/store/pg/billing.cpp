// Accounts, keys and the ledger of PgStore (see store.hpp), and the billing steps of its task
// writes (billing.hpp).

#include "store/pg/billing.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "billing/money.hpp"
#include "store/pg/ops.hpp"
#include "store/pg/pg_store.hpp"
#include "store/pg/rows.hpp"
#include "store/pg/statements.hpp"

namespace ig::store {

namespace pg {
namespace {

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;

core::Error active_limited(std::int64_t active) {
  auto e = core::make_error(core::ErrorCode::kTooManyActive,
                            "this API key already has " + std::to_string(active) +
                                " tasks queued or running, its limit; wait for one to finish");
  e.retry_after_s = 1;
  return e;
}

// The spend windows: hourly, daily and total (0: since ever). The hold about to be made
// counts too.
core::Status check_spend(Connection& c, const core::Task& task, const std::int64_t (&limits)[3]) {
  static constexpr const char* kWindowNames[3] = {"hourly", "daily", "total"};
  static constexpr std::int64_t kWindows[3] = {kHourMs, kDayMs, 0};
  for (int i = 0; i < 3; ++i) {
    if (limits[i] <= 0) {
      continue;
    }
    const std::int64_t since = kWindows[i] == 0 ? 0 : task.created_ms - kWindows[i] + 1;
    auto rows = c.exec(sql::kSpentSince, Params(task.key_id, since), "spend limit");
    if (!rows.ok()) {
      return rows.error();
    }
    const std::int64_t spent = (*rows)[0].int64(0);
    const std::int64_t oldest = (*rows)[0].int64(1);
    if (spent + task.price <= limits[i]) {
      continue;
    }
    auto e =
        core::make_error(core::ErrorCode::kSpendLimited,
                         std::string("this API key's ") + kWindowNames[i] + " spend limit of " +
                             billing::format_credits(limits[i]) +
                             " credits would be exceeded (spent " + billing::format_credits(spent) +
                             ", this task costs " + billing::format_credits(task.price) + ")");
    // A window frees what its oldest hold counted when that hold leaves it; the total never
    // does (a refund or a higher limit is what helps).
    if (kWindows[i] != 0 && oldest != 0) {
      const std::int64_t free_at = oldest + kWindows[i];
      e.retry_after_s = std::max<std::int64_t>(1, (free_at - task.created_ms + 999) / 1000);
    }
    return e;
  }
  return core::ok_status();
}

}  // namespace

core::Status write_ledger(Connection& c, std::int64_t account, std::string_view kind,
                          std::int64_t amount, std::int64_t price, std::int64_t task_row,
                          std::int64_t key_id, const std::string& reason, std::int64_t now_ms) {
  auto row = c.exec(sql::kInsertLedger,
                    Params(account, kind, amount, price, null_if_zero(task_row),
                           null_if_zero(key_id), reason, now_ms),
                    "ledger");
  if (!row.ok()) {
    return row.error();
  }
  if (amount == 0) {
    return core::ok_status();
  }
  if (auto moved = c.exec(sql::kMoveBalance, Params(account, amount), "ledger"); !moved.ok()) {
    return moved.error();
  }
  return core::ok_status();
}

core::Result<std::optional<Payer>> check_new_task(Connection& c, const core::Task& task) {
  if (task.key_id == 0) {
    return std::optional<Payer>();
  }
  auto rows = c.exec(sql::kPayerOfKey, Params(task.key_id), "insert_task");
  if (!rows.ok()) {
    return rows.error();
  }
  if (rows->empty()) {
    spdlog::error("store: task {} names unknown key {}", task.id, task.key_id);
    return core::make_error(core::ErrorCode::kInternal, "store: insert_task failed");
  }
  const Row r = (*rows)[0];
  const Payer payer{r.int64(1), task.key_id};
  const std::int64_t max_active = r.int64(2);
  const std::int64_t limits[3] = {r.int64(3), r.int64(4), r.int64(5)};
  const bool metered = r.boolean(6);
  const std::int64_t balance = r.int64(7);
  if (r.boolean(0)) {
    return core::make_error(core::ErrorCode::kUnauthorized, "this API key is disabled");
  }
  if (max_active > 0) {
    // Read after the account's lock was granted: every create of this key that committed
    // before is counted.
    auto active = query_int(c, sql::kCountActive, Params(task.key_id), "insert_task");
    if (!active.ok()) {
      return active.error();
    }
    if (*active >= max_active) {
      return active_limited(*active);
    }
  }
  if (auto s = check_spend(c, task, limits); !s.ok()) {
    return s.error();
  }
  if (metered && balance < task.price) {
    return core::make_error(core::ErrorCode::kInsufficientCredits,
                            "insufficient credits: this task costs " +
                                billing::format_credits(task.price) +
                                " credits and the balance is " + billing::format_credits(balance));
  }
  return std::optional<Payer>(payer);
}

core::Status hold(Connection& c, const Payer& payer, const core::Task& task,
                  std::int64_t task_row) {
  return write_ledger(c, payer.account_id, "hold", -task.price, task.price, task_row, payer.key_id,
                      "", task.created_ms);
}

core::Status settle(Connection& c, std::int64_t task_row, bool capture, std::int64_t now_ms) {
  auto rows = c.exec(sql::kHoldOfTask, Params(task_row), "settle");
  if (!rows.ok()) {
    return rows.error();
  }
  if (rows->empty()) {
    return core::ok_status();  // a task without a key, or from before billing
  }
  const Row r = (*rows)[0];
  const std::int64_t price = r.int64(1);
  return write_ledger(c, r.int64(0), capture ? "capture" : "refund", capture ? 0 : price, price,
                      task_row, r.int64(2), "", now_ms);
}

}  // namespace pg

using pg::Connection;
using pg::in_transaction;
using pg::Params;
using pg::with_connection;
namespace sql = pg::sql;

namespace {

core::Result<std::optional<ApiKey>> key_by_id(Connection& c, const char* query, std::int64_t id,
                                              std::string_view what) {
  return pg::query_one<ApiKey>(c, query, Params(id), what, pg::read_key);
}

core::Result<std::optional<Account>> account_by_id(Connection& c, std::int64_t id,
                                                   std::string_view what) {
  return pg::query_one<Account>(c, sql::kAccountById, Params(id), what, pg::read_account);
}

Params key_params(const ApiKey& k) {
  return Params(k.name, k.prefix.empty() ? std::optional<std::string>() : k.prefix, k.secret_hash,
                k.disabled, k.account_id, k.limits.rpm, k.limits.max_active, k.limits.spend_hourly,
                k.limits.spend_daily, k.limits.spend_total, pg::join_list(k.limits.ip_allowlist),
                k.created_ms);
}

core::Error invalid(std::string message) {
  return core::make_error(core::ErrorCode::kInvalidRequest, std::move(message));
}

// The writes of create_key_in_account, in its transaction.
core::Result<ApiKey> create_key_tx(Connection& c, ApiKey stored,
                                   std::optional<std::int64_t> credits) {
  if (stored.account_id == 0) {
    auto id =
        pg::query_int(c, sql::kInsertAccount,
                      Params(stored.name, credits.has_value(), stored.created_ms), "create_key");
    if (!id.ok()) {
      return id.error();
    }
    stored.account_id = *id;
  } else {
    auto exists = account_by_id(c, stored.account_id, "create_key");
    if (!exists.ok()) {
      return exists.error();
    }
    if (!*exists) {
      return core::make_error(core::ErrorCode::kNotFound,
                              "no account " + std::to_string(stored.account_id));
    }
  }
  if (credits && *credits > 0) {
    if (auto s = pg::write_ledger(c, stored.account_id, "topup", *credits, 0, 0, 0,
                                  "initial credits", stored.created_ms);
        !s.ok()) {
      return s.error();
    }
  }
  if (credits) {
    // Credits given make the account metered, a new one or an existing one.
    if (auto s = c.exec(sql::kMakeMetered, Params(stored.account_id), "create_key"); !s.ok()) {
      return s.error();
    }
  }
  auto id = pg::query_int(c, sql::kInsertKey, key_params(stored), "create_key");
  if (!id.ok()) {
    return id.error();
  }
  stored.id = *id;
  return stored;
}

void apply(const KeyPatch& patch, ApiKey& k) {
  if (patch.name) {
    k.name = *patch.name;
  }
  if (patch.disabled) {
    k.disabled = *patch.disabled;
  }
  if (patch.rpm) {
    k.limits.rpm = *patch.rpm;
  }
  if (patch.max_active) {
    k.limits.max_active = *patch.max_active;
  }
  if (patch.spend_hourly) {
    k.limits.spend_hourly = *patch.spend_hourly;
  }
  if (patch.spend_daily) {
    k.limits.spend_daily = *patch.spend_daily;
  }
  if (patch.spend_total) {
    k.limits.spend_total = *patch.spend_total;
  }
  if (patch.ip_allowlist) {
    k.limits.ip_allowlist = *patch.ip_allowlist;
  }
}

}  // namespace

core::Result<ApiKey> PgStore::create_key(const ApiKey& key) {
  return create_key_in_account(key, std::nullopt);
}

core::Result<ApiKey> PgStore::create_key_in_account(const ApiKey& key,
                                                    std::optional<std::int64_t> credits) {
  if (key.secret_hash.empty()) {
    return invalid("store: key has no secret hash");
  }
  if (credits && *credits < 0) {
    return invalid("credits must not be negative");
  }
  ApiKey stored = key;
  if (stored.created_ms == 0) {
    stored.created_ms = pg::wall_ms();
  }
  return in_transaction<ApiKey>(*pool_, "create_key",
                                [&](Connection& c) { return create_key_tx(c, stored, credits); });
}

core::Result<std::optional<ApiKey>> PgStore::get_key(std::int64_t id) {
  return with_connection<std::optional<ApiKey>>(
      *pool_, "get_key", [&](Connection& c) { return key_by_id(c, sql::kKeyById, id, "get_key"); });
}

core::Result<std::vector<ApiKey>> PgStore::list_keys() {
  return with_connection<std::vector<ApiKey>>(*pool_, "list_keys", [&](Connection& c) {
    return pg::query_rows<ApiKey>(c, sql::kListKeys, Params(), "list_keys", pg::read_key);
  });
}

core::Result<std::optional<ApiKey>> PgStore::update_key(std::int64_t id, const KeyPatch& patch) {
  using Out = core::Result<std::optional<ApiKey>>;
  return in_transaction<std::optional<ApiKey>>(*pool_, "update_key", [&](Connection& c) -> Out {
    auto current = key_by_id(c, sql::kKeyByIdForUpdate, id, "update_key");
    if (!current.ok() || !*current) {
      return current;
    }
    ApiKey k = std::move(**current);
    apply(patch, k);
    auto updated = c.exec(
        sql::kUpdateKey,
        Params(id, k.name, k.disabled, k.limits.rpm, k.limits.max_active, k.limits.spend_hourly,
               k.limits.spend_daily, k.limits.spend_total, pg::join_list(k.limits.ip_allowlist)),
        "update_key");
    if (!updated.ok()) {
      return updated.error();
    }
    return std::optional<ApiKey>(std::move(k));
  });
}

core::Result<std::optional<ApiKey>> PgStore::rotate_key(std::int64_t id, const std::string& prefix,
                                                        const std::string& secret_hash) {
  using Out = core::Result<std::optional<ApiKey>>;
  if (secret_hash.empty()) {
    return invalid("store: key has no secret hash");
  }
  return in_transaction<std::optional<ApiKey>>(*pool_, "rotate_key", [&](Connection& c) -> Out {
    auto n = pg::affected(
        c, sql::kRotateKey,
        Params(id, prefix.empty() ? std::optional<std::string>() : prefix, secret_hash),
        "rotate_key");
    if (!n.ok()) {
      return n.error();
    }
    if (*n == 0) {
      return std::optional<ApiKey>();
    }
    return key_by_id(c, sql::kKeyById, id, "rotate_key");
  });
}

core::Result<std::optional<Account>> PgStore::get_account(std::int64_t id) {
  return with_connection<std::optional<Account>>(
      *pool_, "get_account", [&](Connection& c) { return account_by_id(c, id, "get_account"); });
}

core::Result<std::optional<Account>> PgStore::add_credits(std::int64_t account_id,
                                                          const std::string& kind,
                                                          std::int64_t amount,
                                                          const std::string& reason,
                                                          std::int64_t now_ms) {
  using Out = core::Result<std::optional<Account>>;
  if (kind == "topup" && amount <= 0) {
    return invalid("a top-up must be more than 0 credits");
  }
  if (kind == "adjust" && amount == 0) {
    return invalid("an adjustment must not be 0 credits");
  }
  if (kind != "topup" && kind != "adjust") {
    return invalid("credits are added as a topup or an adjust");
  }
  return in_transaction<std::optional<Account>>(*pool_, "add_credits", [&](Connection& c) -> Out {
    auto exists = account_by_id(c, account_id, "add_credits");
    if (!exists.ok() || !*exists) {
      return exists;
    }
    if (auto s = pg::write_ledger(c, account_id, kind, amount, 0, 0, 0, reason, now_ms); !s.ok()) {
      return s.error();
    }
    if (kind == "topup") {
      if (auto s = c.exec(sql::kMakeMetered, Params(account_id), "add_credits"); !s.ok()) {
        return s.error();
      }
    }
    return account_by_id(c, account_id, "add_credits");
  });
}

core::Result<std::vector<LedgerEntry>> PgStore::list_ledger(std::int64_t account_id) {
  return with_connection<std::vector<LedgerEntry>>(*pool_, "list_ledger", [&](Connection& c) {
    return pg::query_rows<LedgerEntry>(c, sql::kListLedger, Params(account_id), "list_ledger",
                                       pg::read_ledger_entry);
  });
}

}  // namespace ig::store
