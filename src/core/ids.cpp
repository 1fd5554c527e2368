#include "core/ids.hpp"

#include <random>

namespace ig::core {

RandomSource default_random() {
  return [] {
    thread_local std::mt19937_64 gen{[] {
      std::random_device rd;
      return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    }()};
    return gen();
  };
}

std::string to_hex(const unsigned char* data, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 0xF];
  }
  return out;
}

std::string uuid_v7(std::int64_t now_ms, const RandomSource& rnd) {
  unsigned char b[16];
  const auto ms = static_cast<std::uint64_t>(now_ms) & 0xFFFFFFFFFFFFull;
  for (int i = 0; i < 6; ++i) {
    b[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  }
  const std::uint64_t r1 = rnd();
  const std::uint64_t r2 = rnd();
  for (int j = 0; j < 2; ++j) {
    b[6 + j] = static_cast<unsigned char>(r1 >> (8 * j));
  }
  for (int j = 0; j < 8; ++j) {
    b[8 + j] = static_cast<unsigned char>(r2 >> (8 * j));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x70);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  std::string hex = to_hex(b, 16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

std::string ulid(std::int64_t now_ms, const RandomSource& rnd) {
  static constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  // 128 bits: 48 of time, 80 of randomness, written as 26 characters of 5 bits (130 bits, the
  // top two always zero).
  unsigned __int128 v = static_cast<unsigned __int128>(static_cast<std::uint64_t>(now_ms) &
                                                       0xFFFFFFFFFFFFull)
                        << 80;
  const std::uint64_t hi = rnd() & 0xFFFFull;
  const std::uint64_t lo = rnd();
  v |= (static_cast<unsigned __int128>(hi) << 64) | lo;
  std::string out(26, '0');
  for (int i = 25; i >= 0; --i) {
    out[i] = kCrockford[static_cast<unsigned>(v & 0x1F)];
    v >>= 5;
  }
  return out;
}

std::string random_alnum(const RandomSource& rnd, int n) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    out.push_back(kAlphabet[rnd() % 36]);
  }
  return out;
}

}  // namespace ig::core
