#pragma once

#include <string>

namespace ig::app {

/// The malloc this process runs with, as `imagegate version` and the start-up log name it:
/// "jemalloc 5.3.0" when the build linked jemalloc (IG_ALLOCATOR, the default) and its
/// malloc is the one called; "system (glibc 2.36)" (or "system (AddressSanitizer's)")
/// otherwise, with the reason when jemalloc was linked but is not in use. Looks, on the calling thread, at one allocation.
std::string allocator_in_use();

}  // namespace ig::app
