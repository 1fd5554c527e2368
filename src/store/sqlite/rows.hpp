#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/task.hpp"
#include "store/sqlite/connection.hpp"
#include "store/store.hpp"

namespace ig::store::detail {

/// The task in the current row of a statement selecting the task columns of statements.hpp
/// (kGetTask, kClaimTasks). An unreadable row (bad request JSON or state) is logged and is an
/// error.
core::Result<core::Task> read_task(const Statement& st);

/// lease_until_ms of the same row.
std::int64_t read_lease_until(const Statement& st);

/// The key in the current row of a statement selecting the key columns (kKeyByHash, …).
ApiKey read_key(const Statement& st);

/// A row of kListLedger.
LedgerEntry read_ledger_entry(const Statement& st);

/// The ','-joined lists of a column (a key's ip_allowlist), and back. Items hold no ','.
std::vector<std::string> split_list(std::string_view text);
std::string join_list(const std::vector<std::string>& items);

/// The call in the current row of a statement selecting the call columns (kListUpstreamCalls).
UpstreamCall read_upstream_call(const Statement& st);

}  // namespace ig::store::detail
