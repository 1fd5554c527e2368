// Accounts, keys and the ledger of SqliteStore (see store.hpp), and the billing steps of its
// task writes (billing.hpp).

#include "store/sqlite/billing.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "billing/money.hpp"
#include "store/sqlite/ops.hpp"
#include "store/sqlite/rows.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/statements.hpp"
#include "store/row_readers.hpp"

namespace ig::store {

namespace detail {
namespace {

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;

}  // namespace

core::Status write_ledger(Connection& c, std::int64_t account, std::string_view kind,
                          std::int64_t amount, std::int64_t price, std::int64_t task_row,
                          std::int64_t key_id, const std::string& reason, std::int64_t now_ms) {
  auto st = c.prepare(sql::kInsertLedger, "ledger");
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, account);
  st->bind(2, kind);
  st->bind(3, amount);
  st->bind(4, price);
  if (task_row == 0) {
    st->bind_null(5);
  } else {
    st->bind(5, task_row);
  }
  if (key_id == 0) {
    st->bind_null(6);
  } else {
    st->bind(6, key_id);
  }
  st->bind(7, reason);
  st->bind(8, now_ms);
  if (int rc = st->step(); rc != SQLITE_DONE) {
    return c.error(rc, "ledger");
  }
  if (amount == 0) {
    return core::ok_status();
  }
  auto move = c.prepare(sql::kMoveBalance, "ledger");
  if (!move.ok()) {
    return move.error();
  }
  move->bind(1, account);
  move->bind(2, amount);
  if (int rc = move->step(); rc != SQLITE_DONE) {
    return c.error(rc, "ledger");
  }
  return core::ok_status();
}

namespace {

// What the key has held since `since_ms` and not had refunded, and its oldest such hold.
core::Result<std::pair<std::int64_t, std::int64_t>> spent_since(Connection& c, std::int64_t key,
                                                                std::int64_t since_ms) {
  auto st = c.prepare(sql::kSpentSince, "spend limit");
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, key);
  st->bind(2, since_ms);
  if (int rc = st->step(); rc != SQLITE_ROW) {
    return c.error(rc, "spend limit");
  }
  return std::pair(st->int64(0), st->int64(1));
}

}  // namespace

core::Result<std::optional<Payer>> check_new_task(Connection& c, const core::Task& task) {
  if (task.key_id == 0) {
    return std::optional<Payer>();
  }
  auto st = c.prepare(sql::kPayerOfKey, "insert_task");
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, task.key_id);
  int rc = st->step();
  if (rc == SQLITE_DONE) {
    spdlog::error("store: task {} names unknown key {}", task.id, task.key_id);
    return core::make_error(core::ErrorCode::kInternal, "store: insert_task failed");
  }
  if (rc != SQLITE_ROW) {
    return c.error(rc, "insert_task");
  }
  const bool disabled = st->int64(0) != 0;
  const Payer payer{st->int64(1), task.key_id};
  const std::int64_t max_active = st->int64(2);
  const std::int64_t limits[3] = {st->int64(3), st->int64(4), st->int64(5)};
  const bool metered = st->int64(6) != 0;
  const std::int64_t balance = st->int64(7);
  if (disabled) {
    return core::make_error(core::ErrorCode::kUnauthorized, "this API key is disabled");
  }
  if (max_active > 0) {
    auto count = c.prepare(sql::kCountActive, "insert_task");
    if (!count.ok()) {
      return count.error();
    }
    count->bind(1, task.key_id);
    if (int crc = count->step(); crc != SQLITE_ROW) {
      return c.error(crc, "insert_task");
    }
    if (count->int64(0) >= max_active) {
      auto e = core::make_error(core::ErrorCode::kTooManyActive,
                                "this API key already has " + std::to_string(count->int64(0)) +
                                    " tasks queued or running, its limit; wait for one to "
                                    "finish");
      e.retry_after_s = 1;
      return e;
    }
  }
  // Spend limits: hourly, daily, total. The hold about to be made counts too.
  static constexpr const char* kWindowNames[3] = {"hourly", "daily", "total"};
  static constexpr std::int64_t kWindows[3] = {kHourMs, kDayMs, 0};
  for (int i = 0; i < 3; ++i) {
    if (limits[i] <= 0) {
      continue;
    }
    const std::int64_t since = kWindows[i] == 0 ? 0 : task.created_ms - kWindows[i] + 1;
    auto spent = spent_since(c, task.key_id, since);
    if (!spent.ok()) {
      return spent.error();
    }
    if (spent->first + task.price > limits[i]) {
      auto e = core::make_error(
          core::ErrorCode::kSpendLimited,
          std::string("this API key's ") + kWindowNames[i] + " spend limit of " +
              billing::format_credits(limits[i]) + " credits would be exceeded (spent " +
              billing::format_credits(spent->first) + ", this task costs " +
              billing::format_credits(task.price) + ")");
      // A window frees what its oldest hold counted when that hold leaves it; the total
      // never does (a refund or a higher limit is what helps).
      if (kWindows[i] != 0 && spent->second != 0) {
        const std::int64_t free_at = spent->second + kWindows[i];
        e.retry_after_s = std::max<std::int64_t>(1, (free_at - task.created_ms + 999) / 1000);
      }
      return e;
    }
  }
  if (metered && balance < task.price) {
    return core::make_error(core::ErrorCode::kInsufficientCredits,
                            "insufficient credits: this task costs " +
                                billing::format_credits(task.price) +
                                " credits and the balance is " +
                                billing::format_credits(balance));
  }
  return std::optional<Payer>(payer);
}

