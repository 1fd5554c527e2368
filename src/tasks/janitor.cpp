#include "tasks/janitor.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "storage/result_storage.hpp"

namespace ig::tasks {

namespace asio = boost::asio;

Janitor::Janitor(asio::any_io_executor io, runtime::BlockingExecutor pool,
                 storage::ResultStorage& results, const core::Clock& clock,
                 std::chrono::seconds ttl, std::chrono::seconds interval)
    : timer_(asio::make_strand(io)),
      pool_(pool),
      results_(results),
      clock_(clock),
      ttl_(ttl),
      interval_(interval) {}

void Janitor::start() {
  asio::co_spawn(timer_.get_executor(), loop(), [](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("janitor ended: {}", ex.what());
      }
    }
  });
}

void Janitor::stop() {
  asio::post(timer_.get_executor(), [this] {
    stopped_ = true;
    timer_.cancel();
  });
}

asio::awaitable<void> Janitor::loop() {
  while (!stopped_) {
    const std::int64_t cutoff = clock_.now_ms() - static_cast<std::int64_t>(ttl_.count()) * 1000;
    const std::size_t removed =
        co_await runtime::offload(pool_, [&] { return results_.delete_older_than(cutoff); });
    if (removed > 0) {
      spdlog::info("janitor deleted {} expired result objects", removed);
    }
    timer_.expires_after(interval_);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace ig::tasks
