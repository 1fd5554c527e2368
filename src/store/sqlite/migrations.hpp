#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/result.hpp"
#include "store/sqlite/connection.hpp"

namespace ig::store::detail {

/// One schema step. Versions start at 1 and are contiguous. A shipped step is never edited:
/// changes are new steps appended to the list.
struct Migration {
  int version;
  std::string_view sql;
  /// The step edits table definitions in sqlite_schema (writable_schema, then a new
  /// schema_version) rather than running DDL.
  bool edits_schema = false;
};

/// Every step this binary knows, in order.
std::span<const Migration> migrations();

/// Brings the database behind `conn` (read-write, no open transaction) to the latest version:
/// each missing step runs in its own BEGIN IMMEDIATE transaction together with its
/// schema_migrations row, so two processes opening the same file do not both apply it.
/// Fails if the database records a version newer than this binary knows.
core::Status migrate(Connection& conn, std::int64_t now_ms);

}  // namespace ig::store::detail
