#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/task.hpp"
#include "store/pg/connection.hpp"
#include "store/store.hpp"

// Private to the PostgreSQL store: rows of its statements as the interface's types.
namespace ig::store::pg {

/// The task in a row selecting the task columns of statements.hpp. An unreadable row (bad
/// request JSON or state) is logged and is an error.
core::Result<core::Task> read_task(const Row& row);
/// lease_until_ms of the same row.
std::int64_t read_lease_until(const Row& row);
/// The key in a row selecting the key columns (kKeyByHash, …).
ApiKey read_key(const Row& row);
/// An account: id, name, metered, balance, created_ms, total purchased, total consumed.
Account read_account(const Row& row);
/// A row of kListLedger.
LedgerEntry read_ledger_entry(const Row& row);
/// The call in a row selecting the call columns (kListUpstreamCalls).
UpstreamCall read_upstream_call(const Row& row);

/// The ','-joined lists of a column (a key's ip_allowlist), and back. Items hold no ','.
std::vector<std::string> split_list(std::string_view text);
std::string join_list(const std::vector<std::string>& items);

}  // namespace ig::store::pg
