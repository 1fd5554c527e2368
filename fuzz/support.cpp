#include "support.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include <boost/json/parse.hpp>

#include "billing/prices.hpp"

namespace ig::fuzz {
namespace {

// Set while an input runs (one thread: libFuzzer calls the target from its main thread).
bool g_in_input = false;

// libFuzzer's -artifact_prefix: where it writes a finding, possibly while the input that made
// it is still running (a sanitizer report, a timeout).
std::string g_artifact_prefix;

// libFuzzer's own files: findings under the artifact prefix, or in the current directory under
// its names when no prefix was given.
bool is_libfuzzer_output(const char* path) {
  const std::string_view p(path == nullptr ? "" : path);
  if (!g_artifact_prefix.empty()) {
    return p.starts_with(g_artifact_prefix);
  }
  for (std::string_view kind : {"crash-", "leak-", "timeout-", "oom-", "slow-unit-"}) {
    if (p.starts_with(kind)) {
      return true;
    }
  }
  return false;
}

[[noreturn]] void refuse(const char* call) {
  g_in_input = false;  // so that libFuzzer can still write the input down
  std::fprintf(stderr,
               "fuzz: the code under test called %s(); fuzz targets touch no files "
               "and no network\n",
               call);
  std::abort();
}

void check_open(const char* call, const char* path) {
  if (g_in_input && !is_libfuzzer_output(path)) {
    refuse(call);
  }
}

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

void require(bool condition, std::string_view what) {
  if (!condition) {
    g_in_input = false;
    std::fprintf(stderr, "fuzz: check failed: %.*s\n", static_cast<int>(what.size()), what.data());
    std::abort();
  }
}

void require_json(std::string_view body, std::string_view what) {
  boost::system::error_code ec;
  boost::json::parse(body, ec);
  if (ec) {
    g_in_input = false;
    std::fprintf(stderr, "fuzz: %.*s is not valid JSON (%s):\n%.*s\n",
                 static_cast<int>(what.size()), what.data(), ec.message().c_str(),
                 static_cast<int>(std::min<std::size_t>(body.size(), 4096)), body.data());
    std::abort();
  }
}

InputScope::InputScope() {
  g_in_input = true;
}
InputScope::~InputScope() {
  g_in_input = false;
}

void check_refused(unsigned status, std::string_view body, std::string_view dialect) {
  require(status >= 400 && status < 500, std::string(dialect) +
                                             ": a refused request is a client error, got HTTP " +
                                             std::to_string(status));
  require_json(body, std::string(dialect) + " error body");
}

void check_accepted(const api::dialects::ParsedCreate& parsed) {
  require_json(parsed.param, "the echoed request (param)");
  require(!parsed.request.model.empty(), "an accepted request names a model");
  static const billing::PriceTable prices = billing::PriceTable::defaults();
  auto price = prices.quote(parsed.request);
  require(!price || *price >= 0, "a quoted price is not negative");
}

}  // namespace ig::fuzz

// Called by libFuzzer before the first input: notes where findings are written.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  constexpr std::string_view kFlag = "-artifact_prefix=";
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg((*argv)[i]);
    if (arg.starts_with(kFlag)) {
      ig::fuzz::g_artifact_prefix = std::string(arg.substr(kFlag.size()));
    }
  }
  return 0;
}

// The guard of InputScope: these replace libc's (and the sanitizers' weak interceptors) in the
// fuzz executables only, and defer to the real call outside an input.
extern "C" {

int open(const char* path, int flags, ...) {
  ig::fuzz::check_open("open", path);
  va_list ap;
  va_start(ap, flags);
  const auto mode = static_cast<mode_t>(va_arg(ap, unsigned));
  va_end(ap);
  static const auto next = ig::fuzz::real<int (*)(const char*, int, ...)>("open");
  return next(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  ig::fuzz::check_open("open64", path);
  va_list ap;
  va_start(ap, flags);
  const auto mode = static_cast<mode_t>(va_arg(ap, unsigned));
  va_end(ap);
  static const auto next = ig::fuzz::real<int (*)(const char*, int, ...)>("open64");
  return next(path, flags, mode);
}

int openat(int dir, const char* path, int flags, ...) {
  ig::fuzz::check_open("openat", path);
  va_list ap;
  va_start(ap, flags);
  const auto mode = static_cast<mode_t>(va_arg(ap, unsigned));
  va_end(ap);
  static const auto next = ig::fuzz::real<int (*)(int, const char*, int, ...)>("openat");
  return next(dir, path, flags, mode);
}

FILE* fopen(const char* path, const char* mode) {
  ig::fuzz::check_open("fopen", path);
  static const auto next = ig::fuzz::real<FILE* (*)(const char*, const char*)>("fopen");
  return next(path, mode);
}

FILE* fopen64(const char* path, const char* mode) {
  ig::fuzz::check_open("fopen64", path);
  static const auto next = ig::fuzz::real<FILE* (*)(const char*, const char*)>("fopen64");
  return next(path, mode);
}

int socket(int domain, int type, int protocol) {
  if (ig::fuzz::g_in_input) {
    ig::fuzz::refuse("socket");
  }
  static const auto next = ig::fuzz::real<int (*)(int, int, int)>("socket");
  return next(domain, type, protocol);
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
  if (ig::fuzz::g_in_input) {
    ig::fuzz::refuse("connect");
  }
  static const auto next = ig::fuzz::real<int (*)(int, const sockaddr*, socklen_t)>("connect");
  return next(fd, addr, len);
}

int getaddrinfo(const char* node, const char* service, const addrinfo* hints, addrinfo** res) {
  if (ig::fuzz::g_in_input) {
    ig::fuzz::refuse("getaddrinfo");
  }
  static const auto next =
      ig::fuzz::real<int (*)(const char*, const char*, const addrinfo*, addrinfo**)>("getaddrinfo");
  return next(node, service, hints, res);
}

}  // extern "C"
