#pragma once

// Private to the SQLite store: the money side of its writes, run on the writer inside the
// transaction of the task write they belong to.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/task.hpp"
#include "store/sqlite/connection.hpp"

namespace ig::store::detail {

/// Writes one ledger row and moves the account's cached balance by `amount`, together.
/// `task_row` and `key_id` 0 for none.
core::Status write_ledger(Connection& c, std::int64_t account, std::string_view kind,
                          std::int64_t amount, std::int64_t price, std::int64_t task_row,
                          std::int64_t key_id, const std::string& reason, std::int64_t now_ms);

/// Who pays for a new task, as read in the create's transaction.
struct Payer {
  std::int64_t account_id = 0;
  std::int64_t key_id = 0;
};

/// Checks a new task against its key and account inside the create's transaction: the key is
/// enabled, under max_active and its spend limits, and a metered account's balance covers
/// `task.price`. nullopt for a task without a key (nothing to bill). The errors are the
/// client's (kUnauthorized, kTooManyActive, kSpendLimited with retry_after_s,
/// kInsufficientCredits) or the database's.
core::Result<std::optional<Payer>> check_new_task(Connection& c, const core::Task& task);

/// Holds `task.price` for the task just inserted as `task_row`: a `hold` row and the balance,
/// in the same transaction.
core::Status hold(Connection& c, const Payer& payer, const core::Task& task,
                  std::int64_t task_row);

/// Settles the task's hold, if it has one: `capture` (success) or `refund` (failure,
/// cancellation). A second settlement violates ledger_one_settlement and is an error, so the
/// caller's transaction is rolled back rather than paying twice.
core::Status settle(Connection& c, std::int64_t task_row, bool capture, std::int64_t now_ms);

/// Writes the task's callback outbox row when its request has a callback URL (nothing
/// otherwise, and nothing a second time): in the transaction that ends the task, after its
/// settlement.
core::Status enqueue_callback(Connection& c, std::int64_t task_row, std::int64_t now_ms);

}  // namespace ig::store::detail
