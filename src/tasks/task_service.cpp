#include "tasks/task_service.hpp"

namespace ig::tasks {

TaskService::TaskService(store::Store& store, runtime::BlockingExecutor pool,
                         const core::Clock& clock, core::RandomSource random,
                         std::function<void()> on_created)
    : store_(store),
      pool_(pool),
      clock_(clock),
      random_(std::move(random)),
      on_created_(std::move(on_created)) {}

std::string TaskService::new_task_id(core::Dialect dialect) const {
  switch (dialect) {
    case core::Dialect::kUnified:
      return "task-unified-" + std::to_string(clock_.now_ms() / 1000) + "-" +
             core::random_alnum(random_, 8);
    default:
      return core::uuid_v4(random_);
  }
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::create(
    const store::ApiKey& key, core::GenerationRequest request, std::string param) {
  core::Task task;
  task.id = new_task_id(request.dialect);
  task.key_id = key.id;
  task.request = std::move(request);
  task.param = std::move(param);
  task.state = core::TaskState::kQueued;
  task.created_ms = clock_.now_ms();
  core::Status st = co_await runtime::offload(pool_, [&] { return store_.insert_task(task); });
  if (!st) {
    co_return st.error();
  }
  if (on_created_) {
    on_created_();
  }
  co_return task;
}

boost::asio::awaitable<core::Result<core::Task>> TaskService::get(const store::ApiKey& key,
                                                                  std::string id) {
  auto task = co_await runtime::offload(pool_, [&] { return store_.get_task(id); });
  if (!task || task->key_id != key.id) {
    co_return core::make_error(core::ErrorCode::kNotFound, "task not found: " + id.substr(0, 128),
                               "taskId");
  }
  co_return std::move(*task);
}

}  // namespace ig::tasks