core::Status hold(Connection& c, const Payer& payer, const core::Task& task,
                  std::int64_t task_row) {
  return write_ledger(c, payer.account_id, "hold", -task.price, task.price, task_row,
                      payer.key_id, "", task.created_ms);
}

core::Status settle(Connection& c, std::int64_t task_row, bool capture, std::int64_t now_ms) {
  auto st = c.prepare(sql::kHoldOfTask, "settle");
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, task_row);
  int rc = st->step();
  if (rc == SQLITE_DONE) {
    return core::ok_status();  // a task without a key, or from before billing
  }
  if (rc != SQLITE_ROW) {
    return c.error(rc, "settle");
  }
  const std::int64_t account = st->int64(0);
  const std::int64_t price = st->int64(1);
  const std::int64_t key = st->int64(2);
  return write_ledger(c, account, capture ? "capture" : "refund", capture ? 0 : price, price,
                      task_row, key, "", now_ms);
}

}  // namespace detail

using detail::Connection;
using detail::guarded;
using detail::internal;
using detail::run_write;
namespace sql = detail::sql;

namespace {

core::Result<std::optional<ApiKey>> key_by_id(Connection& c, std::int64_t id,
                                              std::string_view what) {
  auto st = c.prepare(sql::kKeyById, what);
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, id);
  int rc = st->step();
  if (rc == SQLITE_ROW) {
    return std::optional<ApiKey>(detail::read_key(*st));
  }
  if (rc != SQLITE_DONE) {
    return c.error(rc, what);
  }
  return std::optional<ApiKey>();
}

core::Result<std::optional<Account>> account_by_id(Connection& c, std::int64_t id,
                                                   std::string_view what) {
  auto st = c.prepare(sql::kAccountById, what);
  if (!st.ok()) {
    return st.error();
  }
  st->bind(1, id);
  int rc = st->step();
  if (rc == SQLITE_DONE) {
    return std::optional<Account>();
  }
  if (rc != SQLITE_ROW) {
    return c.error(rc, what);
  }
  return std::optional<Account>(rows::account(*st));
}

