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
  return t;
}

ApiKey read_key(const Statement& st) {
  ApiKey k;
  k.id = st.int64(0);
  k.name = st.text(1);
  k.prefix = st.text(2);
  k.secret_hash = st.text(3);
  k.disabled = st.int64(4) != 0;
  k.credits = st.int64(5);
  k.created_ms = st.int64(6);
  return k;
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
