#include "store/sqlite/rows.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/codec.hpp"
#include "store/sqlite/statements.hpp"

namespace ig::store::detail {

core::Result<core::Task> read_task(const Statement& st) {
  core::Task t;
  t.row_id = st.int64(sql::kColRowId);
  t.id = st.text(sql::kColId);
  t.key_id = st.int64(sql::kColKeyId);
  auto request = core::decode_request(st.text(sql::kColRequest));
  auto state = core::parse_task_state(st.text(sql::kColState));
  if (!request || !state) {
    spdlog::error("store: task row {} ({}) is unreadable", t.row_id, t.id);
    return core::make_error(core::ErrorCode::kInternal, "store: unreadable task");
  }
  t.request = std::move(*request);
  t.param = st.text(sql::kColParam);
  t.state = *state;
  t.attempt = static_cast<int>(st.int64(sql::kColAttempt));
  t.created_ms = st.int64(sql::kColCreated);
  t.started_ms = st.int64(sql::kColStarted);
  t.completed_ms = st.int64(sql::kColCompleted);
  t.fail_code = st.text(sql::kColFailCode);
  t.fail_msg = st.text(sql::kColFailMsg);
  t.results = core::decode_results(st.text(sql::kColResults));
  t.usage = core::decode_usage(st.text(sql::kColUsage));
  t.upstream_route = st.text(sql::kColUpstreamRoute);
  t.upstream_id = st.text(sql::kColUpstreamId);
  t.price = st.int64(sql::kColPrice);
  return t;
}

ApiKey read_key(const Statement& st) {
  ApiKey k;
  k.id = st.int64(0);
  k.name = st.text(1);
  k.prefix = st.text(2);
  k.secret_hash = st.text(3);
  k.disabled = st.int64(4) != 0;
  k.account_id = st.int64(5);
  k.limits.rpm = static_cast<int>(st.int64(6));
  k.limits.max_active = static_cast<int>(st.int64(7));
  k.limits.spend_hourly = st.int64(8);
  k.limits.spend_daily = st.int64(9);
  k.limits.spend_total = st.int64(10);
  k.limits.ip_allowlist = split_list(st.text(11));
  k.created_ms = st.int64(12);
  return k;
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

LedgerEntry read_ledger_entry(const Statement& st) {
  LedgerEntry e;
  e.id = st.int64(0);
  e.account_id = st.int64(1);
  e.kind = st.text(2);
  e.amount = st.int64(3);
  e.price = st.int64(4);
  e.task_row = st.int64(5);
  e.key_id = st.int64(6);
  e.reason = st.text(7);
  e.created_ms = st.int64(8);
  return e;
}

UpstreamCall read_upstream_call(const Statement& st) {
  UpstreamCall c;
  c.id = st.int64(0);
  c.task_row = st.int64(1);
  c.attempt = static_cast<int>(st.int64(2));
  c.route = st.text(3);
  c.provider_kind = st.text(4);
  c.upstream_id = st.text(5);
  c.http_status = static_cast<int>(st.int64(6));
  c.started_ms = st.int64(7);
  c.duration_ms = st.int64(8);
  c.error_class = st.text(9);
  c.error_code = st.text(10);
  c.message = st.text(11);
  return c;
}

std::int64_t read_lease_until(const Statement& st) {
  return st.int64(sql::kColLeaseUntil);
}

}  // namespace ig::store::detail
