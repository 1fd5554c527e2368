#include "store/sqlite/rows.hpp"

#include "store/row_readers.hpp"
#include "store/sqlite/statements.hpp"

namespace ig::store::detail {

static_assert(sql::kColPrice == rows::kColPrice && sql::kColLeaseUntil == rows::kColLeaseUntil,
              "the task columns of statements.hpp and row_readers.hpp must agree");

core::Result<core::Task> read_task(const Statement& st) {
  return rows::task(st);
}

ApiKey read_key(const Statement& st) {
  return rows::key(st);
}

std::vector<std::string> split_list(std::string_view text) {
  return rows::split_list(text);
}

std::string join_list(const std::vector<std::string>& items) {
  return rows::join_list(items);
}

LedgerEntry read_ledger_entry(const Statement& st) {
  return rows::ledger_entry(st);
}

UpstreamCall read_upstream_call(const Statement& st) {
  return rows::upstream_call(st);
}

std::int64_t read_lease_until(const Statement& st) {
  return st.int64(sql::kColLeaseUntil);
}

}  // namespace ig::store::detail
