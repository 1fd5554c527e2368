#include "store/sqlite/connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <utility>

#include "store/sqlite/wal_vfs.hpp"

namespace ig::store::detail {

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), db_(other.db_), bind_rc_(other.bind_rc_) {}

Statement::~Statement() {
  if (stmt_ == nullptr) {
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) {
    bind_rc_ = rc;
  }
}

void Statement::bind(int index, std::string_view value) {
  if (value.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    bind_rc_ = SQLITE_TOOBIG;
    return;
  }
  // SQLITE_TRANSIENT: SQLite copies, so temporaries are safe to bind.
  int rc = sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                             SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) {
    bind_rc_ = rc;
  }
}

void Statement::bind_null(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (bind_rc_ == SQLITE_OK) {
    bind_rc_ = rc;
  }
}

int Statement::step() {
  if (bind_rc_ != SQLITE_OK) {
    return bind_rc_;
  }
  return sqlite3_step(stmt_);
}

std::int64_t Statement::int64(int col) const {
  return sqlite3_column_int64(stmt_, col);
}

bool Statement::is_null(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::string Statement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) {
    return {};
  }
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::int64_t Statement::changes() const {
  return sqlite3_changes64(db_);
}

namespace {

// SQLite's page cache starts each cache with a bulk allocation of 20 pages. Every temporary
// b-tree (an IN list, a sort, a RETURNING clause) has a cache of its own, so one claim made
// and freed several of them: fresh memory faulted in page by page, then handed back to the
// kernel with madvise and a TLB flush on every core. That was half the writer thread's time.
// Without the bulk allocation a cache takes pages one at a time, as it needs them.
void configure_sqlite_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Must precede sqlite3_initialize (the first open calls it). SQLITE_MISUSE means someone
    // initialised SQLite first; the default then stays, which is only slower.
    if (sqlite3_config(SQLITE_CONFIG_PAGECACHE, nullptr, 0, 0) != SQLITE_OK) {
      spdlog::debug("store: SQLite was initialised before its page cache could be configured");
    }
    // No memory statistics: keeping them takes one process-wide mutex around every SQLite
    // allocation, which every I/O thread's reads then contend on.
    if (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) != SQLITE_OK) {
      spdlog::debug("store: SQLite was initialised before its memory statistics could be off");
    }
  });
}

}  // namespace

core::Result<Connection> Connection::open(const std::filesystem::path& path, Mode mode,
                                          std::chrono::milliseconds busy_timeout, Wal wal) {
  configure_sqlite_once();
  // After configure_sqlite_once: registering a VFS initialises SQLite.
  const char* vfs = wal == Wal::kGathered ? gathering_wal_vfs() : nullptr;
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |=
      mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, vfs);
  // sqlite3_open_v2 hands back a handle even on failure; it must still be closed.
  Connection conn(raw);
  if (rc != SQLITE_OK) {
    if (raw == nullptr) {
      spdlog::error("store: open {} failed: out of memory", path.string());
      return core::make_error(core::ErrorCode::kInternal, "store: open failed");
    }
    spdlog::error("store: open {} failed: {} (sqlite code {})", path.string(), sqlite3_errmsg(raw),
                  rc);
    return core::make_error(core::ErrorCode::kInternal, "store: open failed");
  }
  sqlite3_extended_result_codes(raw, 1);
  auto ms = busy_timeout.count();
  ms = std::clamp<decltype(ms)>(ms, 0, std::numeric_limits<int>::max());
  sqlite3_busy_timeout(raw, static_cast<int>(ms));
  return conn;
}

core::Status Connection::exec(const char* sql, std::string_view what) {
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return error(rc, what);
  }
  return core::ok_status();
}

core::Status Connection::run(const char* sql, std::string_view what) {
  auto st = prepare(sql, what);
  if (!st.ok()) {
    return st.error();
  }
  if (int rc = st->step(); rc != SQLITE_DONE && rc != SQLITE_ROW) {
    return error(rc, what);
  }
  return core::ok_status();
}

void Connection::rollback() {
  if (!in_transaction()) {
    return;
  }
  if (int rc = sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
    spdlog::error("store: rollback failed: {} (sqlite code {})", sqlite3_errmsg(db_.get()), rc);
  }
}

core::Result<Statement> Connection::prepare(const char* sql, std::string_view what) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(raw);
      return error(rc, what);
    }
    it = cache_.emplace(sql, std::unique_ptr<sqlite3_stmt, FinalizeStmt>(raw)).first;
  }
  return Statement(it->second.get(), db_.get());
}

core::Error Connection::error(int rc, std::string_view what) const {
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    // An expected outcome (duplicate id or key), not a fault: no error log.
    spdlog::debug("store: {}: {}", what, sqlite3_errmsg(db_.get()));
    return core::make_error(core::ErrorCode::kConflict,
                            "store: " + std::string(what) + ": already exists");
  }
  spdlog::error("store: {} failed: {} (sqlite code {})", what, sqlite3_errmsg(db_.get()), rc);
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return core::make_error(core::ErrorCode::kUnavailable, "store: database busy");
  }
  return core::make_error(core::ErrorCode::kInternal, "store: " + std::string(what) + " failed");
}

}  // namespace ig::store::detail
