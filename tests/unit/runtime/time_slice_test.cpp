#include "runtime/time_slice.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

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

// A clock the tests move by hand: the handlers' work and the waits take exactly what they say.
struct FakeClock {
  using duration = std::chrono::microseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<FakeClock>;
  static constexpr bool is_steady = true;
  static inline time_point now_{};
  static time_point now() { return now_; }
  static void advance(duration d) { now_ += d; }
};

// An io_context whose waits for an event take `wait` on the fake clock: run_one() waits when
// no handler is ready, which poll_one() has just found.
struct WaitingContext {
  boost::asio::io_context& io;
  FakeClock::duration wait;
  std::atomic<int> waits = 0;
  std::size_t poll_one() { return io.poll_one(); }
  std::size_t run_one() {
    ++waits;
    FakeClock::advance(wait);
    return io.run_one();
  }
};

// Posts `n` handlers in a chain, each busy for `each` and each posting the next, the way a
// connection's read, handling and write follow each other; records when every one ran.
void post_busy_chain(boost::asio::io_context& io, int n, FakeClock::duration each,
                     std::vector<FakeClock::time_point>& ran) {
  if (n == 0) {
    return;
  }
  boost::asio::post(io, [&io, n, each, &ran] {
    FakeClock::advance(each);
    ran.push_back(FakeClock::now());
    post_busy_chain(io, n - 1, each, ran);
  });
}

TEST(RunInSlices, RunsEveryHandlerAndReturnsWhenOutOfWork) {
  boost::asio::io_context io;
  std::vector<FakeClock::time_point> ran;
  post_busy_chain(io, 5, 10us, ran);
  post_busy_chain(io, 3, 10us, ran);
  WaitingContext context{io, 0us};
  int given_back = 0;
  EXPECT_EQ(run_in_slices<FakeClock>(context, 1000us, [&] { ++given_back; }), 8u);
  EXPECT_EQ(ran.size(), 8u);
  EXPECT_EQ(given_back, 0);
  EXPECT_TRUE(io.stopped());
}

TEST(RunInSlices, ReturnsWhenTheContextIsStopped) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  boost::asio::post(io, [&io] { boost::asio::post(io, [&io] { io.stop(); }); });
  EXPECT_EQ(run_in_slices(io, 300us), 2u);
  EXPECT_TRUE(io.stopped());
}

// Ten handlers of 100 µs back to back with 300 µs slices: the core is given back after the
// third, the sixth and the ninth, each time 300 µs after the last.
TEST(RunInSlices, GivesTheCoreBackAfterEverySliceOfHandlersBackToBack) {
  boost::asio::io_context io;
  std::vector<FakeClock::time_point> ran;
  std::vector<FakeClock::time_point> given_back;
  post_busy_chain(io, 10, 100us, ran);
  WaitingContext context{io, 0us};
  const auto start = FakeClock::now();
  run_in_slices<FakeClock>(context, 300us,
                           [&] { given_back.push_back(FakeClock::now()); });
  ASSERT_EQ(ran.size(), 10u);
  ASSERT_EQ(given_back.size(), 3u);
  EXPECT_EQ(given_back[0] - start, 300us);
  EXPECT_EQ(given_back[1] - start, 600us);
  EXPECT_EQ(given_back[2] - start, 900us);
}

// A thread that waited for its next request has not used its core meanwhile: however long the
// wait, the handlers after it start a new slice.
TEST(RunInSlices, AWaitStartsANewSlice) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::vector<FakeClock::time_point> ran;
  std::vector<FakeClock::time_point> given_back;
  WaitingContext context{io, 50'000us};
  // Two handlers of 200 µs, then, from another thread while the loop waits, three more.
  post_busy_chain(io, 2, 200us, ran);
  std::thread later([&] {
    while (context.waits.load() == 0) {
      std::this_thread::yield();
    }
    post_busy_chain(io, 3, 200us, ran);
    boost::asio::post(io, [&] { guard.reset(); });
  });
  run_in_slices<FakeClock>(context, 300us,
                           [&] { given_back.push_back(FakeClock::now()); });
  later.join();
  ASSERT_EQ(ran.size(), 5u);
  // The slice after the wait starts when the loop wakes (after the handler it woke for), so
  // the core is given back after the third handler. Counted from before the wait, it would
  // be after the first.
  EXPECT_EQ(given_back, (std::vector<FakeClock::time_point>{ran[1], ran[4]}));
}

}  // namespace
}  // namespace ig::runtime
