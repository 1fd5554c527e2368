#include "store/pg/connection.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <cstring>
#include <utility>

namespace ig::store::pg {
namespace {

// SQLSTATE classes and codes after which the same statement may succeed when tried again.
bool retryable(std::string_view state) {
  return state.starts_with("08") ||  // connection exception
         state == "40001" ||         // serialization_failure
         state == "40P01" ||         // deadlock_detected
         state == "55P03" ||         // lock_not_available (lock_timeout)
         state == "57014" ||         // query_canceled (statement_timeout)
         state == "57P01" ||         // admin_shutdown
         state == "57P02" ||         // crash_shutdown
         state == "57P03" ||         // cannot_connect_now
         state == "53300";           // too_many_connections
}

core::Error store_error(core::ErrorCode code, std::string_view what) {
  return core::make_error(code, "store: " + std::string(what) + " failed");
}

std::string one_line(const char* text) {
  std::string s = text != nullptr ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  for (char& ch : s) {
    if (ch == '\n') {
      ch = ' ';
    }
  }
  return s;
}

}  // namespace

std::vector<const char*> Params::pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_) {
    out.push_back(v ? v->c_str() : nullptr);
  }
  return out;
}

bool Row::is_null(int col) const {
  return PQgetisnull(res_, row_, col) != 0;
}

std::int64_t Row::int64(int col) const {
  if (is_null(col)) {
    return 0;
  }
  const char* s = PQgetvalue(res_, row_, col);
  const char* end = s + PQgetlength(res_, row_, col);
  std::int64_t v = 0;
  // A numeric SUM prints as an integer here (every summed column is an integer).
  std::from_chars(s, end, v);
  return v;
}

std::string Row::text(int col) const {
  if (is_null(col)) {
    return {};
  }
  return std::string(PQgetvalue(res_, row_, col),
                     static_cast<std::size_t>(PQgetlength(res_, row_, col)));
}

bool Row::boolean(int col) const {
  return !is_null(col) && PQgetvalue(res_, row_, col)[0] == 't';
}

std::int64_t Rows::affected() const {
  const char* n = PQcmdTuples(res_.get());
  std::int64_t v = 0;
  std::from_chars(n, n + std::strlen(n), v);
  return v;
}

core::Error Connection::fail(PGresult* res, std::string_view what) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  last_sqlstate_ = state != nullptr ? state : "";
  const std::string message =
      one_line(res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn_.get()));
  if (res != nullptr) {
    PQclear(res);
  }
  const bool lost = !alive();
  if (lost || retryable(last_sqlstate_)) {
    spdlog::warn("store: {} failed ({}): {}", what, lost ? "connection lost" : last_sqlstate_,
                 message);
    return store_error(core::ErrorCode::kUnavailable, what);
  }
  if (last_sqlstate_ == "23505") {
    spdlog::debug("store: {}: {}", what, message);
    return store_error(core::ErrorCode::kConflict, what);
  }
  spdlog::error("store: {} failed ({}): {}", what, last_sqlstate_, message);
  return store_error(core::ErrorCode::kInternal, what);
}

core::Result<Rows> Connection::exec(const char* sql, const Params& params, std::string_view what) {
  last_sqlstate_.clear();
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "ig" + std::to_string(prepared_.size());
    PGresult* res = PQprepare(conn_.get(), name.c_str(), sql, 0, nullptr);
    if (res == nullptr || PQresultStatus(res) != PGRES_COMMAND_OK) {
      return fail(res, what);
    }
    PQclear(res);
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  const auto values = params.pointers();
  PGresult* res = PQexecPrepared(conn_.get(), it->second.c_str(), params.size(), values.data(),
                                 nullptr, nullptr, 0);
  const auto status = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return fail(res, what);
  }
  ++succeeded_;
  return Rows(res);
}