void bind_key(detail::Statement& st, const ApiKey& k) {
  st.bind(1, k.name);
  if (k.prefix.empty()) {
    st.bind_null(2);
  } else {
    st.bind(2, k.prefix);
  }
  st.bind(3, k.secret_hash);
  st.bind(4, std::int64_t{k.disabled ? 1 : 0});
  st.bind(5, k.account_id);
  st.bind(6, std::int64_t{k.limits.rpm});
  st.bind(7, std::int64_t{k.limits.max_active});
  st.bind(8, k.limits.spend_hourly);
  st.bind(9, k.limits.spend_daily);
  st.bind(10, k.limits.spend_total);
  st.bind(11, detail::join_list(k.limits.ip_allowlist));
  st.bind(12, k.created_ms);
}

core::Error invalid(std::string message) {
  return core::make_error(core::ErrorCode::kInvalidRequest, std::move(message));
}

}  // namespace

core::Result<ApiKey> SqliteStore::create_key(const ApiKey& key) {
  return create_key_in_account(key, std::nullopt);
}

core::Result<ApiKey> SqliteStore::create_key_in_account(const ApiKey& key,
                                                        std::optional<std::int64_t> credits) {
  if (key.secret_hash.empty()) {
    return invalid("store: key has no secret hash");
  }
  if (credits && *credits < 0) {
    return invalid("credits must not be negative");
  }
  return guarded(
      "create_key",
      [&]() -> core::Result<ApiKey> {
        ApiKey given = key;
        if (given.created_ms == 0) {
          given.created_ms = detail::wall_ms();
        }
        return run_write<ApiKey>(*writer_, [&](Connection& c) -> core::Result<ApiKey> {
          // A copy per run: the writer may run an operation twice (writer.hpp).
          ApiKey stored = given;
          if (stored.account_id == 0) {
            auto st = c.prepare(sql::kInsertAccount, "create_key");
            if (!st.ok()) {
              return st.error();
            }
            st->bind(1, stored.name);
            st->bind(2, std::int64_t{credits ? 1 : 0});
            st->bind(3, stored.created_ms);
            if (int rc = st->step(); rc != SQLITE_DONE) {
              return c.error(rc, "create_key");
            }
            stored.account_id = sqlite3_last_insert_rowid(c.handle());
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
            if (auto s = detail::write_ledger(c, stored.account_id, "topup", *credits, 0, 0, 0,
                                              "initial credits", stored.created_ms);
                !s.ok()) {
              return s.error();
            }
          }
          if (credits) {
            // Credits given make the account metered, a new one or an existing one.
            auto st = c.prepare(sql::kMakeMetered, "create_key");
            if (!st.ok()) {
              return st.error();
            }
            st->bind(1, stored.account_id);
            if (int rc = st->step(); rc != SQLITE_DONE) {
              return c.error(rc, "create_key");
            }
          }
          auto st = c.prepare(sql::kInsertKey, "create_key");
          if (!st.ok()) {
            return st.error();
          }
          bind_key(*st, stored);
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "create_key");
          }
          stored.id = sqlite3_last_insert_rowid(c.handle());
          return stored;
        });
      },
      [] { return core::Result<ApiKey>(internal("create_key")); });
}

core::Result<std::optional<ApiKey>> SqliteStore::get_key(std::int64_t id) {
  return guarded(
      "get_key",
      [&]() -> core::Result<std::optional<ApiKey>> {
        Connection* c = reader();
        if (c == nullptr) {
          return detail::no_reader("get_key");
        }
        return key_by_id(*c, id, "get_key");
      },
      [] { return core::Result<std::optional<ApiKey>>(internal("get_key")); });
}

core::Result<std::vector<ApiKey>> SqliteStore::list_keys() {
  return guarded(
      "list_keys",
      [&]() -> core::Result<std::vector<ApiKey>> {
        Connection* c = reader();
        if (c == nullptr) {
          return detail::no_reader("list_keys");
        }
        auto st = c->prepare(sql::kListKeys, "list_keys");
        if (!st.ok()) {
          return st.error();
        }
        std::vector<ApiKey> out;
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          out.push_back(detail::read_key(*st));
        }
        if (rc != SQLITE_DONE) {
          return c->error(rc, "list_keys");
        }
        return out;
      },
      [] { return core::Result<std::vector<ApiKey>>(internal("list_keys")); });
}

