#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/result_storage.hpp"

namespace ig::storage {

/// Checks a storage key: non-empty, at most 1024 bytes, segments of [A-Za-z0-9._-] separated by
/// single '/', no segment empty or starting with '.' (so no "..", no absolute paths, and
/// dot-names stay free for temporary files).
bool is_valid_key(std::string_view key);

/// Result objects as files under a root directory, one directory per task. An object's store
/// time (taken from the injected clock) is kept as the file's mtime. Thread-safe, and safe to
/// share one root between processes.
class FsResultStorage final : public ResultStorage {
 public:
  FsResultStorage(std::filesystem::path root, const core::Clock& clock);

  core::Status put(std::string_view key, std::string_view bytes) override;
  std::optional<std::uint64_t> size(std::string_view key) override;
  core::Result<std::string> read(std::string_view key, std::uint64_t offset,
                                 std::uint64_t length) override;
  bool local_files() const override { return true; }
  std::optional<OpenFile> open_file(std::string_view key) override;
  std::size_t delete_older_than(std::int64_t cutoff_ms) override;

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
  const core::Clock& clock_;
};

}  // namespace ig::storage
