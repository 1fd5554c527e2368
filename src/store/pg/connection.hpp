#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"

// Private to the PostgreSQL store: nothing outside src/store/pg/ (and its tests) includes this.
namespace ig::store::pg {

/// The text-format parameters of one statement ($1, $2, … in order). Values are copied.
/// Not thread-safe; a plain value type.
class Params {
 public:
  Params() = default;
  template <class... A>
  explicit Params(const A&... args) {
    (add(args), ...);
  }

  void add(std::int64_t v) { push(std::to_string(v)); }
  void add(int v) { push(std::to_string(v)); }
  void add(bool v) { push(v ? "t" : "f"); }
  void add(std::string_view v) { push(std::string(v)); }
  void add(const std::string& v) { push(v); }
  void add(const char* v) { push(std::string(v)); }
  /// NULL when empty.
  void add(const std::optional<std::int64_t>& v) { v ? add(*v) : push(std::nullopt); }
  void add(const std::optional<std::string>& v) { push(v); }

  int size() const { return static_cast<int>(values_.size()); }
  /// The value pointers for libpq (nullptr for NULL); valid while this object is unchanged.
  std::vector<const char*> pointers() const;

 private:
  void push(std::optional<std::string> v) { values_.push_back(std::move(v)); }
  std::vector<std::optional<std::string>> values_;
};

/// NULL for 0 (an absent row reference such as a task without a key).
inline std::optional<std::int64_t> null_if_zero(std::int64_t v) {
  return v == 0 ? std::nullopt : std::optional<std::int64_t>(v);
}

/// One row of a result. Columns are 0-based; NULL reads as 0, "" or false.
class Row {
 public:
  Row(const PGresult* res, int row) : res_(res), row_(row) {}
  bool is_null(int col) const;
  std::int64_t int64(int col) const;
  std::string text(int col) const;
  bool boolean(int col) const;

 private:
  const PGresult* res_;
  int row_;
};

/// The result of a statement that succeeded.
class Rows {
 public:
  explicit Rows(PGresult* res) : res_(res) {}
  int size() const { return PQntuples(res_.get()); }
  bool empty() const { return size() == 0; }
  Row operator[](int i) const { return Row(res_.get(), i); }
  /// Rows changed by an INSERT/UPDATE/DELETE (without RETURNING: PQcmdTuples).
  std::int64_t affected() const;

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> res_;
};

/// One libpq connection and the statements prepared on it. Not thread-safe: used by one
/// thread at a time (the pool hands it out).
class Connection {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Runs `sql` (a string with static storage duration: prepared once per connection, keyed
  /// by its address) with `params`. A failure is logged with PostgreSQL's text and becomes an
  /// Error whose message names only `what`: kConflict for a unique violation, kUnavailable
  /// for a lost connection, a lock or statement timeout, a serialization failure or a
  /// deadlock; else kInternal (last_sqlstate() tells the rest apart).
  core::Result<Rows> exec(const char* sql, const Params& params, std::string_view what);
  /// Runs text that takes no parameters and returns no rows we need (BEGIN, DDL), unprepared.
  core::Status run(const char* sql, std::string_view what);

  /// The SQLSTATE of the last failure ("" when none or no answer).
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  /// False once the server connection is lost: the pool closes it instead of reusing it.
  bool alive() const { return PQstatus(conn_.get()) == CONNECTION_OK; }
  /// Statements that succeeded on this connection since it was handed out.
  int succeeded() const { return succeeded_; }
  void reset_counters() { succeeded_ = 0; }
  /// True while a transaction is open (or failed and not yet rolled back).
  bool in_transaction() const;

 private:
  core::Error fail(PGresult* res, std::string_view what);

  struct Finish {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  std::unique_ptr<PGconn, Finish> conn_;
  std::unordered_map<const char*, std::string> prepared_;
  std::string last_sqlstate_;
  int succeeded_ = 0;
};

/// Opens one connection to `url` (a libpq URL or key=value string), applies the session
/// settings; kUnavailable when the server cannot be reached.
core::Result<std::unique_ptr<Connection>> connect(const std::string& url, int connect_timeout_s,
                                                  std::chrono::milliseconds lock_timeout,
                                                  std::chrono::milliseconds statement_timeout);

/// A bounded pool of connections: at most `max_size` open at once; a caller waits up to
/// `acquire_timeout` for one. Connections found dead are closed and replaced by new ones on
/// demand, so the pool recovers by itself when PostgreSQL restarts. Thread-safe.
class Pool {
 public:
  struct Settings {
    std::string url;
    int max_size = 8;
    int connect_timeout_s = 5;
    std::chrono::milliseconds acquire_timeout{10'000};
    std::chrono::milliseconds lock_timeout{5'000};
    std::chrono::milliseconds statement_timeout{30'000};
  };

  /// A connection lent by the pool; returned to it (or closed, when dead or mid-transaction)
  /// on destruction.
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;  // would drop the connection it holds
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  explicit Pool(Settings settings) : settings_(std::move(settings)) {}
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// An idle connection, a new one, or (when `max_size` are lent) the next one returned.
  core::Result<Lease> acquire(std::string_view what);
  /// Closes every idle connection (after one was found dead: the others likely are too).
  void drop_idle();
  /// Connections open now (lent and idle).
  int open_count() const;

 private:
  void give_back(std::unique_ptr<Connection> conn);

  const Settings settings_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;
};

}  // namespace ig::store::pg
