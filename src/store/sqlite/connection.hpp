#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.hpp"

// Private to the SQLite store: nothing outside src/store/sqlite/ (and its tests) includes this.
namespace ig::store::detail {

class Connection;

/// A borrowed prepared statement from a Connection's cache. Resets itself and clears its
/// bindings when destroyed, so no read transaction outlives the call that used it.
/// Not thread-safe: used by the thread that owns the Connection.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQL ("?1"). A failed bind is reported by the next step().
  void bind(int index, std::int64_t value);
  void bind(int index, std::string_view value);
  void bind_null(int index);

  /// SQLITE_ROW, SQLITE_DONE or an (extended) error code.
  int step();

  // Columns are 0-based. NULL reads as 0 or "".
  std::int64_t int64(int col) const;
  bool is_null(int col) const;
  std::string text(int col) const;

  /// Rows changed by the last completed INSERT/UPDATE/DELETE on this connection.
  std::int64_t changes() const;

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
  int bind_rc_ = SQLITE_OK;
};

/// One sqlite3 connection with its prepared-statement cache. Not thread-safe: it is opened
/// with SQLITE_OPEN_NOMUTEX and must be used by one thread at a time.
class Connection {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  /// How the connection writes its WAL: as SQLite does (two pwrite calls a frame), or
  /// gathered into one pwrite before each sync (wal_vfs.hpp; only for a connection whose
  /// every commit syncs, `synchronous = FULL`).
  enum class Wal { kPlain, kGathered };

  /// Opens (creating it in kReadWrite mode) the database file, with extended result codes and
  /// the busy timeout set.
  static core::Result<Connection> open(const std::filesystem::path& path, Mode mode,
                                       std::chrono::milliseconds busy_timeout,
                                       Wal wal = Wal::kPlain);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;
  ~Connection() = default;

  sqlite3* handle() const { return db_.get(); }

  /// Runs SQL that returns no rows we need (pragmas, DDL, transaction control). `what` names
  /// the operation in logs.
  core::Status exec(const char* sql, std::string_view what);

  /// One statement (transaction control, on the hot path) that returns no rows, from the
  /// statement cache: exec() would parse it anew each time. Same rule for `sql` as prepare().
  core::Status run(const char* sql, std::string_view what);

  /// The cached statement for `sql`, prepared on first use. `sql` must be a string with static
  /// storage duration: the cache is keyed by its address.
  core::Result<Statement> prepare(const char* sql, std::string_view what);

  /// Rolls back the open transaction, if any (after a failure; a failed ROLLBACK is logged).
  void rollback();

  /// True while a transaction is open (false after COMMIT, ROLLBACK, or an automatic rollback).
  bool in_transaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }

  /// The error a failed call with result `rc` turns into: kConflict for a UNIQUE/PRIMARY KEY
  /// violation, kUnavailable when the database stayed locked, else kInternal. The message is
  /// generic ("store: <what> failed"); SQLite's own text only goes to the log.
  core::Error error(int rc, std::string_view what) const;

 private:
  struct CloseDb {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  struct FinalizeStmt {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };

  explicit Connection(sqlite3* db) : db_(db) {}

  // Declared first so it is destroyed last, after every statement is finalized.
  std::unique_ptr<sqlite3, CloseDb> db_;
  std::unordered_map<const char*, std::unique_ptr<sqlite3_stmt, FinalizeStmt>> cache_;
};

}  // namespace ig::store::detail
