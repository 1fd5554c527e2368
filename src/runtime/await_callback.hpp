#pragma once

#include <functional>
#include <memory>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "runtime/post_batch.hpp"

namespace ig::runtime {

/// Awaits a callback-style asynchronous call. `start(done)` begins it, where `done` is a
/// `std::function<void(T)>` that may be called once, from any thread (a store's writer); the
/// awaiting coroutine resumes on its own executor with the value (posted there, or sent with the
/// calling thread's other completions when it has a PostBatch open). No thread waits in
/// between, unlike offload(). Not cancellable: like offload(), a cancellation takes effect at the
/// coroutine's next co_await, after the call has completed.
template <class T, class Start>
boost::asio::awaitable<T> await_callback(Start start) {
  return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(T)>(
      [start = std::move(start)](auto handler) mutable {
        using Handler = decltype(handler);
        auto executor = boost::asio::get_associated_executor(handler);
        // std::function needs a copyable callable; the handler is move-only.
        auto shared = std::make_shared<Handler>(std::move(handler));
        start(std::function<void(T)>([shared, executor](T value) mutable {
          post_batched(executor, [shared, value = std::move(value)]() mutable {
            std::move (*shared)(std::move(value));
          });
        }));
      },
      boost::asio::use_awaitable);
}

}  // namespace ig::runtime
