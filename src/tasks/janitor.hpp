#pragma once

#include <chrono>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/clock.hpp"
#include "runtime/offload.hpp"

namespace ig::storage {
class ResultStorage;
}

namespace ig::tasks {

/// Deletes result objects older than their URL lifetime, at start and then every `interval`.
/// start/stop from any thread; the work runs on the blocking pool.
class Janitor {
 public:
  Janitor(boost::asio::any_io_executor io, runtime::BlockingExecutor pool,
          storage::ResultStorage& results, const core::Clock& clock, std::chrono::seconds ttl,
          std::chrono::seconds interval);
  void start();
  void stop();

 private:
  boost::asio::awaitable<void> loop();

  boost::asio::steady_timer timer_;
  runtime::BlockingExecutor pool_;
  storage::ResultStorage& results_;
  const core::Clock& clock_;
  std::chrono::seconds ttl_;
  std::chrono::seconds interval_;
  bool stopped_ = false;
};

}  // namespace ig::tasks