core::Status Connection::run(const char* sql, std::string_view what) {
  last_sqlstate_.clear();
  PGresult* res = PQexec(conn_.get(), sql);
  const auto status = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return fail(res, what);
  }
  PQclear(res);
  ++succeeded_;
  return core::ok_status();
}

bool Connection::in_transaction() const {
  const auto s = PQtransactionStatus(conn_.get());
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

core::Result<std::unique_ptr<Connection>> connect(const std::string& url, int connect_timeout_s,
                                                  std::chrono::milliseconds lock_timeout,
                                                  std::chrono::milliseconds statement_timeout) {
  const std::string timeout = std::to_string(connect_timeout_s);
  // The URL comes last: what it sets (its own application_name, say) wins.
  const std::array<const char*, 4> keys{"application_name", "connect_timeout", "dbname", nullptr};
  const std::array<const char*, 4> values{"imagegate", timeout.c_str(), url.c_str(), nullptr};
  PGconn* raw = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (raw == nullptr) {
    return core::make_error(core::ErrorCode::kUnavailable, "store: cannot connect to PostgreSQL");
  }
  auto conn = std::make_unique<Connection>(raw);
  if (PQstatus(raw) != CONNECTION_OK) {
    // libpq's message names the host and port, never the password.
    spdlog::warn("store: cannot connect to PostgreSQL: {}", one_line(PQerrorMessage(raw)));
    return core::make_error(core::ErrorCode::kUnavailable, "store: cannot connect to PostgreSQL");
  }
  // Integers only: the SET takes no parameters, and these are not user text.
  const std::string settings =
      "SET lock_timeout = " + std::to_string(lock_timeout.count()) +
      "; SET statement_timeout = " + std::to_string(statement_timeout.count()) +
      "; SET TIME ZONE 'UTC'";
  if (auto s = conn->run(settings.c_str(), "connect"); !s.ok()) {
    return s.error();
  }
  conn->reset_counters();
  return conn;
}

Pool::Lease::~Lease() {
  if (pool_ != nullptr && conn_) {
    pool_->give_back(std::move(conn_));
  }
}

Pool::~Pool() {
  std::lock_guard lk(mu_);
  idle_.clear();
}

core::Result<Pool::Lease> Pool::acquire(std::string_view what) {
  std::unique_lock lk(mu_);
  const auto deadline = std::chrono::steady_clock::now() + settings_.acquire_timeout;
  while (idle_.empty() && open_ >= settings_.max_size) {
    if (freed_.wait_until(lk, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= settings_.max_size) {
      spdlog::warn("store: {}: every one of the {} database connections stayed busy", what,
                   settings_.max_size);
      return store_error(core::ErrorCode::kUnavailable, what);
    }
  }
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    conn->reset_counters();
    return Lease(this, std::move(conn));
  }
  ++open_;
  lk.unlock();
  auto conn = connect(settings_.url, settings_.connect_timeout_s, settings_.lock_timeout,
                      settings_.statement_timeout);
  if (!conn.ok()) {
    lk.lock();
    --open_;
    freed_.notify_one();
    return conn.error();
  }
  return Lease(this, std::move(*conn));
}

void Pool::give_back(std::unique_ptr<Connection> conn) {
  // A connection left inside a transaction (an exception between BEGIN and COMMIT) is closed:
  // the server rolls it back, and the next borrower starts clean.
  const bool reusable = conn->alive() && !conn->in_transaction();
  std::lock_guard lk(mu_);
  if (reusable) {
    idle_.push_back(std::move(conn));
  } else {
    conn.reset();
    --open_;
  }
  freed_.notify_one();
}

void Pool::drop_idle() {
  std::vector<std::unique_ptr<Connection>> dropped;
  std::lock_guard lk(mu_);
  open_ -= static_cast<int>(idle_.size());
  dropped.swap(idle_);
  freed_.notify_all();
}

int Pool::open_count() const {
  std::lock_guard lk(mu_);
  return open_;
}

}  // namespace ig::store::pg
