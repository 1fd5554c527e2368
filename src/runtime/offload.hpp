#pragma once

#include <type_traits>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ig::runtime {

/// The pool that runs blocking work (SQLite, libvips, file I/O) so I/O threads never block.
using BlockingExecutor = boost::asio::thread_pool::executor_type;

namespace detail {
// A named coroutine, not a capturing coroutine lambda: its parameter is copied into the
// coroutine frame, whereas a lambda's captures live in a closure that g++ 12 may destroy too
// early (GCC PR 100611).
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> call(F f) {
  co_return f();
}
}  // namespace detail

/// Runs the blocking callable `f` on `pool` and resumes the awaiting coroutine on its own
/// executor with the result. Exceptions thrown by `f` propagate to the awaiter. The result type
/// must be default-constructible (asio::co_spawn's requirement).
///
/// Blocking work cannot be interrupted, so the call is not cancellable: a cancellation of the
/// awaiting coroutine takes effect after `f` has returned, at the coroutine's next co_await
/// (where asio throws operation_aborted unless this_coro::throw_if_cancelled is off). (Left
/// connected, Boost 1.81's co_spawn forwards the cancellation into the finished-or-running
/// child and terminates the process.)
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> offload(BlockingExecutor pool, F f) {
  co_return co_await boost::asio::co_spawn(
      pool, detail::call(std::move(f)),
      boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(),
                                          boost::asio::use_awaitable));
}

/// `f` on the calling thread when `here` (work known to take microseconds and never to wait,
/// such as a point read of an embedded database), else offload(pool, f): a hop to the pool and
/// back costs two thread wake-ups, far more than such work.
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> run_here_or_offload(bool here,
                                                                     BlockingExecutor pool, F f) {
  if (here) {
    co_return f();
  }
  co_return co_await offload(pool, std::move(f));
}

}  // namespace ig::runtime
