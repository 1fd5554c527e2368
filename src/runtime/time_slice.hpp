#pragma once

// Linux's EEVDF scheduler (6.12 and later) lets a thread ask for a shorter time slice than
// the default (3 ms on a 2-core machine): when it wakes it is picked sooner, and it gives the
// core back sooner. An I/O thread woken by a request it must answer is that kind of thread.
//
// The kernel only takes a core from a thread that keeps running at its clock's tick, though
// (4 ms at 250 Hz, without a high-resolution tick), whatever the slice. So an I/O thread that
// never waits, because requests keep coming, also keeps to its slice itself: run_in_slices.

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>

#include <boost/asio/io_context.hpp>

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

/// Runs `context` as its run() does, until it is stopped or out of work, and returns the
/// number of handlers run. One difference: after every `slice` of handlers run back to back,
/// without a wait for an event, it calls `give_back()`. A wait starts a new slice.
/// `Context` has the poll_one() and run_one() of asio::io_context; `Clock` is a steady clock.
template <class Clock, class Context, class GiveBack>
std::size_t run_in_slices(Context& context, typename Clock::duration slice, GiveBack give_back) {
  std::size_t handlers = 0;
  auto busy_since = Clock::now();
  for (;;) {
    if (context.poll_one() != 0) {
      ++handlers;
      if (Clock::now() - busy_since >= slice) {
        give_back();
        busy_since = Clock::now();
      }
      continue;
    }
    // Nothing is ready: wait for the next event. Waiting is not time spent on the core.
    if (context.run_one() == 0) {
      return handlers;
    }
    ++handlers;
    busy_since = Clock::now();
  }
}

/// An I/O thread's loop: runs `context` and, after every `slice` of handlers run back to back,
/// lets any thread waiting for this core have it (sched_yield(2), which returns at once when
/// none is waiting). A woken thread then waits for a core at most about a slice, not a tick.
/// With a zero slice, context.run().
inline std::size_t run_in_slices(boost::asio::io_context& context,
                                 std::chrono::nanoseconds slice) {
  if (slice.count() <= 0) {
    return context.run();
  }
  return run_in_slices<std::chrono::steady_clock>(context, slice, [] { sched_yield(); });
}

}  // namespace ig::runtime
