#pragma once

#include <type_traits>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ig::runtime {

/// The pool that runs blocking work (SQLite, libvips, file I/O) so I/O threads never block.
using BlockingExecutor = boost::asio::thread_pool::executor_type;

/// Runs the blocking callable `f` on `pool` and resumes the awaiting coroutine on its own
/// executor with the result. Exceptions thrown by `f` propagate to the awaiter.
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> offload(BlockingExecutor pool, F f) {
  using R = std::invoke_result_t<F&>;
  co_return co_await boost::asio::co_spawn(
      pool, [f = std::move(f)]() mutable -> boost::asio::awaitable<R> { co_return f(); },
      boost::asio::use_awaitable);
}

}  // namespace ig::runtime
