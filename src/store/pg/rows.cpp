#include "store/pg/rows.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/codec.hpp"
#include "store/pg/statements.hpp"

namespace ig::store::pg {

core::Result<core::Task> read_task(const Row& row) {
  core::Task t;
  t.row_id = row.int64(sql::kColRowId);
  t.id = row.text(sql::kColId);
  t.key_id = row.int64(sql::kColKeyId);
  auto request = core::decode_request(row.text(sql::kColRequest));
  auto state = core::parse_task_state(row.text(sql::kColState));
  if (!request || !state) {
    spdlog::error("store: task row {} ({}) is unreadable", t.row_id, t.id);
    return core::make_error(core::ErrorCode::kInternal, "store: unreadable task");
  }
  t.request = std::move(*request);
  t.param = row.text(sql::kColParam);
  t.state = *state;
  t.attempt = static_cast<int>(row.int64(sql::kColAttempt));
  t.created_ms = row.int64(sql::kColCreated);
  t.started_ms = row.int64(sql::kColStarted);
  t.completed_ms = row.int64(sql::kColCompleted);
  t.fail_code = row.text(sql::kColFailCode);
  t.fail_msg = row.text(sql::kColFailMsg);
  t.results = core::decode_results(row.text(sql::kColResults));
  t.usage = core::decode_usage(row.text(sql::kColUsage));
  t.upstream_route = row.text(sql::kColUpstreamRoute);
  t.upstream_id = row.text(sql::kColUpstreamId);
  t.price = row.int64(sql::kColPrice);
  return t;
}

std::int64_t read_lease_until(const Row& row) {
  return row.int64(sql::kColLeaseUntil);
}

ApiKey read_key(const Row& row) {
  ApiKey k;
  k.id = row.int64(0);
  k.name = row.text(1);
  k.prefix = row.text(2);
  k.secret_hash = row.text(3);
  k.disabled = row.boolean(4);
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

Account read_account(const Row& row) {
  Account a;
  a.id = row.int64(0);
  a.name = row.text(1);
  a.metered = row.boolean(2);
  a.balance = row.int64(3);
  a.created_ms = row.int64(4);
  a.total_purchased = row.int64(5);
  a.total_consumed = row.int64(6);
  return a;
}

LedgerEntry read_ledger_entry(const Row& row) {
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

UpstreamCall read_upstream_call(const Row& row) {
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

std::vector<std::string> split_list(std::string_view text) {
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

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += ',';
    }
    out += item;
  }
  return out;
}

}  // namespace ig::store::pg
