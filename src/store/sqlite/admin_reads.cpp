// The reads of SqliteStore behind the admin API's views (see store.hpp): usage per day, key
// and model, accounts and ledger pages, a task's ledger, and the upstream call statistics.
// Every one is a bounded read on this thread's read connection.

#include <algorithm>
#include <string>

#include "store/row_readers.hpp"
#include "store/sqlite/ops.hpp"
#include "store/sqlite/rows.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/statements.hpp"

namespace ig::store {
namespace {

using detail::Connection;
using detail::snapshot_read;
namespace sql = detail::sql;

/// The single number a COUNT statement gives.
core::Result<std::int64_t> count(Connection& c, const char* sql_text, std::int64_t arg,
                                 std::string_view what) {
  auto st = c.prepare(sql_text, what);
  if (!st.ok()) {
    return st.error();
  }
  if (arg != 0) {
    st->bind(1, arg);
  }
  if (int rc = st->step(); rc != SQLITE_ROW) {
    return c.error(rc, what);
  }
  return st->int64(0);
}

}  // namespace

core::Result<std::vector<UsageRow>> SqliteStore::usage_rows(const UsageQuery& q) {
  return snapshot_read<std::vector<UsageRow>>(
      reader(), "usage_rows", [&](Connection& c) -> core::Result<std::vector<UsageRow>> {
        auto st =
            c.prepare(q.key_id != 0 ? sql::kUsageRowsOfKey : sql::kUsageRowsAll, "usage_rows");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, q.key_id);
        st->bind(2, q.from_ms);
        st->bind(3, q.to_ms);
        st->bind(4, std::int64_t{q.group_by == UsageQuery::GroupBy::kKey     ? 1
                                 : q.group_by == UsageQuery::GroupBy::kModel ? 2
                                                                             : 0});
        st->bind(5, q.model);
        std::vector<UsageRow> out;
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          out.push_back(UsageRow{st->text(0), st->int64(1), st->text(2), st->int64(3), st->int64(4),
                                 st->int64(5)});
        }
        if (rc != SQLITE_DONE) {
          return c.error(rc, "usage_rows");
        }
        return out;
      });
}

core::Result<KeyPage> SqliteStore::list_keys_page(std::string_view search, std::int64_t offset,
                                                  int limit) {
  // LIKE's wildcards in the search are literal.
  std::string escaped;
  for (char ch : search) {
    if (ch == '%' || ch == '_' || ch == '\\') {
      escaped += '\\';
    }
    escaped += ch;
  }
  const std::string name_pattern = "%" + escaped + "%";
  const std::string prefix_pattern = escaped + "%";
  std::int64_t id = -1;
  if (!search.empty() && search.size() < 19 &&
      std::all_of(search.begin(), search.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    id = std::stoll(std::string(search));
  }
  const auto bind_search = [&](detail::Statement& st) {
    st.bind(1, search);
    st.bind(2, name_pattern);
    st.bind(3, prefix_pattern);
    st.bind(4, id);
  };
  const auto page_of = [&](Connection& c) -> core::Result<KeyPage> {
    KeyPage page;
    auto counted = c.prepare(sql::kCountKeysPage, "list_keys_page");
    if (!counted.ok()) {
      return counted.error();
    }
    bind_search(*counted);
    if (int rc = counted->step(); rc != SQLITE_ROW) {
      return c.error(rc, "list_keys_page");
    }
    page.total = counted->int64(0);
    auto st = c.prepare(sql::kListKeysPage, "list_keys_page");
    if (!st.ok()) {
      return st.error();
    }
    bind_search(*st);
    st->bind(5, offset);
    st->bind(6, std::int64_t{limit});
    int rc = SQLITE_OK;
    while ((rc = st->step()) == SQLITE_ROW) {
      page.keys.push_back(detail::read_key(*st));
    }
    if (rc != SQLITE_DONE) {
      return c.error(rc, "list_keys_page");
    }
    return page;
  };
  return snapshot_read<KeyPage>(reader(), "list_keys_page", page_of);
}

core::Result<AccountPage> SqliteStore::list_accounts(std::int64_t offset, int limit) {
  return snapshot_read<AccountPage>(
      reader(), "list_accounts", [&](Connection& c) -> core::Result<AccountPage> {
        AccountPage page;
        auto total = count(c, sql::kCountAccounts, 0, "list_accounts");
        if (!total.ok()) {
          return total.error();
        }
        page.total = *total;
        auto st = c.prepare(sql::kListAccounts, "list_accounts");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, offset);
        st->bind(2, std::int64_t{limit});
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          page.accounts.push_back(rows::account(*st));
        }
        if (rc != SQLITE_DONE) {
          return c.error(rc, "list_accounts");
        }
        return page;
      });
}

core::Result<LedgerPage> SqliteStore::ledger_page(std::int64_t account_id, std::int64_t offset,
                                                  int limit) {
  const auto page_of = [&](Connection& c) -> core::Result<LedgerPage> {
    LedgerPage page;
    auto total = count(c, sql::kCountLedger, account_id, "ledger_page");
    if (!total.ok()) {
      return total.error();
    }
    page.total = *total;
    auto st = c.prepare(sql::kLedgerPage, "ledger_page");
    if (!st.ok()) {
      return st.error();
    }
    st->bind(1, account_id);
    st->bind(2, offset);
    st->bind(3, std::int64_t{limit});
    int rc = SQLITE_OK;
    while ((rc = st->step()) == SQLITE_ROW) {
      page.lines.push_back(LedgerLine{detail::read_ledger_entry(*st), st->text(9), st->int64(10)});
    }
    if (rc != SQLITE_DONE) {
      return c.error(rc, "ledger_page");
    }
    return page;
  };
  return snapshot_read<LedgerPage>(reader(), "ledger_page", page_of);
}

core::Result<std::vector<LedgerEntry>> SqliteStore::task_ledger(std::int64_t task_row) {
  return snapshot_read<std::vector<LedgerEntry>>(
      reader(), "task_ledger", [&](Connection& c) -> core::Result<std::vector<LedgerEntry>> {
        auto st = c.prepare(sql::kTaskLedger, "task_ledger");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, task_row);
        std::vector<LedgerEntry> out;
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          out.push_back(detail::read_ledger_entry(*st));
        }
        if (rc != SQLITE_DONE) {
          return c.error(rc, "task_ledger");
        }
        return out;
      });
}

core::Result<std::vector<RouteStats>> SqliteStore::upstream_stats(std::int64_t since_ms,
                                                                  std::int64_t until_ms) {
  return snapshot_read<std::vector<RouteStats>>(
      reader(), "upstream_stats", [&](Connection& c) -> core::Result<std::vector<RouteStats>> {
        auto st = c.prepare(sql::kUpstreamStats, "upstream_stats");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, since_ms);
        st->bind(2, until_ms);
        std::vector<RouteStats> out;
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          out.push_back(rows::route_stats(*st));
        }
        if (rc != SQLITE_DONE) {
          return c.error(rc, "upstream_stats");
        }
        return out;
      });
}

}  // namespace ig::store
