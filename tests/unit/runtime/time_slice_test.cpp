#include "runtime/time_slice.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace ig::runtime {
namespace {

using namespace std::chrono_literals;

// On a thread of its own, so that the test's thread keeps its attributes. The thread's nice
// value (set by an operator through `nice`, say) survives the request.
TEST(TimeSlice, ASliceIsGrantedAndTheNiceValueKept) {
  std::chrono::nanoseconds granted{-1};
  int nice_before = 0;
  int nice_after = 0;
  std::thread t([&] {
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    ASSERT_EQ(setpriority(PRIO_PROCESS, tid, 5), 0);
    nice_before = getpriority(PRIO_PROCESS, tid);
    granted = request_time_slice(300us);
    nice_after = getpriority(PRIO_PROCESS, tid);
  });
  t.join();
  EXPECT_EQ(nice_before, 5);
  EXPECT_EQ(nice_after, 5);
  if (granted == 0ns) {
    GTEST_SKIP() << "this kernel keeps no time slice of its own for a thread (before 6.12)";
  }
  EXPECT_EQ(granted, 300us);
}

TEST(TimeSlice, TheKernelBoundsTheSlice) {
  std::chrono::nanoseconds granted{-1};
  std::thread t([&] { granted = request_time_slice(10us); });
  t.join();
  if (granted == 0ns) {
    GTEST_SKIP() << "this kernel keeps no time slice of its own for a thread (before 6.12)";
  }
  EXPECT_EQ(granted, 100us);
}

}  // namespace
}  // namespace ig::runtime
