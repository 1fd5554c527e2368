#include "storage/fs_storage.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>
#include <utility>

namespace ig::storage {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxKeyLength = 1024;
// Temporary files are "." + name + kTempMarker + unique suffix. Keys never start a segment
// with '.', so no key can collide with one.
constexpr std::string_view kTempMarker = ".tmp-";
// A temporary file whose inode has not changed for this long (real time) was left by a crash.
constexpr std::chrono::hours kStaleTempAge{1};
constexpr int kOpenAttempts = 8;

/// Closes a descriptor on scope exit unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  ~FdGuard() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }
  /// Closes now and reports the result (close can report a deferred write error).
  int close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

core::Error bad_key() {
  return core::make_error(core::ErrorCode::kInvalidRequest, "invalid key");
}

core::Error io_error(std::string_view what, int err) {
  std::string message = "storage: ";
  message += what;
  message += ": ";
  message += std::strerror(err);
  return core::make_error(core::ErrorCode::kInternal, std::move(message));
}

std::int64_t to_ms(const struct timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

struct timespec from_ms(std::int64_t ms) {
  std::int64_t sec = ms / 1000;
  std::int64_t rem = ms % 1000;
  if (rem < 0) {
    sec -= 1;
    rem += 1000;
  }
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>(rem * 1'000'000);
  return ts;
}

std::string temp_name(const std::string& file_name) {
  static std::atomic<std::uint64_t> counter{0};
  std::string name = ".";
  name += file_name;
  name += kTempMarker;
  name += std::to_string(::getpid());
  name += '-';
  name += std::to_string(counter.fetch_add(1));
  return name;
}

bool is_temp_name(const std::string& name) {
  return name.starts_with('.') && name.find(kTempMarker) != std::string::npos;
}

// Makes a rename or a new directory entry durable. Best effort: some filesystems refuse it.
void sync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return;
  }
  ::fsync(fd);
  ::close(fd);
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Walks `dir` depth-first, deleting objects stored before `cutoff_ms` and stale temporary
/// files, then removes `dir` itself when it is empty and not the root.
std::size_t sweep(const fs::path& dir, bool is_root, std::int64_t cutoff_ms,
                  std::int64_t stale_temp_before_ms) {
  std::size_t removed = 0;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return 0;
  }
  for (const fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) {
      break;
    }
    const fs::path& path = it->path();
    struct stat st {};
    // lstat: symlinks are never followed, so nothing outside the root is touched.
    if (::lstat(path.c_str(), &st) != 0) {
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      removed += sweep(path, false, cutoff_ms, stale_temp_before_ms);
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      continue;
    }
    if (is_temp_name(path.filename().string())) {
      // A temp file's mtime may already hold the clock's store time, so its age is judged by
      // the inode change time, which only the real clock sets.
      if (to_ms(st.st_ctim) < stale_temp_before_ms) {
        ::unlink(path.c_str());
      }
      continue;
    }
    if (to_ms(st.st_mtim) < cutoff_ms && ::unlink(path.c_str()) == 0) {
      ++removed;
    }
  }
  if (!is_root) {
    // Fails with ENOTEMPTY when objects remain or a put() just added one: that is fine.
    ::rmdir(dir.c_str());
  }
  return removed;
}

}  // namespace

bool is_valid_key(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyLength) {
    return false;
  }
  bool segment_start = true;
  for (char c : key) {
    if (c == '/') {
      if (segment_start) {
        return false;  // leading '/', or "//"
      }
      segment_start = true;
      continue;
    }
    if (!is_key_char(c)) {
      return false;
    }
    if (segment_start && c == '.') {
      return false;  // ".", "..", hidden and temporary names
    }
    segment_start = false;
  }
  return !segment_start;  // no trailing '/'
}

FsResultStorage::FsResultStorage(std::filesystem::path root, const core::Clock& clock)
    : root_(std::move(root)), clock_(clock) {}