core::Result<std::optional<ApiKey>> SqliteStore::update_key(std::int64_t id,
                                                            const KeyPatch& patch) {
  using Out = core::Result<std::optional<ApiKey>>;
  return guarded(
      "update_key",
      [&]() -> Out {
        return run_write<std::optional<ApiKey>>(*writer_, [&](Connection& c) -> Out {
          auto current = key_by_id(c, id, "update_key");
          if (!current.ok() || !*current) {
            return current;
          }
          ApiKey k = std::move(**current);
          if (patch.name) k.name = *patch.name;
          if (patch.disabled) k.disabled = *patch.disabled;
          if (patch.rpm) k.limits.rpm = *patch.rpm;
          if (patch.max_active) k.limits.max_active = *patch.max_active;
          if (patch.spend_hourly) k.limits.spend_hourly = *patch.spend_hourly;
          if (patch.spend_daily) k.limits.spend_daily = *patch.spend_daily;
          if (patch.spend_total) k.limits.spend_total = *patch.spend_total;
          if (patch.ip_allowlist) k.limits.ip_allowlist = *patch.ip_allowlist;
          auto st = c.prepare(sql::kUpdateKey, "update_key");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, id);
          st->bind(2, k.name);
          st->bind(3, std::int64_t{k.disabled ? 1 : 0});
          st->bind(4, std::int64_t{k.limits.rpm});
          st->bind(5, std::int64_t{k.limits.max_active});
          st->bind(6, k.limits.spend_hourly);
          st->bind(7, k.limits.spend_daily);
          st->bind(8, k.limits.spend_total);
          st->bind(9, detail::join_list(k.limits.ip_allowlist));
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "update_key");
          }
          return std::optional<ApiKey>(std::move(k));
        });
      },
      [] { return Out(internal("update_key")); });
}

core::Result<std::optional<ApiKey>> SqliteStore::rotate_key(std::int64_t id,
                                                            const std::string& prefix,
                                                            const std::string& secret_hash) {
  using Out = core::Result<std::optional<ApiKey>>;
  if (secret_hash.empty()) {
    return invalid("store: key has no secret hash");
  }
  return guarded(
      "rotate_key",
      [&]() -> Out {
        return run_write<std::optional<ApiKey>>(*writer_, [&](Connection& c) -> Out {
          auto st = c.prepare(sql::kRotateKey, "rotate_key");
          if (!st.ok()) {
            return st.error();
          }
          st->bind(1, id);
          if (prefix.empty()) {
            st->bind_null(2);
          } else {
            st->bind(2, prefix);
          }
          st->bind(3, secret_hash);
          if (int rc = st->step(); rc != SQLITE_DONE) {
            return c.error(rc, "rotate_key");
          }
          if (st->changes() == 0) {
            return std::optional<ApiKey>();
          }
          return key_by_id(c, id, "rotate_key");
        });
      },
      [] { return Out(internal("rotate_key")); });
}

core::Result<std::optional<Account>> SqliteStore::get_account(std::int64_t id) {
  return guarded(
      "get_account",
      [&]() -> core::Result<std::optional<Account>> {
        Connection* c = reader();
        if (c == nullptr) {
          return detail::no_reader("get_account");
        }
        return account_by_id(*c, id, "get_account");
      },
      [] { return core::Result<std::optional<Account>>(internal("get_account")); });
}

core::Result<std::optional<Account>> SqliteStore::add_credits(std::int64_t account_id,
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
  return guarded(
      "add_credits",
      [&]() -> Out {
        return run_write<std::optional<Account>>(*writer_, [&](Connection& c) -> Out {
          auto exists = account_by_id(c, account_id, "add_credits");
          if (!exists.ok() || !*exists) {
            return exists;
          }
          if (auto s = detail::write_ledger(c, account_id, kind, amount, 0, 0, 0, reason, now_ms);
              !s.ok()) {
            return s.error();
          }
          if (kind == "topup") {
            auto st = c.prepare(sql::kMakeMetered, "add_credits");
            if (!st.ok()) {
              return st.error();
            }
            st->bind(1, account_id);
            if (int rc = st->step(); rc != SQLITE_DONE) {
              return c.error(rc, "add_credits");
            }
          }
          return account_by_id(c, account_id, "add_credits");
        });
      },
      [] { return Out(internal("add_credits")); });
}

