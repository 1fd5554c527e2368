#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace ig::billing {

/// Requests per minute per API key: one token bucket per key id that holds `rpm` tokens and
/// refills continuously at rpm/60 tokens per second; a request takes one token.
///
/// Thread-safe and cheap enough for every request on an I/O thread: keys are spread over
/// shards, each behind a mutex held for one hash lookup and a little integer arithmetic. It
/// never reads a clock; callers pass the time (milliseconds on any monotonic scale, the same
/// for every call), so tests drive it with fake times.
///
/// Memory is bounded by `max_keys`. A bucket that has been idle long enough to be full again
/// is indistinguishable from a fresh one, so such buckets are dropped by amortised sweeps when
/// a new key arrives. Only when a shard reaches its bound with (nearly) every bucket still
/// refilling does a sweep also drop some that are not yet full, those nearest to full first:
/// such a key gets back the few tokens it was missing, the price of the bound.
class RateLimiter {
 public:
  struct Decision {
    bool allowed = false;
    // When refused: whole seconds, rounded up and at least 1, until a token is back (the
    // `Retry-After` header). 0 when allowed.
    std::int64_t retry_after_s = 0;
  };

  static constexpr std::size_t kDefaultMaxKeys = 100'000;
  static constexpr std::size_t kDefaultShards = 16;

  /// `max_keys` bounds the buckets held across all shards; each shard holds its share of it
  /// (shards are clamped to [1, max_keys]).
  explicit RateLimiter(std::size_t max_keys = kDefaultMaxKeys, std::size_t shards = kDefaultShards);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  /// Takes one token from `key_id`'s bucket at `now_ms`. `rpm` <= 0 means unlimited: always
  /// allowed and no state kept. A changed `rpm` takes effect at once: the tokens held are
  /// clamped to the new capacity. A clock that steps back refills nothing.
  Decision take(std::int64_t key_id, int rpm, std::int64_t now_ms);

  /// Buckets currently held (for tests and metrics).
  std::size_t size() const;

 private:
  struct Shard;

  Shard& shard_for(std::int64_t key_id) const;

  std::size_t shard_count_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace ig::billing
