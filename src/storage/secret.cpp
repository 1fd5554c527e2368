#include "storage/secret.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <system_error>

namespace ig::storage {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kSecretBytes = 32;
constexpr std::size_t kMinSecretLength = 32;
constexpr std::size_t kMaxFileSize = 4096;

core::Error secret_error(std::string_view what, int err = 0) {
  std::string message = "secret file: ";
  message += what;
  if (err != 0) {
    message += ": ";
    message += std::strerror(err);
  }
  return core::make_error(core::ErrorCode::kInternal, std::move(message));
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/// The trimmed contents of `file`; nullopt when it does not exist.
core::Result<std::optional<std::string>> read_secret(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return std::optional<std::string>();
    }
    return secret_error("open", errno);
  }
  std::string text;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return secret_error("read", e);
    }
    if (n == 0) {
      break;
    }
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxFileSize) {
      ::close(fd);
      return secret_error("too large");
    }
  }
  ::close(fd);
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_space(text[begin])) {
    ++begin;
  }
  while (end > begin && is_space(text[end - 1])) {
    --end;
  }
  text = text.substr(begin, end - begin);
  if (text.size() < kMinSecretLength) {
    return secret_error("secret shorter than 32 characters");
  }
  return std::optional<std::string>(std::move(text));
}

std::string random_hex_secret() {
  unsigned char bytes[kSecretBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return std::string();
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * kSecretBytes);
  for (unsigned char b : bytes) {
    hex.push_back(kDigits[b >> 4]);
    hex.push_back(kDigits[b & 0x0f]);
  }
  return hex;
}

/// Writes `text` to a fresh 0600 file at `temp` and flushes it to disk.
core::Status write_private_file(const fs::path& temp, const std::string& text) {
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return secret_error("create", errno);
  }
  const std::string content = text + "\n";
  std::size_t done = 0;
  bool ok = ::fchmod(fd, 0600) == 0;  // independent of the umask
  while (ok && done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    ok = n > 0;
    done += ok ? static_cast<std::size_t>(n) : 0;
  }
  ok = ok && ::fsync(fd) == 0;
  int e = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    ::unlink(temp.c_str());
    return secret_error("write", e);
  }
  return core::ok_status();
}

}  // namespace

core::Result<std::string> load_or_create_secret(const fs::path& file) {
  auto existing = read_secret(file);
  if (!existing) {
    return existing.error();
  }
  if (existing->has_value()) {
    return std::move(**existing);
  }

  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return secret_error("create directory", ec.value());
  }
  const std::string secret = random_hex_secret();
  if (secret.empty()) {
    return secret_error("no random bytes available");
  }
  static std::atomic<std::uint64_t> counter{0};
  std::string temp_name = ".";
  temp_name += file.filename().string();
  temp_name += ".tmp-";
  temp_name += std::to_string(::getpid());
  temp_name += '-';
  temp_name += std::to_string(counter.fetch_add(1));
  const fs::path temp = dir / temp_name;
  if (auto written = write_private_file(temp, secret); !written) {
    return written.error();
  }
  // link() creates the name only if it is still missing, unlike rename(): a concurrent
  // creator that won keeps its secret and we adopt it.
  const int linked = ::link(temp.c_str(), file.c_str());
  const int link_errno = errno;
  ::unlink(temp.c_str());
  if (linked != 0 && link_errno != EEXIST) {
    return secret_error("link", link_errno);
  }
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (linked == 0) {
    return secret;
  }
  auto winner = read_secret(file);
  if (!winner) {
    return winner.error();
  }
  if (!winner->has_value()) {
    return secret_error("vanished while being created");
  }
  return std::move(**winner);
}

}  // namespace ig::storage
