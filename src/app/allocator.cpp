#include "app/allocator.hpp"

#include <gnu/libc-version.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

#if defined(IG_WITH_JEMALLOC)
#include <jemalloc/jemalloc.h>
#endif

namespace ig::app {

namespace {

std::string system_malloc() {
#if defined(__SANITIZE_ADDRESS__)
  return "system (AddressSanitizer's)";  // it replaces libc's malloc
#else
  return std::string("system (glibc ") + gnu_get_libc_version() + ")";
#endif
}

}  // namespace

std::string allocator_in_use() {
#if defined(IG_WITH_JEMALLOC)
  // Being linked is not enough: malloc is jemalloc's only if its symbols come before libc's
  // (the build puts it first on the link line). jemalloc counts what each thread allocates
  // through it; one malloc that does not move the count went elsewhere.
  std::uint64_t* allocated = nullptr;
  std::size_t size = sizeof(allocated);
  if (mallctl("thread.allocatedp", static_cast<void*>(&allocated), &size, nullptr, 0) != 0 ||
      allocated == nullptr) {
    return system_malloc() + ", jemalloc linked but its counters are off";
  }
  // Read through volatile: the compiler takes malloc for one that touches no other memory.
  const volatile std::uint64_t* count = allocated;
  const std::uint64_t before = *count;
  void* volatile probe = std::malloc(4096);
  const std::uint64_t after = *count;
  std::free(probe);
  if (after == before) {
    return system_malloc() + ", jemalloc linked but malloc is not its";
  }
  const char* version = nullptr;
  size = sizeof(version);
  if (mallctl("version", static_cast<void*>(&version), &size, nullptr, 0) != 0 ||
      version == nullptr) {
    return "jemalloc";
  }
  // "5.3.0-0-g54eaed1d…": the release, then commits since it and the commit's hash.
  const std::string_view release(version);
  return "jemalloc " + std::string(release.substr(0, release.find('-')));
#else
  return system_malloc();
#endif
}

}  // namespace ig::app
