#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace ig::core {

/// Source of 64 random bits. Injected so tests get repeatable ids; the default draws from a
/// per-thread generator seeded from std::random_device. Thread-safe.
using RandomSource = std::function<std::uint64_t()>;
RandomSource default_random();

/// RFC 4122 version 4 UUID, lower-case ("3ebe82c2-3abc-4015-9608-901baca54948").
std::string uuid_v4(const RandomSource& rnd);

/// ULID: 26 Crockford base32 characters, a 48-bit millisecond timestamp then 80 random bits,
/// so ids sort by creation time.
std::string ulid(std::int64_t now_ms, const RandomSource& rnd);

/// `n` characters of [a-z0-9].
std::string random_alnum(const RandomSource& rnd, int n);

/// Lower-case hex of bytes.
std::string to_hex(const unsigned char* data, std::size_t n);

}  // namespace ig::core
