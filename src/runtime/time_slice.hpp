#pragma once

// Linux's EEVDF scheduler (6.12 and later) lets a thread ask for a shorter time slice than
// the default (3 ms on a 2-core machine): when it wakes it is picked sooner, and it gives the
// core back sooner. An I/O thread woken by a request it must answer is that kind of thread.

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

namespace ig::runtime {

namespace detail {

// struct sched_attr of sched_setattr(2); glibc 2.36 declares neither the struct nor the call.
struct SchedAttr {
  std::uint32_t size;
  std::uint32_t sched_policy;
  std::uint64_t sched_flags;
  std::int32_t sched_nice;
  std::uint32_t sched_priority;
  std::uint64_t sched_runtime;  // SCHED_OTHER/SCHED_BATCH on 6.12+: the time slice, in ns
  std::uint64_t sched_deadline;
  std::uint64_t sched_period;
  std::uint32_t sched_util_min;
  std::uint32_t sched_util_max;
};

}  // namespace detail

/// Asks for time slices of `slice` for the calling thread, keeping its policy, nice value and
/// other attributes. Only a SCHED_OTHER or SCHED_BATCH thread is changed; the kernel bounds a
/// slice to 0.1–100 ms. Returns the slice the kernel now reports for the thread: zero when it
/// keeps none (a kernel before 6.12 ignores the request) or the thread was left alone.
inline std::chrono::nanoseconds request_time_slice(std::chrono::nanoseconds slice) {
  detail::SchedAttr attr{};
  if (syscall(SYS_sched_getattr, 0, &attr, sizeof(attr), 0) != 0 ||
      (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH)) {
    return std::chrono::nanoseconds{0};
  }
  attr.size = sizeof(attr);
  attr.sched_runtime = static_cast<std::uint64_t>(slice.count());
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) {
    return std::chrono::nanoseconds{0};
  }
  detail::SchedAttr now{};
  if (syscall(SYS_sched_getattr, 0, &now, sizeof(now), 0) != 0) {
    return std::chrono::nanoseconds{0};
  }
  return std::chrono::nanoseconds{static_cast<std::int64_t>(now.sched_runtime)};
}

}  // namespace ig::runtime
