#include "store/pg/rows.hpp"

#include "store/pg/statements.hpp"
#include "store/row_readers.hpp"

namespace ig::store::pg {

core::Result<core::Task> read_task(const Row& row) {
  return rows::task(row);
}

std::int64_t read_lease_until(const Row& row) {
  return row.int64(sql::kColLeaseUntil);
}

ApiKey read_key(const Row& row) {
  return rows::key(row);
}

Account read_account(const Row& row) {
  return rows::account(row);
}

LedgerEntry read_ledger_entry(const Row& row) {
  return rows::ledger_entry(row);
}

UpstreamCall read_upstream_call(const Row& row) {
  return rows::upstream_call(row);
}

std::vector<std::string> split_list(std::string_view text) {
  return rows::split_list(text);
}

std::string join_list(const std::vector<std::string>& items) {
  return rows::join_list(items);
}

}  // namespace ig::store::pg
