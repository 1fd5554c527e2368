// The upstream call log of SqliteStore (see store.hpp): append-only, not fenced.

#include <array>
#include <string_view>

#include "store/sqlite/ops.hpp"
#include "store/sqlite/rows.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/sqlite/statements.hpp"

namespace ig::store {
namespace {

using detail::Connection;
using detail::guarded;
using detail::internal;
using detail::run_write;
namespace sql = detail::sql;

// How a finished call may end: "" (it succeeded) or a providers::FailureClass word.
constexpr std::array<std::string_view, 6> kFinishedClasses{"",         "no_work", "route_fault",
                                                           "rejected", "unknown", "failed"};

bool is_finished_class(std::string_view c) {
  for (std::string_view k : kFinishedClasses) {
    if (c == k) {
      return true;
    }
  }
  return false;
}

core::Error invalid(std::string message) {
  return core::make_error(core::ErrorCode::kInvalidRequest, "store: " + std::move(message));
}

}  // namespace

namespace {

auto begin_op(UpstreamCall call) {
  if (call.started_ms == 0) {
    call.started_ms = detail::wall_ms();
  }
  return [call = std::move(call)](Connection& c) -> core::Result<std::int64_t> {
    auto st = c.prepare(sql::kInsertUpstreamCall, "begin_upstream_call");
    if (!st.ok()) {
      return st.error();
    }
    st->bind(1, call.task_row);
    st->bind(2, std::int64_t{call.attempt});
    st->bind(3, call.route);
    st->bind(4, call.provider_kind);
    st->bind(5, call.upstream_id);
    st->bind(6, std::int64_t{call.http_status});
    st->bind(7, call.started_ms);
    int rc = st->step();
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
      return invalid("upstream call of unknown task row " + std::to_string(call.task_row));
    }
    if (rc != SQLITE_DONE) {
      return c.error(rc, "begin_upstream_call");
    }
    return std::int64_t{sqlite3_last_insert_rowid(c.handle())};
  };
}

core::Status check_finish(const std::string& error_class, std::int64_t duration_ms) {
  if (!is_finished_class(error_class)) {
    return invalid("'" + error_class + "' is not a way an upstream call ends");
  }
  if (duration_ms < 0) {
    return invalid("a finished upstream call needs a duration >= 0");
  }
  return core::ok_status();
}

auto finish_op(std::int64_t id, int http_status, std::int64_t duration_ms,
               std::string error_class, std::string error_code, std::string message,
               std::string upstream_id) {
  return [=, error_class = std::move(error_class), error_code = std::move(error_code),
          message = std::move(message),
          upstream_id = std::move(upstream_id)](Connection& c) -> core::Result<core::Ok> {
    auto st = c.prepare(sql::kFinishUpstreamCall, "finish_upstream_call");
    if (!st.ok()) {
      return st.error();
    }
    st->bind(1, id);
    st->bind(2, std::int64_t{http_status});
    st->bind(3, duration_ms);
    st->bind(4, error_class);
    st->bind(5, error_code);
    st->bind(6, message);
    st->bind(7, upstream_id);
    if (int rc = st->step(); rc != SQLITE_DONE) {
      return c.error(rc, "finish_upstream_call");
    }
    if (st->changes() == 1) {
      return core::Ok{};
    }
    // Rare: tell an unknown id from a call finished twice.
    auto exists = c.prepare(sql::kUpstreamCallExists, "finish_upstream_call");
    if (!exists.ok()) {
      return exists.error();
    }
    exists->bind(1, id);
    const int rc = exists->step();
    if (rc == SQLITE_ROW) {
      return core::make_error(core::ErrorCode::kConflict, "store: upstream call " +
                                                              std::to_string(id) +
                                                              " has already finished");
    }
    if (rc != SQLITE_DONE) {
      return c.error(rc, "finish_upstream_call");
    }
    return core::make_error(core::ErrorCode::kNotFound,
                            "store: no upstream call " + std::to_string(id));
  };
}

}  // namespace

core::Result<std::int64_t> SqliteStore::begin_upstream_call(const UpstreamCall& call) {
  return guarded(
      "begin_upstream_call", [&] { return run_write<std::int64_t>(*writer_, begin_op(call)); },
      [] { return core::Result<std::int64_t>(internal("begin_upstream_call")); });
}

void SqliteStore::begin_upstream_call_async(UpstreamCall call, Done<std::int64_t> done) {
  detail::guarded_async<std::int64_t>("begin_upstream_call", done, [&] {
    detail::run_write_async<std::int64_t>(*writer_, begin_op(std::move(call)), done);
  });
}

core::Status SqliteStore::finish_upstream_call(
    std::int64_t id, int http_status, std::int64_t duration_ms, const std::string& error_class,
    const std::string& error_code, const std::string& message, const std::string& upstream_id) {
  if (auto st = check_finish(error_class, duration_ms); !st) {
    return st;
  }
  return guarded(
      "finish_upstream_call",
      [&] {
        return run_write<core::Ok>(*writer_, finish_op(id, http_status, duration_ms, error_class,
                                                        error_code, message, upstream_id));
      },
      [] { return core::Status(internal("finish_upstream_call")); });
}

void SqliteStore::finish_upstream_call_async(std::int64_t id, int http_status,
                                             std::int64_t duration_ms, std::string error_class,
                                             std::string error_code, std::string message,
                                             std::string upstream_id, Done<core::Ok> done) {
  if (auto st = check_finish(error_class, duration_ms); !st) {
    done(st);
    return;
  }
  detail::guarded_async<core::Ok>("finish_upstream_call", done, [&] {
    detail::run_write_async<core::Ok>(
        *writer_,
        finish_op(id, http_status, duration_ms, std::move(error_class), std::move(error_code),
                  std::move(message), std::move(upstream_id)),
        done);
  });
}

core::Result<std::vector<UpstreamCall>> SqliteStore::list_upstream_calls(std::int64_t task_row) {
  using Out = core::Result<std::vector<UpstreamCall>>;
  return guarded(
      "list_upstream_calls",
      [&]() -> Out {
        Connection* c = reader();
        if (c == nullptr) {
          return detail::no_reader("list_upstream_calls");
        }
        auto st = c->prepare(sql::kListUpstreamCalls, "list_upstream_calls");
        if (!st.ok()) {
          return st.error();
        }
        st->bind(1, task_row);
        std::vector<UpstreamCall> out;
        int rc = SQLITE_OK;
        while ((rc = st->step()) == SQLITE_ROW) {
          out.push_back(detail::read_upstream_call(*st));
        }
        if (rc != SQLITE_DONE) {
          return c->error(rc, "list_upstream_calls");
        }
        return out;
      },
      [] { return Out(internal("list_upstream_calls")); });
}

}  // namespace ig::store
