#include "billing/rate_limiter.hpp"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ig::billing {
namespace {

// Tokens are counted in 1/60000ths so that a bucket refills by exactly `rpm` units per
// millisecond: integer arithmetic, no drift, no rounding of the refill rate.
constexpr std::int64_t kUnitsPerToken = 60'000;
// A bucket refills from empty to full in one minute whatever its rpm.
constexpr std::int64_t kRefillMs = 60'000;
// Below this size a shard is not swept; above it, a sweep runs each time the shard has doubled
// since the last one, so sweeping costs O(1) per new key amortised.
constexpr std::size_t kMinSweepSize = 64;

struct Bucket {
  std::int64_t units = 0;  // tokens held, in kUnitsPerToken units
  std::int64_t last_ms = 0;
  int rpm = 0;
};

std::int64_t capacity(int rpm) {
  return static_cast<std::int64_t>(rpm) * kUnitsPerToken;
}

/// Milliseconds from `last_ms` to `now_ms`, 0 if the clock stepped back. Unsigned arithmetic
/// because the difference of two arbitrary int64 values may not fit in one.
std::uint64_t elapsed_ms(std::int64_t last_ms, std::int64_t now_ms) {
  if (now_ms <= last_ms) {
    return 0;
  }
  return static_cast<std::uint64_t>(now_ms) - static_cast<std::uint64_t>(last_ms);
}

/// Milliseconds `b` still needs at `now_ms` to be full again (0: full, droppable).
std::int64_t ms_until_full(const Bucket& b, std::int64_t now_ms) {
  const std::int64_t missing = capacity(b.rpm) - b.units;
  const std::int64_t needed = (missing + b.rpm - 1) / b.rpm;  // at most kRefillMs
  const std::uint64_t elapsed = elapsed_ms(b.last_ms, now_ms);
  if (elapsed >= static_cast<std::uint64_t>(needed)) {
    return 0;
  }
  return needed - static_cast<std::int64_t>(elapsed);
}

/// Brings `b` to `now_ms` at its old rate (the time passed under it), then applies `rpm`.
void refill(Bucket& b, int rpm, std::int64_t now_ms) {
  const std::uint64_t elapsed = elapsed_ms(b.last_ms, now_ms);
  if (elapsed > 0) {
    // Clamped first: past one minute the bucket is full anyway, and the product must not
    // overflow.
    const auto ms = static_cast<std::int64_t>(std::min<std::uint64_t>(elapsed, kRefillMs));
    b.units = std::min(capacity(b.rpm), b.units + ms * b.rpm);
    b.last_ms = now_ms;
  }
  b.rpm = rpm;
  b.units = std::min(b.units, capacity(rpm));
}

std::int64_t retry_after_s(const Bucket& b) {
  const std::int64_t missing = kUnitsPerToken - b.units;
  const std::int64_t units_per_s = static_cast<std::int64_t>(b.rpm) * 1000;
  return std::max<std::int64_t>(1, (missing + units_per_s - 1) / units_per_s);
}

/// splitmix64's finaliser: sequential key ids land on different shards.
std::uint64_t mix(std::int64_t key_id) {
  auto x = static_cast<std::uint64_t>(key_id);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

struct alignas(64) RateLimiter::Shard {
  std::mutex mutex;
  std::unordered_map<std::int64_t, Bucket> buckets;
  std::size_t max_size = 1;
  std::size_t sweep_at = 1;  // size at which the next new key triggers a sweep

  /// Called with the mutex held before a new key is added: drops every full bucket. When the
  /// shard is at its bound and that frees less than a sixteenth of it, the buckets nearest to
  /// full go too (they lose the fewest tokens), so that sweeps at the bound stay far apart
  /// rather than costing O(n) for every new key.
  void sweep(std::int64_t now_ms) {
    const bool at_bound = buckets.size() >= max_size;
    std::erase_if(buckets, [&](const auto& kv) { return ms_until_full(kv.second, now_ms) == 0; });
    const std::size_t target = max_size - std::max<std::size_t>(1, max_size / 16);
    if (at_bound && buckets.size() > target) {
      std::vector<std::pair<std::int64_t, std::int64_t>> by_fullness;  // (ms until full, key)
      by_fullness.reserve(buckets.size());
      for (const auto& [key, bucket] : buckets) {
        by_fullness.emplace_back(ms_until_full(bucket, now_ms), key);
      }
      const std::size_t drop = buckets.size() - target;
      std::nth_element(by_fullness.begin(), by_fullness.begin() + static_cast<std::ptrdiff_t>(drop),
                       by_fullness.end());
      for (std::size_t i = 0; i < drop; ++i) {
        buckets.erase(by_fullness[i].second);
      }
    }
    sweep_at = std::min(max_size, std::max(kMinSweepSize, 2 * buckets.size()));
  }
};

RateLimiter::RateLimiter(std::size_t max_keys, std::size_t shards) {
  max_keys = std::max<std::size_t>(1, max_keys);
  shard_count_ = std::clamp<std::size_t>(shards, 1, max_keys);
  shards_ = std::make_unique<Shard[]>(shard_count_);
  for (std::size_t i = 0; i < shard_count_; ++i) {
    // The remainder goes to the first shards so that the shares add up to max_keys exactly.
    shards_[i].max_size = max_keys / shard_count_ + (i < max_keys % shard_count_ ? 1 : 0);
    shards_[i].sweep_at = std::min(shards_[i].max_size, kMinSweepSize);
  }
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Shard& RateLimiter::shard_for(std::int64_t key_id) const {
  return shards_[mix(key_id) % shard_count_];
}

RateLimiter::Decision RateLimiter::take(std::int64_t key_id, int rpm, std::int64_t now_ms) {
  if (rpm <= 0) {
    return {true, 0};
  }
  Shard& shard = shard_for(key_id);
  std::lock_guard lock(shard.mutex);
  auto it = shard.buckets.find(key_id);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= shard.sweep_at) {
      shard.sweep(now_ms);
    }
    it = shard.buckets.emplace(key_id, Bucket{capacity(rpm), now_ms, rpm}).first;
  } else {
    refill(it->second, rpm, now_ms);
  }
  Bucket& bucket = it->second;
  if (bucket.units >= kUnitsPerToken) {
    bucket.units -= kUnitsPerToken;
    return {true, 0};
  }
  return {false, retry_after_s(bucket)};
}

std::size_t RateLimiter::size() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].buckets.size();
  }
  return total;
}

}  // namespace ig::billing
