#pragma once

#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>

namespace ig::runtime {

namespace detail {

// What a batch holds for one executor, and the handler it becomes when the batch closes: it
// runs the functions in the order they were posted. Should one throw (which escapes
// io_context::run, as it would have from a handler of its own), the ones after it are posted
// again first, so that none is lost.
struct PostGroup {
  boost::asio::any_io_executor executor;
  std::vector<std::function<void()>> fns;
  std::size_t next = 0;

  void operator()() {
    while (next < fns.size()) {
      auto f = std::move(fns[next++]);
      try {
        f();
      } catch (...) {
        if (next < fns.size()) {
          auto ex = executor;
          boost::asio::post(ex, std::move(*this));
        }
        throw;
      }
    }
  }
};

struct PostBatchState {
  int depth = 0;
  std::vector<PostGroup> groups;
};

inline PostBatchState& post_batch_state() {
  static thread_local PostBatchState state;
  return state;
}

}  // namespace detail

/// While a PostBatch is open on a thread, post_batched() from that thread collects instead of
/// posting; when the outermost one closes, each executor gets one post whose handler runs what
/// was collected for it, in order. A thread that completes many operations of other threads at
/// once (the store's writer after a commit) then wakes each I/O thread once per batch rather
/// than once per completion: every post to a sleeping io_context costs an epoll_ctl on the
/// posting side and a wake-up on the other.
///
/// Open one only around code that finishes quickly: nothing leaves until it closes.
class PostBatch {
 public:
  PostBatch() { ++detail::post_batch_state().depth; }
  ~PostBatch() {
    auto& state = detail::post_batch_state();
    if (--state.depth != 0) {
      return;
    }
    std::vector<detail::PostGroup> groups;
    groups.swap(state.groups);
    for (auto& g : groups) {
      auto ex = g.executor;
      boost::asio::post(ex, std::move(g));
    }
  }
  PostBatch(const PostBatch&) = delete;
  PostBatch& operator=(const PostBatch&) = delete;
};

/// boost::asio::post(executor, f), or into the PostBatch open on this thread.
template <class F>
void post_batched(const boost::asio::any_io_executor& executor, F&& f) {
  auto& state = detail::post_batch_state();
  if (state.depth == 0) {
    boost::asio::post(executor, std::forward<F>(f));
    return;
  }
  for (auto& g : state.groups) {
    if (g.executor == executor) {
      g.fns.emplace_back(std::forward<F>(f));
      return;
    }
  }
  state.groups.push_back(detail::PostGroup{executor, {}, 0});
  state.groups.back().fns.emplace_back(std::forward<F>(f));
}

}  // namespace ig::runtime
