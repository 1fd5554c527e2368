#pragma once

// Private to the SQLite store: how its methods run their SQL and report failures.

#include <spdlog/spdlog.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/writer.hpp"
#include "store/store.hpp"

namespace ig::store::detail {

inline std::int64_t wall_ms() {
  return core::SystemClock{}.now_ms();
}

/// The error of a Store method that failed in a way SQLite did not name (an exception).
inline core::Error internal(std::string_view what) {
  return core::make_error(core::ErrorCode::kInternal, "store: " + std::string(what) + " failed");
}

/// The error of a read that found no read connection (it could not be opened; logged there).
inline core::Error no_reader(std::string_view what) {
  return core::make_error(core::ErrorCode::kInternal,
                          "store: " + std::string(what) + " failed: the database cannot be read");
}

/// Runs `body(c)` on the read connection `c` in one read transaction, for a read of several
/// statements: a page's total and its rows, a balance and the ledger's sums, come from one
/// snapshot even while the writer commits between them (as PgStore's in_snapshot). Each
/// statement alone would be its own snapshot.
template <class T, class F>
core::Result<T> in_snapshot(Connection& c, std::string_view what, F&& body) {
  if (auto begun = c.run("BEGIN", what); !begun.ok()) {
    return begun.error();
  }
  struct End {  // a read transaction: nothing to undo, on every way out
    Connection& c;
    ~End() { c.rollback(); }
  } end{c};
  return body(c);
}

/// Runs `body`; an exception becomes `fallback()` and a log line, so none escapes a Store
/// method.
template <class F, class Fallback>
auto guarded(std::string_view what, F&& body, Fallback&& fallback) -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    spdlog::error("store: {} threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("store: {} threw", what);
  }
  return fallback();
}

/// `body(Connection&) -> Result<T>` on the read connection `c` (this thread's), in one
/// snapshot (in_snapshot) and guarded: no reader, or an exception, is an error.
template <class T, class F>
core::Result<T> snapshot_read(Connection* c, std::string_view what, F&& body) {
  return guarded(
      what,
      [&]() -> core::Result<T> {
        if (c == nullptr) {
          return no_reader(what);
        }
        return in_snapshot<T>(*c, what, body);
      },
      [&] { return core::Result<T>(internal(what)); });
}

/// Runs `body(Connection&) -> Result<T>` on the writer and hands back its value once
/// committed, or the error of the operation or of its batch.
template <class T, class F>
core::Result<T> run_write(Writer& writer, F&& body) {
  std::optional<T> out;
  auto op = [&](Connection& c) -> core::Status {
    core::Result<T> r = body(c);
    if (!r.ok()) {
      return r.error();
    }
    out.emplace(std::move(r).value());
    return core::ok_status();
  };
  core::Status s = writer.submit(op);
  if (!s.ok()) {
    return s.error();
  }
  return std::move(*out);
}

/// run_write without a waiting thread: `body` (owning everything it uses) runs on the writer,
/// `done` gets its value once committed, or the error, on the writer's thread.
template <class T, class F>
void run_write_async(Writer& writer, F body, std::function<void(core::Result<T>)> done) {
  auto out = std::make_shared<std::optional<T>>();
  writer.submit_async(
      [out, body = std::move(body)](Connection& c) mutable -> core::Status {
        core::Result<T> r = body(c);
        if (!r.ok()) {
          return r.error();
        }
        out->emplace(std::move(r).value());
        return core::ok_status();
      },
      [out, done = std::move(done)](core::Status s) {
        if (!s.ok()) {
          done(s.error());
          return;
        }
        done(std::move(**out));
      });
}

/// Starts an asynchronous Store method: `start()` queues the write; an exception (an
/// allocation, an encoding) becomes `done(internal(what))` and a log line, like guarded().
template <class T, class Start>
void guarded_async(std::string_view what, const std::function<void(core::Result<T>)>& done,
                   Start&& start) {
  try {
    start();
    return;
  } catch (const std::exception& e) {
    spdlog::error("store: {} threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("store: {} threw", what);
  }
  done(internal(what));
}

/// A fenced UPDATE (one row, `... AND state = 'running' AND attempt = ?2`): kApplied iff it
/// changed the row. A database failure is the Error, logged where it happens.
template <class Bind>
core::Result<Fence> run_fenced(Writer& writer, const char* update, std::string_view what,
                               Bind&& bind) {
  return run_write<Fence>(writer, [&](Connection& c) -> core::Result<Fence> {
    auto st = c.prepare(update, what);
    if (!st.ok()) {
      return st.error();
    }
    bind(*st);
    if (int rc = st->step(); rc != SQLITE_DONE) {
      return c.error(rc, what);
    }
    return st->changes() == 1 ? Fence::kApplied : Fence::kFencedOut;
  });
}

}  // namespace ig::store::detail
