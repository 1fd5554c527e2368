// The reads of PgStore behind the admin API's views (see store.hpp): everyone's tasks, usage
// per day, key and model, key, account and ledger pages, a task's ledger, and the upstream
// call statistics. A read of several statements runs in one transaction.

#include <algorithm>
#include <string>

#include "store/pg/ops.hpp"
#include "store/pg/pg_store.hpp"
#include "store/pg/rows.hpp"
#include "store/pg/statements.hpp"
#include "store/row_readers.hpp"

namespace ig::store {
namespace {

using pg::Connection;
using pg::Params;

#define IG_DAY(ms) "to_char(to_timestamp(" ms " / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
#define IG_MODEL "(request_json::json ->> 'model')"

// Everyone's tasks ($2 = 0) or one key's ($2), filtered, newest first: two forms, so that a
// key's walk tasks_by_key and everyone's tasks_by_created.
#define IG_ALL_TASKS_WHERE(key_term)                  \
  " FROM tasks WHERE " key_term                       \
  "($1::text = '' OR state = $1::text) "              \
  "AND ($3::text = '' OR " IG_MODEL                   \
  " = $3::text) "                                     \
  "AND ($4::bigint = 0 OR created_ms >= $4::bigint) " \
  "AND ($5::bigint = 0 OR created_ms < $5::bigint) AND ($6::text = '' OR dialect = $6::text)"
constexpr char kListAllTasks[] = "SELECT " IG_TASK_COLUMNS IG_ALL_TASKS_WHERE(
    "$2::bigint = 0 AND ") " ORDER BY created_ms DESC, row_id DESC LIMIT $8 OFFSET $7";
constexpr char kListAllTasksOfKey[] = "SELECT " IG_TASK_COLUMNS IG_ALL_TASKS_WHERE(
    "key_id = $2::bigint AND ") " ORDER BY created_ms DESC, row_id DESC LIMIT $8 OFFSET $7";
constexpr char kCountAllTasks[] = "SELECT COUNT(*)" IG_ALL_TASKS_WHERE("$2::bigint = 0 AND ");
constexpr char kCountAllTasksOfKey[] =
    "SELECT COUNT(*)" IG_ALL_TASKS_WHERE("key_id = $2::bigint AND ");
#undef IG_ALL_TASKS_WHERE

constexpr char kUsage[] =
    "SELECT " IG_DAY("created_ms") " AS day, COUNT(*), "
    "SUM(CASE WHEN state = 'succeeded' THEN json_array_length(results_json::json) ELSE 0 END), "
    "SUM(CASE WHEN state = 'succeeded' THEN price ELSE 0 END) "
    "FROM tasks WHERE ($1::bigint = 0 OR key_id = $1::bigint) AND created_ms >= $2 "
    "AND created_ms < $3 GROUP BY day ORDER BY day";

// Usage per day, and per key ($4 = 1) or model ($4 = 2), of tasks created in [$2, $3) whose
// model is $5 (or any for '').
#define IG_USAGE_ROWS(key_term) \
  "SELECT " IG_DAY("created_ms") " AS day, "                                                \
  "CASE $4::integer WHEN 1 THEN COALESCE(key_id, 0) ELSE 0 END AS k, "                      \
  "CASE $4::integer WHEN 2 THEN COALESCE(" IG_MODEL ", '') ELSE '' END AS m, COUNT(*), "    \
  "SUM(CASE WHEN state = 'succeeded' THEN json_array_length(results_json::json) ELSE 0 END), " \
  "SUM(CASE WHEN state = 'succeeded' THEN price ELSE 0 END) "                               \
  "FROM tasks WHERE " key_term "created_ms >= $2 AND created_ms < $3 "                      \
  "AND ($5::text = '' OR " IG_MODEL " = $5::text) "                                         \
  "GROUP BY day, k, m ORDER BY day, k, m"
constexpr char kUsageRowsAll[] = IG_USAGE_ROWS("$1::bigint = 0 AND ");
constexpr char kUsageRowsOfKey[] = IG_USAGE_ROWS("key_id = $1::bigint AND ");
#undef IG_USAGE_ROWS

constexpr char kListAccounts[] =
    "SELECT a.id, a.name, a.metered, a.balance, a.created_ms, "
    "(SELECT COALESCE(SUM(amount), 0) FROM ledger WHERE account_id = a.id AND kind = 'topup'), "
    "(SELECT COALESCE(SUM(price), 0) FROM ledger WHERE account_id = a.id AND kind = 'capture') "
    "FROM accounts a ORDER BY a.id LIMIT $2 OFFSET $1";
constexpr char kCountAccounts[] = "SELECT COUNT(*) FROM accounts";

// A page of the keys a search matches ($1 empty: every key): $2 a pattern on the name, $3 one
// on the prefix (both case-insensitive, as SQLite's LIKE is for ASCII), $4 the id.
#define IG_KEY_SEARCH                                                                  \
  " WHERE ($1::text = '' OR name ILIKE $2::text ESCAPE '\\' OR prefix ILIKE $3::text " \
  "ESCAPE '\\' OR id = $4::bigint)"
constexpr char kListKeysPage[] =
    "SELECT " IG_KEY_COLUMNS " FROM api_keys" IG_KEY_SEARCH " ORDER BY id LIMIT $6 OFFSET $5";
constexpr char kCountKeysPage[] = "SELECT COUNT(*) FROM api_keys" IG_KEY_SEARCH;
#undef IG_KEY_SEARCH

// A page of an account's ledger, newest first, with the balance after each row: the balance
// now, less the rows newer than the page (the $2 skipped ones), less the rows above it on the
// page. One statement: the balance and the rows are of one snapshot.
constexpr char kLedgerPage[] =
    "WITH page AS (SELECT id, account_id, kind, amount, price, COALESCE(task_row, 0) AS task_row, "
    "  COALESCE(key_id, 0) AS key_id, reason, created_ms FROM ledger WHERE account_id = $1 "
    "  ORDER BY created_ms DESC, id DESC LIMIT $3 OFFSET $2), "
    "newer AS (SELECT COALESCE(SUM(amount), 0) AS total FROM (SELECT amount FROM ledger "
    "  WHERE account_id = $1 ORDER BY created_ms DESC, id DESC LIMIT $2) n) "
    "SELECT p.id, p.account_id, p.kind, p.amount, p.price, p.task_row, p.key_id, p.reason, "
    "p.created_ms, COALESCE(t.id, ''), "
    "(SELECT balance FROM accounts WHERE id = $1) - (SELECT total FROM newer) - "
    "COALESCE(SUM(p.amount) OVER (ORDER BY p.created_ms DESC, p.id DESC "
    "  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) "
    "FROM page p LEFT JOIN tasks t ON t.row_id = p.task_row "
    "ORDER BY p.created_ms DESC, p.id DESC";
constexpr char kCountLedger[] = "SELECT COUNT(*) FROM ledger WHERE account_id = $1";

constexpr char kTaskLedger[] =
    "SELECT id, account_id, kind, amount, price, COALESCE(task_row, 0), COALESCE(key_id, 0), "
    "reason, created_ms FROM ledger WHERE task_row = $1 AND kind = 'hold' "
    "UNION ALL "
    "SELECT id, account_id, kind, amount, price, COALESCE(task_row, 0), COALESCE(key_id, 0), "
    "reason, created_ms FROM ledger WHERE task_row = $1 AND kind IN ('capture', 'refund') "
    "ORDER BY 1";

// Per route, the calls started in [$1, $2), and the nearest-rank 50th and 95th percentiles of
// the finished ones' durations. A call ended by a cancellation (code 'cancelled') is neither an
// error nor a latency.
constexpr char kUpstreamStats[] =
    "WITH w AS (SELECT route, provider_kind, error_class, error_code, duration_ms, started_ms "
    "  FROM upstream_calls WHERE started_ms >= $1 AND started_ms < $2), "
    "d AS (SELECT route, duration_ms, "
    "  ROW_NUMBER() OVER (PARTITION BY route ORDER BY duration_ms) AS rn, "
    "  COUNT(*) OVER (PARTITION BY route) AS n FROM w "
    "  WHERE duration_ms >= 0 AND error_code <> 'cancelled'), "
    "p AS (SELECT route, MIN(CASE WHEN rn * 100 >= 50 * n THEN duration_ms END) AS p50, "
    "  MIN(CASE WHEN rn * 100 >= 95 * n THEN duration_ms END) AS p95 FROM d GROUP BY route) "
    "SELECT w.route, MAX(w.provider_kind), COUNT(*), "
    "COUNT(*) FILTER (WHERE w.error_class = ''), "
    "COUNT(*) FILTER (WHERE w.error_class NOT IN ('', 'in_flight') "
    "  AND w.error_code <> 'cancelled'), "
    "COUNT(*) FILTER (WHERE w.error_class = 'in_flight'), MAX(w.started_ms), "
    "COALESCE(MAX(p.p50), -1), COALESCE(MAX(p.p95), -1), "
    "COUNT(*) FILTER (WHERE w.error_class NOT IN ('', 'in_flight') "
    "  AND w.error_code = 'cancelled') "
    "FROM w LEFT JOIN p ON p.route = w.route GROUP BY w.route ORDER BY w.route";

#undef IG_DAY
#undef IG_MODEL

}  // namespace

core::Result<TaskPage> PgStore::list_all_tasks(const TaskFilter& filter, std::int64_t offset,
                                               int limit) {
  const Params filter_params(filter.state, filter.key_id, filter.model, filter.since_ms,
                             filter.until_ms, filter.dialect);
  Params page_params = filter_params;
  page_params.add(offset);
  page_params.add(limit);
  const bool of_key = filter.key_id != 0;
  return pg::in_snapshot<TaskPage>(
      *pool_, "list_all_tasks", [&](Connection& c) -> core::Result<TaskPage> {
        TaskPage page;
        auto total = pg::query_int(c, of_key ? kCountAllTasksOfKey : kCountAllTasks, filter_params,
                                   "list_all_tasks");
        if (!total.ok()) {
          return total.error();
        }
        page.total = *total;
        auto rows =
            c.exec(of_key ? kListAllTasksOfKey : kListAllTasks, page_params, "list_all_tasks");
        if (!rows.ok()) {
          return rows.error();
        }
        for (int i = 0; i < rows->size(); ++i) {
          auto t = pg::read_task((*rows)[i]);
          if (!t.ok()) {
            return t.error();
          }
          page.tasks.push_back(std::move(*t));
        }
        return page;
      });
}

core::Result<std::vector<UsageDay>> PgStore::usage(std::int64_t key_id, std::int64_t from_ms,
                                                   std::int64_t to_ms) {
  return pg::with_connection<std::vector<UsageDay>>(*pool_, "usage", [&](Connection& c) {
    return pg::query_rows<UsageDay>(
        c, kUsage, Params(key_id, from_ms, to_ms), "usage", [](const pg::Row& r) {
          return UsageDay{r.text(0), r.int64(1), r.int64(2), r.int64(3)};
        });
  });
}

core::Result<std::vector<UsageRow>> PgStore::usage_rows(const UsageQuery& q) {
  const int group = q.group_by == UsageQuery::GroupBy::kKey     ? 1
                    : q.group_by == UsageQuery::GroupBy::kModel ? 2
                                                                : 0;
  return pg::with_connection<std::vector<UsageRow>>(*pool_, "usage_rows", [&](Connection& c) {
    return pg::query_rows<UsageRow>(
        c, q.key_id != 0 ? kUsageRowsOfKey : kUsageRowsAll,
        Params(q.key_id, q.from_ms, q.to_ms, group, q.model), "usage_rows", [](const pg::Row& r) {
          return UsageRow{r.text(0), r.int64(1), r.text(2), r.int64(3), r.int64(4), r.int64(5)};
        });
  });
}

core::Result<KeyPage> PgStore::list_keys_page(std::string_view search, std::int64_t offset,
                                              int limit) {
  // The pattern's wildcards in the search are literal.
  std::string escaped;
  for (char ch : search) {
    if (ch == '%' || ch == '_' || ch == '\\') {
      escaped += '\\';
    }
    escaped += ch;
  }
  std::int64_t id = -1;
  if (!search.empty() && search.size() < 19 &&
      std::all_of(search.begin(), search.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    id = std::stoll(std::string(search));
  }
  const Params search_params(search, "%" + escaped + "%", escaped + "%", id);
  Params page_params = search_params;
  page_params.add(offset);
  page_params.add(limit);
  return pg::in_snapshot<KeyPage>(
      *pool_, "list_keys_page", [&](Connection& c) -> core::Result<KeyPage> {
        KeyPage page;
        auto total = pg::query_int(c, kCountKeysPage, search_params, "list_keys_page");
        if (!total.ok()) {
          return total.error();
        }
        page.total = *total;
        auto keys =
            pg::query_rows<ApiKey>(c, kListKeysPage, page_params, "list_keys_page", pg::read_key);
        if (!keys.ok()) {
          return keys.error();
        }
        page.keys = std::move(*keys);
        return page;
      });
}

core::Result<AccountPage> PgStore::list_accounts(std::int64_t offset, int limit) {
  return pg::in_snapshot<AccountPage>(
      *pool_, "list_accounts", [&](Connection& c) -> core::Result<AccountPage> {
        AccountPage page;
        auto total = pg::query_int(c, kCountAccounts, Params(), "list_accounts");
        if (!total.ok()) {
          return total.error();
        }
        page.total = *total;
        auto accounts = pg::query_rows<Account>(c, kListAccounts, Params(offset, limit),
                                                "list_accounts", pg::read_account);
        if (!accounts.ok()) {
          return accounts.error();
        }
        page.accounts = std::move(*accounts);
        return page;
      });
}

core::Result<LedgerPage> PgStore::ledger_page(std::int64_t account_id, std::int64_t offset,
                                              int limit) {
  return pg::in_snapshot<LedgerPage>(
      *pool_, "ledger_page", [&](Connection& c) -> core::Result<LedgerPage> {
        LedgerPage page;
        auto total = pg::query_int(c, kCountLedger, Params(account_id), "ledger_page");
        if (!total.ok()) {
          return total.error();
        }
        page.total = *total;
        auto lines = pg::query_rows<LedgerLine>(
            c, kLedgerPage, Params(account_id, offset, limit), "ledger_page", [](const pg::Row& r) {
              return LedgerLine{pg::read_ledger_entry(r), r.text(9), r.int64(10)};
            });
        if (!lines.ok()) {
          return lines.error();
        }
        page.lines = std::move(*lines);
        return page;
      });
}

core::Result<std::vector<LedgerEntry>> PgStore::task_ledger(std::int64_t task_row) {
  return pg::with_connection<std::vector<LedgerEntry>>(*pool_, "task_ledger", [&](Connection& c) {
    return pg::query_rows<LedgerEntry>(c, kTaskLedger, Params(task_row), "task_ledger",
                                       pg::read_ledger_entry);
  });
}

core::Result<std::vector<RouteStats>> PgStore::upstream_stats(std::int64_t since_ms,
                                                              std::int64_t until_ms) {
  return pg::with_connection<std::vector<RouteStats>>(*pool_, "upstream_stats", [&](Connection& c) {
    return pg::query_rows<RouteStats>(c, kUpstreamStats, Params(since_ms, until_ms),
                                      "upstream_stats", rows::route_stats<pg::Row>);
  });
}

}  // namespace ig::store
