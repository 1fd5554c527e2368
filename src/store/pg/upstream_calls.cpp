// The upstream call log of PgStore (see store.hpp): append-only, not fenced.

#include <algorithm>
#include <array>
#include <string_view>

#include "store/pg/ops.hpp"
#include "store/pg/pg_store.hpp"
#include "store/pg/rows.hpp"
#include "store/pg/statements.hpp"

namespace ig::store {
namespace {

using pg::Connection;
using pg::Params;
namespace sql = pg::sql;

// How a finished call may end: "" (it succeeded) or a providers::FailureClass word.
constexpr std::array<std::string_view, 6> kFinishedClasses{"",         "no_work", "route_fault",
                                                           "rejected", "unknown", "failed"};

core::Error invalid(std::string message) {
  return core::make_error(core::ErrorCode::kInvalidRequest, "store: " + std::move(message));
}

core::Status check_finish(const std::string& error_class, std::int64_t duration_ms) {
  if (std::find(kFinishedClasses.begin(), kFinishedClasses.end(), error_class) ==
      kFinishedClasses.end()) {
    return invalid("'" + error_class + "' is not a way an upstream call ends");
  }
  if (duration_ms < 0) {
    return invalid("a finished upstream call needs a duration >= 0");
  }
  return core::ok_status();
}

}  // namespace

core::Result<std::int64_t> PgStore::begin_upstream_call(const UpstreamCall& call) {
  const std::int64_t started = call.started_ms != 0 ? call.started_ms : pg::wall_ms();
  return pg::with_connection<std::int64_t>(
      *pool_, "begin_upstream_call", [&](Connection& c) -> core::Result<std::int64_t> {
        auto id = pg::query_int(c, sql::kInsertUpstreamCall,
                                Params(call.task_row, call.attempt, call.route, call.provider_kind,
                                       call.upstream_id, call.http_status, started),
                                "begin_upstream_call");
        if (!id.ok() && c.last_sqlstate() == "23503") {  // foreign_key_violation
          return invalid("upstream call of unknown task row " + std::to_string(call.task_row));
        }
        return id;
      });
}

core::Status PgStore::finish_upstream_call(std::int64_t id, int http_status,
                                           std::int64_t duration_ms, const std::string& error_class,
                                           const std::string& error_code,
                                           const std::string& message,
                                           const std::string& upstream_id) {
  if (auto st = check_finish(error_class, duration_ms); !st) {
    return st;
  }
  return pg::with_connection<core::Ok>(
      *pool_, "finish_upstream_call", [&](Connection& c) -> core::Result<core::Ok> {
        auto n = pg::affected(
            c, sql::kFinishUpstreamCall,
            Params(id, http_status, duration_ms, error_class, error_code, message, upstream_id),
            "finish_upstream_call");
        if (!n.ok()) {
          return n.error();
        }
        if (*n == 1) {
          return core::Ok{};
        }
        // Rare: tell an unknown id from a call finished twice.
        auto exists = c.exec(sql::kUpstreamCallExists, Params(id), "finish_upstream_call");
        if (!exists.ok()) {
          return exists.error();
        }
        if (!exists->empty()) {
          return core::make_error(
              core::ErrorCode::kConflict,
              "store: upstream call " + std::to_string(id) + " has already finished");
        }
        return core::make_error(core::ErrorCode::kNotFound,
                                "store: no upstream call " + std::to_string(id));
      });
}

core::Result<std::vector<UpstreamCall>> PgStore::list_upstream_calls(std::int64_t task_row) {
  return pg::with_connection<std::vector<UpstreamCall>>(
      *pool_, "list_upstream_calls", [&](Connection& c) {
        return pg::query_rows<UpstreamCall>(c, sql::kListUpstreamCalls, Params(task_row),
                                            "list_upstream_calls", pg::read_upstream_call);
      });
}

}  // namespace ig::store
