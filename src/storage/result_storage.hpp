#pragma once

#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.hpp"

namespace ig::storage {

/// An open, read-only result file. Owns its descriptor; movable only.
class OpenFile {
 public:
  OpenFile(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  OpenFile(OpenFile&& o) noexcept : fd_(std::exchange(o.fd_, -1)), size_(o.size_) {}
  OpenFile& operator=(OpenFile&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
      size_ = o.size_;
    }
    return *this;
  }
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile() { reset(); }

  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }

 private:
  void reset() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// Where result images live. Keys look like "<task id>/<n>.<ext>". Every method is blocking and
/// thread-safe: call it from the blocking pool.
class ResultStorage {
 public:
  virtual ~ResultStorage() = default;
  /// Stores `bytes` under `key` atomically: readers see the whole object or none.
  virtual core::Status put(std::string_view key, std::string_view bytes) = 0;
  /// Size in bytes of the object, or nullopt when it does not exist.
  virtual std::optional<std::uint64_t> size(std::string_view key) = 0;
  /// Size in bytes of the object: an Error of kNotFound when it does not exist, of another code
  /// when the storage could not be asked (a remote store that is down).
  virtual core::Result<std::uint64_t> stat_size(std::string_view key) {
    if (auto s = size(key)) {
      return *s;
    }
    return core::make_error(core::ErrorCode::kNotFound, "object not found");
  }
  /// Reads `length` bytes from `offset` (clamped to the object's end).
  virtual core::Result<std::string> read(std::string_view key, std::uint64_t offset,
                                         std::uint64_t length) = 0;
  /// True when objects are local files: open_file() serves them (and size()/read() are not
  /// needed to send one).
  virtual bool local_files() const { return false; }
  /// The object as an open file, for sending with sendfile(2) (no copy through user space):
  /// nullopt when it does not exist, or when this storage keeps no local files (then read()).
  /// The descriptor stays valid, and the bytes readable, even if the object is deleted
  /// meanwhile.
  virtual std::optional<OpenFile> open_file(std::string_view key) {
    (void)key;
    return std::nullopt;
  }
  /// Deletes every object stored before `cutoff_ms` (Unix ms); returns how many.
  virtual std::size_t delete_older_than(std::int64_t cutoff_ms) = 0;
};

}  // namespace ig::storage
