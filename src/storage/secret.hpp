#pragma once

#include <filesystem>
#include <string>

#include "core/result.hpp"

namespace ig::storage {

/// Returns the server secret kept in `file`: 32 random bytes as 64 lower-case hex characters.
/// Creates the file (and its directory) atomically with mode 0600 when it is missing; when
/// several processes race, all of them end up with the one secret that won. An existing file
/// is used as it is (surrounding whitespace trimmed), so operators may provide their own
/// secret of at least 32 characters. The returned value is always the file's text, hex, never
/// the raw bytes. Blocking; safe to call from any thread.
core::Result<std::string> load_or_create_secret(const std::filesystem::path& file);

}  // namespace ig::storage