core::Status FsResultStorage::put(std::string_view key, std::string_view bytes) {
  if (!is_valid_key(key)) {
    return bad_key();
  }
  const fs::path target = root_ / fs::path(key);
  const fs::path dir = target.parent_path();
  const std::string file_name = target.filename().string();

  fs::path temp;
  int fd = -1;
  int err = 0;
  bool created_dir = false;
  // delete_older_than() may remove the directory between create_directories and open, and a
  // crashed process may have left a temp name behind: both are retried.
  for (int attempt = 0; attempt < kOpenAttempts && fd < 0; ++attempt) {
    std::error_code ec;
    created_dir = fs::create_directories(dir, ec) || created_dir;
    if (ec) {
      return io_error("create directory", ec.value());
    }
    temp = dir / temp_name(file_name);
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    err = errno;
    if (fd < 0 && err != ENOENT && err != EEXIST) {
      break;
    }
  }
  if (fd < 0) {
    return io_error("create", err);
  }
  FdGuard guard(fd);
  auto fail = [&](std::string_view what) {
    int e = errno;
    guard.close();
    ::unlink(temp.c_str());
    return io_error(what, e);
  };
  if (!write_all(fd, bytes)) {
    return fail("write");
  }
  const struct timespec stored = from_ms(clock_.now_ms());
  const struct timespec times[2] = {stored, stored};
  if (::futimens(fd, times) != 0) {
    return fail("set time");
  }
  if (::fsync(fd) != 0) {
    return fail("fsync");
  }
  if (guard.close() != 0) {
    int e = errno;
    ::unlink(temp.c_str());
    return io_error("close", e);
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    int e = errno;
    ::unlink(temp.c_str());
    return io_error("rename", e);
  }
  sync_dir(dir);
  if (created_dir) {
    sync_dir(dir.parent_path());
  }
  return core::ok_status();
}

std::optional<std::uint64_t> FsResultStorage::size(std::string_view key) {
  if (!is_valid_key(key)) {
    return std::nullopt;
  }
  const fs::path target = root_ / fs::path(key);
  struct stat st {};
  if (::lstat(target.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(st.st_size);
}

std::optional<OpenFile> FsResultStorage::open_file(std::string_view key) {
  if (!is_valid_key(key)) {
    return std::nullopt;
  }
  const fs::path target = root_ / fs::path(key);
  const int fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return std::nullopt;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::nullopt;
  }
  // Starts reading it into the page cache here, on the blocking pool: sendfile(2) on the I/O
  // thread would otherwise wait for the disk on a file that is not cached.
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
  return OpenFile(fd, static_cast<std::uint64_t>(st.st_size));
}

core::Result<std::string> FsResultStorage::read(std::string_view key, std::uint64_t offset,
                                                std::uint64_t length) {
  if (!is_valid_key(key)) {
    return bad_key();
  }
  const fs::path target = root_ / fs::path(key);
  int fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR || e == ELOOP || e == EISDIR) {
      return core::make_error(core::ErrorCode::kNotFound, "object not found");
    }
    return io_error("open", e);
  }
  FdGuard guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return io_error("stat", errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return core::make_error(core::ErrorCode::kNotFound, "object not found");
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (offset >= file_size) {
    return std::string();
  }
  const std::uint64_t n = std::min(length, file_size - offset);
  std::string out(static_cast<std::size_t>(n), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t got =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return io_error("read", errno);
    }
    if (got == 0) {
      break;  // truncated under us: objects are replaced by rename, so this is not expected
    }
    done += static_cast<std::size_t>(got);
  }
  out.resize(done);
  return out;
}

std::size_t FsResultStorage::delete_older_than(std::int64_t cutoff_ms) {
  using namespace std::chrono;
  const std::int64_t real_now_ms =
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::int64_t stale_before_ms =
      real_now_ms - duration_cast<milliseconds>(kStaleTempAge).count();
  return sweep(root_, true, cutoff_ms, stale_before_ms);
}

}  // namespace ig::storage