core::Result<std::vector<LedgerEntry>> SqliteStore::list_ledger(std::int64_t account_id) {
  return guarded(
      "list_ledger",
      [&]() -> core::Result<std::vector<LedgerEntry>> {
        Connection* c = reader();
        if (c == nullptr) {
          return detail::no_reader("list_ledger");
        }
        auto st = c->prepare(sql::kListLedger, "list_ledger");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, account_id);
        std::vector<LedgerEntry> out;
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          out.push_back(detail::read_ledger_entry(*st));
        }
        if (rc != SQLITE_DONE) {
          return c->error(rc, "list_ledger");
        }
        return out;
      },
      [] { return core::Result<std::vector<LedgerEntry>>(internal("list_ledger")); });
}

namespace {

// One page of everyone's tasks (or one key's) with their total; list_all_tasks runs it in one
// snapshot.
core::Result<TaskPage> all_tasks_page(Connection& c, const TaskFilter& filter,
                                      std::int64_t offset, int limit) {
  auto bind_filter = [&](detail::Statement& st) {
    st.bind(1, filter.state);
    st.bind(2, filter.key_id);
    st.bind(3, filter.model);
    st.bind(4, filter.since_ms);
    st.bind(5, filter.until_ms);
    st.bind(8, filter.dialect);
  };
  TaskPage page;
  {
    auto st = c.prepare(filter.key_id != 0 ? sql::kCountAllTasksOfKey : sql::kCountAllTasks,
                        "list_all_tasks");
    if (!st.ok()) {
      return st.error();
    }
    bind_filter(*st);
    if (int rc = st->step(); rc != SQLITE_ROW) {
      return c.error(rc, "list_all_tasks");
    }
    page.total = st->int64(0);
  }
  auto st = c.prepare(filter.key_id != 0 ? sql::kListAllTasksOfKey : sql::kListAllTasks,
                      "list_all_tasks");
  if (!st.ok()) {
    return st.error();
  }
  bind_filter(*st);
  st->bind(6, offset);
  st->bind(7, std::int64_t{limit});
  int rc = SQLITE_OK;
  while ((rc = st->step()) == SQLITE_ROW) {
    auto t = detail::read_task(*st);
    if (!t.ok()) {
      return t.error();
    }
    page.tasks.push_back(std::move(*t));
  }
  if (rc != SQLITE_DONE) {
    return c.error(rc, "list_all_tasks");
  }
  return page;
}

}  // namespace

core::Result<TaskPage> SqliteStore::list_all_tasks(const TaskFilter& filter, std::int64_t offset,
                                                   int limit) {
  return detail::snapshot_read<TaskPage>(reader(), "list_all_tasks", [&](Connection& c) {
    return all_tasks_page(c, filter, offset, limit);
  });
}

core::Result<std::vector<UsageDay>> SqliteStore::usage(std::int64_t key_id, std::int64_t from_ms,
                                                       std::int64_t to_ms) {
  return guarded(
      "usage",
      [&]() -> core::Result<std::vector<UsageDay>> {
        Connection* c = reader();
        if (c == nullptr) {
          return detail::no_reader("usage");
        }
        auto st = c->prepare(sql::kUsage, "usage");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, key_id);
        st->bind(2, from_ms);
        st->bind(3, to_ms);
        std::vector<UsageDay> out;
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          out.push_back(UsageDay{st->text(0), st->int64(1), st->int64(2), st->int64(3)});
        }
        if (rc != SQLITE_DONE) {
          return c->error(rc, "usage");
        }
        return out;
      },
      [] { return core::Result<std::vector<UsageDay>>(internal("usage")); });
}

}  // namespace ig::store
