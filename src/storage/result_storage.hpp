#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace ig::storage {

/// Where result images live. Keys look like "<task id>/<n>.<ext>". Every method is blocking and
/// thread-safe: call it from the blocking pool.
class ResultStorage {
 public:
  virtual ~ResultStorage() = default;
  /// Stores `bytes` under `key` atomically: readers see the whole object or none.
  virtual core::Status put(std::string_view key, std::string_view bytes) = 0;
  /// Size in bytes of the object, or nullopt when it does not exist.
  virtual std::optional<std::uint64_t> size(std::string_view key) = 0;
  /// Reads `length` bytes from `offset` (clamped to the object's end).
  virtual core::Result<std::string> read(std::string_view key, std::uint64_t offset,
                                         std::uint64_t length) = 0;
  /// Deletes every object stored before `cutoff_ms` (Unix ms); returns how many.
  virtual std::size_t delete_older_than(std::int64_t cutoff_ms) = 0;
};

}  // namespace ig::storage
