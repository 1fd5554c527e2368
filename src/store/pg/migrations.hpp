#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/result.hpp"
#include "store/pg/connection.hpp"

// Private to the PostgreSQL store.
namespace ig::store::pg {

/// One step of the schema: version N turns a database at N-1 into N. The same versions as
/// the SQLite store's (store/sqlite/migrations.cpp), in PostgreSQL's words.
struct Migration {
  int version;
  std::string_view sql;
};

/// Every migration, oldest first (version i + 1 at index i).
std::span<const Migration> migrations();

/// Brings the schema (of the connection's search_path) to the latest version, each step in a
/// transaction of its own, under a session advisory lock: N processes starting at once apply
/// each step once, the others wait and find nothing to do. Fails when the schema is newer
/// than this binary knows.
core::Status migrate(Connection& conn, std::int64_t now_ms);

}  // namespace ig::store::pg
