#pragma once

// Private to the PostgreSQL store: how its methods borrow a connection, run a transaction and
// report failures.

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/pg/connection.hpp"
#include "store/store.hpp"

namespace ig::store::pg {

inline std::int64_t wall_ms() {
  return core::SystemClock{}.now_ms();
}

/// The error of a method that failed in a way PostgreSQL did not name (an exception).
inline core::Error internal(std::string_view what) {
  return core::make_error(core::ErrorCode::kInternal, "store: " + std::string(what) + " failed");
}

/// Runs `body(Connection&) -> Result<T>` on a pooled connection. When the connection turns out
/// to be dead before any statement on it succeeded (PostgreSQL restarted while it was idle),
/// the idle ones are dropped and `body` runs once more on a new connection: nothing of it ran.
/// An exception becomes internal(what) and a log line.
template <class T, class F>
core::Result<T> with_connection(Pool& pool, std::string_view what, F&& body) {
  try {
    for (int round = 0;; ++round) {
      auto lease = pool.acquire(what);
      if (!lease.ok()) {
        return lease.error();
      }
      Connection& c = **lease;
      core::Result<T> r = body(c);
      if (r.ok() || c.alive() || c.succeeded() > 0 || round > 0) {
        return r;
      }
      pool.drop_idle();
    }
  } catch (const std::exception& e) {
    spdlog::error("store: {} threw: {}", what, e.what());
  } catch (...) {
    spdlog::error("store: {} threw", what);
  }
  return internal(what);
}

/// with_connection in a transaction opened by `begin`: `body`, then COMMIT; ROLLBACK when
/// `body` fails, so a method's writes land together or not at all. A failed COMMIT on a lost
/// connection is kUnavailable (its outcome is unknown; the writes are fenced, so a retry is
/// safe).
template <class T, class F>
core::Result<T> transaction(Pool& pool, const char* begin, std::string_view what, F&& body) {
  return with_connection<T>(pool, what, [&](Connection& c) -> core::Result<T> {
    if (auto s = c.run(begin, what); !s.ok()) {
      return s.error();
    }
    core::Result<T> r = body(c);
    if (!r.ok()) {
      if (c.alive()) {
        (void)c.run("ROLLBACK", what);
      }
      return r;
    }
    if (auto s = c.run("COMMIT", what); !s.ok()) {
      return s.error();
    }
    return r;
  });
}

/// A write transaction (READ COMMITTED: the row locks it takes are what order it against
/// other nodes).
template <class T, class F>
core::Result<T> in_transaction(Pool& pool, std::string_view what, F&& body) {
  return transaction<T>(pool, "BEGIN", what, std::forward<F>(body));
}

/// A read of several statements from one snapshot (a count and its page agree).
template <class T, class F>
core::Result<T> in_snapshot(Pool& pool, std::string_view what, F&& body) {
  return transaction<T>(pool, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", what,
                        std::forward<F>(body));
}

/// Every row of `sql` read by `read(const Row&) -> T`.
template <class T, class Read>
core::Result<std::vector<T>> query_rows(Connection& c, const char* sql, const Params& params,
                                        std::string_view what, Read&& read) {
  auto rows = c.exec(sql, params, what);
  if (!rows.ok()) {
    return rows.error();
  }
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(rows->size()));
  for (int i = 0; i < rows->size(); ++i) {
    out.push_back(read((*rows)[i]));
  }
  return out;
}

/// The first row of `sql` read by `read`, or nullopt when it returns none.
template <class T, class Read>
core::Result<std::optional<T>> query_one(Connection& c, const char* sql, const Params& params,
                                         std::string_view what, Read&& read) {
  auto rows = c.exec(sql, params, what);
  if (!rows.ok()) {
    return rows.error();
  }
  if (rows->empty()) {
    return std::optional<T>();
  }
  return std::optional<T>(read((*rows)[0]));
}

/// The first column of the first row of `sql` (a COUNT, a RETURNING id); 0 when no row.
inline core::Result<std::int64_t> query_int(Connection& c, const char* sql, const Params& params,
                                            std::string_view what) {
  auto rows = c.exec(sql, params, what);
  if (!rows.ok()) {
    return rows.error();
  }
  return rows->empty() ? 0 : (*rows)[0].int64(0);
}

/// Rows an INSERT/UPDATE/DELETE changed.
inline core::Result<std::int64_t> affected(Connection& c, const char* sql, const Params& params,
                                           std::string_view what) {
  auto rows = c.exec(sql, params, what);
  if (!rows.ok()) {
    return rows.error();
  }
  return rows->affected();
}

/// A fenced UPDATE (one row, `... AND state = 'running' AND attempt = $2`) in a transaction of
/// its own: kApplied iff it changed the row.
inline core::Result<Fence> run_fenced(Pool& pool, const char* update, std::string_view what,
                                      const Params& params) {
  return with_connection<Fence>(pool, what, [&](Connection& c) -> core::Result<Fence> {
    auto n = affected(c, update, params, what);
    if (!n.ok()) {
      return n.error();
    }
    return *n == 1 ? Fence::kApplied : Fence::kFencedOut;
  });
}

/// Threads that run the store's asynchronous writes, each a blocking call, in order of
/// arrival. Thread-safe.
class Workers {
 public:
  explicit Workers(int threads);
  /// Runs every job already posted, then joins.
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  void post(std::function<void()> job);

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ig::store::pg
