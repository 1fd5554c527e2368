#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace ig::core {

/// Source of 64 random bits. Injected so tests get repeatable ids; the default draws from a
/// per-thread generator seeded from std::random_device. Thread-safe.
using RandomSource = std::function<std::uint64_t()>;
RandomSource default_random();

/// RFC 9562 version 7 UUID, lower-case ("019ad3f2-8c1e-7b21-9f3a-5c2e8d0b4a17"): the shape of
/// the version 4 ids in the providers' examples, but its first 48 bits
/// are the Unix time in ms (then 74 random bits), so ids made later sort later and a database
/// index of them grows at its end instead of at a random page.
std::string uuid_v7(std::int64_t now_ms, const RandomSource& rnd);

/// ULID: 26 Crockford base32 characters, a 48-bit millisecond timestamp then 80 random bits,
/// so ids sort by creation time.
std::string ulid(std::int64_t now_ms, const RandomSource& rnd);

/// `n` characters of [a-z0-9].
std::string random_alnum(const RandomSource& rnd, int n);

/// Lower-case hex of bytes.
std::string to_hex(const unsigned char* data, std::size_t n);

}  // namespace ig::core
