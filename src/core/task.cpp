#include "core/task.hpp"

namespace ig::core {

std::string_view to_string(TaskState s) {
  switch (s) {
    case TaskState::kQueued: return "queued";
    case TaskState::kRunning: return "running";
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kCancelled: return "cancelled";
  }
  return "queued";
}

std::optional<TaskState> parse_task_state(std::string_view s) {
  for (TaskState t : {TaskState::kQueued, TaskState::kRunning, TaskState::kSucceeded,
                      TaskState::kFailed, TaskState::kCancelled}) {
    if (to_string(t) == s) {
      return t;
    }
  }
  return std::nullopt;
}

}  // namespace ig::core
