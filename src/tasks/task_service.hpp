#pragma once

#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/request.hpp"
#include "core/result.hpp"
#include "core/task.hpp"
#include "runtime/offload.hpp"
#include "store/store.hpp"

namespace ig::tasks {

/// Creates and reads tasks on behalf of an API key. Knows no dialect's JSON. Thread-safe.
class TaskService {
 public:
  TaskService(store::Store& store, runtime::BlockingExecutor pool, const core::Clock& clock,
              core::RandomSource random, std::function<void()> on_created);

  /// Stores a new queued task; returns it once committed. `param` is the original body.
  boost::asio::awaitable<core::Result<core::Task>> create(const store::ApiKey& key,
                                                          core::GenerationRequest request,
                                                          std::string param);

  /// The task with this public id if it belongs to `key`; otherwise kNotFound (another key's
  /// task is indistinguishable from a missing one).
  boost::asio::awaitable<core::Result<core::Task>> get(const store::ApiKey& key, std::string id);

  /// Public id in the format of the creating dialect.
  std::string new_task_id(core::Dialect dialect) const;

 private:
  store::Store& store_;
  runtime::BlockingExecutor pool_;
  const core::Clock& clock_;
  core::RandomSource random_;
  std::function<void()> on_created_;
};

}  // namespace ig::tasks
