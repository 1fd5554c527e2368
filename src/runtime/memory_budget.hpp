#pragma once

// A process-wide cap on bytes held at once by one kind of work (request bodies being read,
// base64 answers being built). A request takes what it needs before it allocates and gives it
// back when it is done; over the cap it is refused (503 with Retry-After), never left to grow
// until the kernel kills the process.

#include <atomic>
#include <cstddef>
#include <utility>

namespace ig::runtime {

class MemoryBudget {
 public:
  /// Bytes held until destroyed or released. Movable, not copyable.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : budget_(std::exchange(o.budget_, nullptr)), bytes_(o.bytes_) {}
    Lease& operator=(Lease&& o) noexcept {
      if (this != &o) {
        release();
        budget_ = std::exchange(o.budget_, nullptr);
        bytes_ = o.bytes_;
      }
      return *this;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { release(); }

    void release() {
      if (budget_ != nullptr) {
        budget_->used_.fetch_sub(bytes_, std::memory_order_acq_rel);
        budget_ = nullptr;
      }
    }
    std::size_t bytes() const { return budget_ != nullptr ? bytes_ : 0; }
    explicit operator bool() const { return budget_ != nullptr; }

   private:
    friend class MemoryBudget;
    Lease(MemoryBudget* b, std::size_t n) : budget_(b), bytes_(n) {}
    MemoryBudget* budget_ = nullptr;
    std::size_t bytes_ = 0;
  };

  /// 0: no cap (every request is granted).
  explicit MemoryBudget(std::size_t capacity) : capacity_(capacity) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  /// The bytes, or an empty lease when taking them would pass the cap. A request larger than
  /// the whole cap is refused too. Lock-free.
  Lease try_acquire(std::size_t bytes) {
    std::size_t used = used_.load(std::memory_order_relaxed);
    for (;;) {
      if (capacity_ != 0 && (bytes > capacity_ || used > capacity_ - bytes)) {
        return {};
      }
      if (used_.compare_exchange_weak(used, used + bytes, std::memory_order_acq_rel)) {
        return Lease(this, bytes);
      }
    }
  }

  std::size_t capacity() const { return capacity_; }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }

 private:
  const std::size_t capacity_;
  std::atomic<std::size_t> used_{0};
};

}  // namespace ig::runtime
