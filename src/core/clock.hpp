#pragma once

#include <atomic>
#include <cstdint>

namespace ig::core {

/// Wall-clock time in milliseconds since the Unix epoch. Injected so tests control time.
/// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now_ms() const = 0;
};

/// The real clock.
class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override;
};

/// A clock tests move by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(); }
  void advance_ms(std::int64_t d) { now_.fetch_add(d); }
  void set_ms(std::int64_t t) { now_.store(t); }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace ig::core
