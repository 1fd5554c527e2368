#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/codec.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "store/store.hpp"

// Private to the stores (src/store/sqlite, src/store/pg): the interface's types read from a
// row of either store's statements. Both select the same columns in the same order; a Row
// has int64(col) and text(col), and boolean(col) where the database has a boolean type
// (SQLite keeps 0/1 integers).
namespace ig::store::rows {

/// The task columns, in the order of both stores' task SELECTs (their TaskCol enums, which
/// static_assert against these).
enum TaskCol {
  kColRowId,
  kColId,
  kColKeyId,
  kColRequest,
  kColParam,
  kColState,
  kColAttempt,
  kColCreated,
  kColStarted,
  kColCompleted,
  kColFailCode,
  kColFailMsg,
  kColResults,
  kColLeaseUntil,
  kColUsage,
  kColUpstreamRoute,
  kColUpstreamId,
  kColPrice,
};

template <class Row>
bool flag(const Row& row, int col) {
  if constexpr (requires { row.boolean(col); }) {
    return row.boolean(col);
  } else {
    return row.int64(col) != 0;
  }
}

/// The ','-joined lists of a column (a key's ip_allowlist), and back. Items hold no ','.
inline std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    if (auto item = text.substr(0, comma); !item.empty()) {
      out.emplace_back(item);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    text.remove_prefix(comma + 1);
  }
  return out;
}

inline std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += ',';
    }
    out += item;
  }
  return out;
}

/// The task in a row of the task columns. An unreadable row (bad request JSON or state) is
/// logged and is an error.
template <class Row>
core::Result<core::Task> task(const Row& row) {
  core::Task t;
  t.row_id = row.int64(kColRowId);
  t.id = row.text(kColId);
  t.key_id = row.int64(kColKeyId);
  auto request = core::decode_request(row.text(kColRequest));
  auto state = core::parse_task_state(row.text(kColState));
  if (!request || !state) {
    spdlog::error("store: task row {} ({}) is unreadable", t.row_id, t.id);
    return core::make_error(core::ErrorCode::kInternal, "store: unreadable task");
  }
  t.request = std::move(*request);
  t.param = row.text(kColParam);
  t.state = *state;
  t.attempt = static_cast<int>(row.int64(kColAttempt));
  t.created_ms = row.int64(kColCreated);
  t.started_ms = row.int64(kColStarted);
  t.completed_ms = row.int64(kColCompleted);
  t.fail_code = row.text(kColFailCode);
  t.fail_msg = row.text(kColFailMsg);
  t.results = core::decode_results(row.text(kColResults));
  t.usage = core::decode_usage(row.text(kColUsage));
  t.upstream_route = row.text(kColUpstreamRoute);
  t.upstream_id = row.text(kColUpstreamId);
  t.price = row.int64(kColPrice);
  return t;
}

/// The key in a row of the key columns (kKeyByHash, …).
template <class Row>
ApiKey key(const Row& row) {
  ApiKey k;
  k.id = row.int64(0);
  k.name = row.text(1);
  k.prefix = row.text(2);
  k.secret_hash = row.text(3);
  k.disabled = flag(row, 4);
  k.account_id = row.int64(5);
  k.limits.rpm = static_cast<int>(row.int64(6));
  k.limits.max_active = static_cast<int>(row.int64(7));
  k.limits.spend_hourly = row.int64(8);
  k.limits.spend_daily = row.int64(9);
  k.limits.spend_total = row.int64(10);
  k.limits.ip_allowlist = split_list(row.text(11));
  k.created_ms = row.int64(12);
  return k;
}

/// A row of kListLedger.
template <class Row>
LedgerEntry ledger_entry(const Row& row) {
  LedgerEntry e;
  e.id = row.int64(0);
  e.account_id = row.int64(1);
  e.kind = row.text(2);
  e.amount = row.int64(3);
  e.price = row.int64(4);
  e.task_row = row.int64(5);
  e.key_id = row.int64(6);
  e.reason = row.text(7);
  e.created_ms = row.int64(8);
  return e;
}

/// The call in a row of the call columns (kListUpstreamCalls).
template <class Row>
UpstreamCall upstream_call(const Row& row) {
  UpstreamCall c;
  c.id = row.int64(0);
  c.task_row = row.int64(1);
  c.attempt = static_cast<int>(row.int64(2));
  c.route = row.text(3);
  c.provider_kind = row.text(4);
  c.upstream_id = row.text(5);
  c.http_status = static_cast<int>(row.int64(6));
  c.started_ms = row.int64(7);
  c.duration_ms = row.int64(8);
  c.error_class = row.text(9);
  c.error_code = row.text(10);
  c.message = row.text(11);
  return c;
}

/// A row of the account columns (kAccountById, kListAccounts): id, name, metered, balance,
/// created, purchased, consumed.
template <class Row>
Account account(const Row& row) {
  Account a;
  a.id = row.int64(0);
  a.name = row.text(1);
  a.metered = flag(row, 2);
  a.balance = row.int64(3);
  a.created_ms = row.int64(4);
  a.total_purchased = row.int64(5);
  a.total_consumed = row.int64(6);
  return a;
}

/// A row of the callback columns (the outbox row, its task's public id, its account and secret).
template <class Row>
CallbackDelivery delivery(const Row& row) {
  CallbackDelivery d;
  d.id = row.int64(0);
  d.task_row = row.int64(1);
  d.task_id = row.text(2);
  d.url = row.text(3);
  d.msg_id = row.text(4);
  d.state = row.text(5);
  d.attempts = static_cast<int>(row.int64(6));
  d.next_ms = row.int64(7);
  d.created_ms = row.int64(8);
  d.account_id = row.int64(9);
  d.webhook_secret = row.text(10);
  return d;
}

/// A row of kAttemptsOf: started, HTTP status, latency, error.
template <class Row>
CallbackAttempt callback_attempt(const Row& row) {
  return CallbackAttempt{row.int64(0), static_cast<int>(row.int64(1)), row.int64(2), row.text(3)};
}

/// A row of kUpstreamStats.
template <class Row>
RouteStats route_stats(const Row& row) {
  RouteStats s;
  s.route = row.text(0);
  s.provider_kind = row.text(1);
  s.requests = row.int64(2);
  s.succeeded = row.int64(3);
  s.errors = row.int64(4);
  s.in_flight = row.int64(5);
  s.last_started_ms = row.int64(6);
  s.p50_ms = row.int64(7);
  s.p95_ms = row.int64(8);
  s.cancelled = row.int64(9);
  return s;
}

}  // namespace ig::store::rows
