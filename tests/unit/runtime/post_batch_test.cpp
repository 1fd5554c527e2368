#include "runtime/post_batch.hpp"

#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "runtime/await_callback.hpp"

namespace {

namespace asio = boost::asio;
using ig::runtime::post_batched;
using ig::runtime::PostBatch;

TEST(PostBatch, WithoutABatchEachPostIsAHandlerOfItsOwn) {
  asio::io_context ioc;
  std::vector<int> ran;
  for (int i = 0; i < 5; ++i) {
    post_batched(ioc.get_executor(), [&ran, i] { ran.push_back(i); });
  }
  EXPECT_EQ(ioc.run(), 5U);
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(PostBatch, ABatchSendsOneHandlerPerExecutorInPostingOrder) {
  asio::io_context a;
  asio::io_context b;
  std::vector<std::string> ran;
  {
    PostBatch batch;
    post_batched(a.get_executor(), [&] { ran.push_back("a1"); });
    post_batched(b.get_executor(), [&] { ran.push_back("b1"); });
    post_batched(a.get_executor(), [&] { ran.push_back("a2"); });
    {
      PostBatch inner;  // nested: only the outermost sends
      post_batched(a.get_executor(), [&] { ran.push_back("a3"); });
    }
    EXPECT_EQ(a.poll(), 0U) << "nothing leaves before the batch closes";
    EXPECT_EQ(b.poll(), 0U);
  }
  a.restart();
  b.restart();
  EXPECT_EQ(a.run(), 1U);
  EXPECT_EQ(ran, (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_EQ(b.run(), 1U);
  EXPECT_EQ(ran.back(), "b1");
}

TEST(PostBatch, ABatchIsPerThread) {
  asio::io_context ioc;
  int ran = 0;
  PostBatch batch;  // open on this thread only
  std::thread other([&] { post_batched(ioc.get_executor(), [&] { ++ran; }); });
  other.join();
  EXPECT_EQ(ioc.poll(), 1U) << "another thread's post is not held by this thread's batch";
  EXPECT_EQ(ran, 1);
}

TEST(PostBatch, AThrowingFunctionDoesNotLoseTheOnesAfterIt) {
  asio::io_context ioc;
  std::vector<int> ran;
  {
    PostBatch batch;
    post_batched(ioc.get_executor(), [&] { ran.push_back(1); });
    post_batched(ioc.get_executor(), [] { throw std::runtime_error("boom"); });
    post_batched(ioc.get_executor(), [&] { ran.push_back(3); });
    post_batched(ioc.get_executor(), [&] { ran.push_back(4); });
  }
  EXPECT_THROW(ioc.run(), std::runtime_error);
  ioc.restart();
  ioc.run();
  EXPECT_EQ(ran, (std::vector<int>{1, 3, 4}));
}

// What the store's writer does: callers on an io_context await callbacks that another thread
// completes together inside a batch; each resumes with its own value.
TEST(PostBatch, AwaitCallbackCompletionsFromABatchResumeEveryCaller) {
  asio::io_context ioc;
  std::vector<std::function<void(int)>> dones;
  std::vector<int> got(4, -1);
  for (int i = 0; i < 4; ++i) {
    asio::co_spawn(
        ioc,
        [&, i]() -> asio::awaitable<void> {
          got[static_cast<std::size_t>(i)] = co_await ig::runtime::await_callback<int>(
              [&](std::function<void(int)> done) { dones.push_back(std::move(done)); });
        },
        asio::detached);
  }
  ioc.poll();  // every caller is now waiting
  ASSERT_EQ(dones.size(), 4U);
  std::thread completer([&] {
    PostBatch batch;
    for (int i = 0; i < 4; ++i) {
      dones[static_cast<std::size_t>(i)](i * 10);
    }
  });
  completer.join();
  ioc.restart();
  ioc.run();
  EXPECT_EQ(got, (std::vector<int>{0, 10, 20, 30}));
}

}  // namespace
