#pragma once

#include <libpq-fe.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace ig::store::testing {

/// The PostgreSQL server of the tests: IMAGEGATE_TEST_PG, else the URL the ctest fixture
/// (scripts/pg-test.sh) wrote to the file IMAGEGATE_TEST_PG_FILE names; "" when neither is set.
/// A file named but missing or empty fails the test: ctest was to start the server.
inline std::string test_pg_url() {
  if (const char* url = std::getenv("IMAGEGATE_TEST_PG"); url != nullptr && *url != '\0') {
    return url;
  }
  const char* file = std::getenv("IMAGEGATE_TEST_PG_FILE");
  if (file == nullptr || *file == '\0') {
    return {};
  }
  std::ifstream in(file);
  std::string url;
  std::getline(in, url);
  if (url.empty()) {
    ADD_FAILURE() << "IMAGEGATE_TEST_PG_FILE=" << file
                  << " holds no URL: did scripts/pg-test.sh start fail?";
  }
  return url;
}

/// `url` with libpq's options parameter set to `-c name=value` (percent-encoded).
inline std::string with_setting(const std::string& url, const std::string& name,
                                const std::string& value) {
  const char sep = url.find('?') == std::string::npos ? '?' : '&';
  return url + sep + "options=-c" + name + "%3D" + value;
}

/// A plain libpq connection for looking at a database behind the store's back. Not
/// thread-safe.
class RawPg {
 public:
  explicit RawPg(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      ADD_FAILURE() << "cannot connect to " << url << ": " << PQerrorMessage(conn_);
      return;
    }
    exec("SET client_min_messages = warning");  // no NOTICE of every table a DROP cascades to
  }
  ~RawPg() { PQfinish(conn_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;

  /// Runs `sql` (several statements allowed); false (and a failed test unless `may_fail`)
  /// when it fails.
  bool exec(const std::string& sql, bool may_fail = false) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto st = PQresultStatus(r);
    const bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok && !may_fail) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
    }
    PQclear(r);
    return ok;
  }

  /// First column of the first row, as text ("" when there is none).
  std::string text(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::string out;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
    } else if (PQntuples(r) > 0 && PQgetisnull(r, 0, 0) == 0) {
      out = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
    return out;
  }

 private:
  PGconn* conn_;
};

/// A schema of its own on the test server, so that tests do not see each other's rows;
/// dropped with everything in it on destruction. Not thread-safe.
class PgSchema {
 public:
  /// nullptr when no server is configured (test_pg_url() is "").
  static std::unique_ptr<PgSchema> create() {
    const std::string server = test_pg_url();
    if (server.empty()) {
      return nullptr;
    }
    std::random_device rd;
    std::string name = "t_" + std::to_string(rd()) + "_" + std::to_string(rd());
    auto schema = std::unique_ptr<PgSchema>(new PgSchema(server, std::move(name)));
    schema->admin_.exec("CREATE SCHEMA " + schema->name_);
    return schema;
  }
  ~PgSchema() {
    raw_.reset();
    admin_.exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE", /*may_fail=*/true);
  }
  PgSchema(const PgSchema&) = delete;
  PgSchema& operator=(const PgSchema&) = delete;

  const std::string& name() const { return name_; }
  /// The server's URL with this schema first on the search path: a store opened on it
  /// creates and uses its tables there.
  std::string url() const { return with_setting(server_, "search_path", name_); }
  const std::string& server_url() const { return server_; }

  void exec(const std::string& sql) { raw().exec(sql); }
  std::string text(const std::string& sql) { return raw().text(sql); }
  /// A connection on this schema, opened on first use.
  RawPg& raw() {
    if (!raw_) {
      raw_ = std::make_unique<RawPg>(url());
    }
    return *raw_;
  }

 private:
  PgSchema(std::string server, std::string name)
      : server_(std::move(server)), name_(std::move(name)), admin_(server_) {}

  std::string server_;
  std::string name_;
  RawPg admin_;
  std::unique_ptr<RawPg> raw_;
};

}  // namespace ig::store::testing
