#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/task.hpp"
#include "store/pg/connection.hpp"

// Private to the PostgreSQL store: the billing and outbox steps of its task writes, each run
// inside the caller's transaction.
namespace ig::store::pg {

/// Who pays for a task: the key's account.
struct Payer {
  std::int64_t account_id = 0;
  std::int64_t key_id = 0;
};

/// A ledger row and its move of the account's balance.
core::Status write_ledger(Connection& c, std::int64_t account, std::string_view kind,
                          std::int64_t amount, std::int64_t price, std::int64_t task_row,
                          std::int64_t key_id, const std::string& reason, std::int64_t now_ms);

/// The checks of a new task against its key, with the account's row locked until the caller's
/// transaction ends (store.hpp, insert_task): nullopt for a task without a key, else who pays.
core::Result<std::optional<Payer>> check_new_task(Connection& c, const core::Task& task);

/// The ledger hold of a new task (task.price from the payer).
core::Status hold(Connection& c, const Payer& payer, const core::Task& task, std::int64_t task_row);

/// Settles the task's hold, if it has one: a capture, or a refund of the price.
core::Status settle(Connection& c, std::int64_t task_row, bool capture, std::int64_t now_ms);

/// Writes the task's callback outbox row when its request has a callback URL (callbacks.cpp).
core::Status enqueue_callback(Connection& c, std::int64_t task_row, std::int64_t now_ms);

}  // namespace ig::store::pg
