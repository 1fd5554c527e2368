#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/request.hpp"

namespace ig::core {

/// queued → running → succeeded | failed | cancelled. Dialects map these to their own words.
enum class TaskState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

std::string_view to_string(TaskState s);
std::optional<TaskState> parse_task_state(std::string_view s);
inline bool is_terminal(TaskState s) {
  return s == TaskState::kSucceeded || s == TaskState::kFailed || s == TaskState::kCancelled;
}

/// One stored result object (an output image).
struct ResultObject {
  std::string key;           // storage key, e.g. "<task id>/1.png"
  std::string content_type;  // "image/png"
  int width = 0;
  int height = 0;
};

/// Token counts an upstream reported for a task (OpenAI `usage`); -1 where it said nothing.
struct TokenUsage {
  std::int64_t input_tokens = -1;
  std::int64_t input_text_tokens = -1;
  std::int64_t input_image_tokens = -1;
  std::int64_t output_tokens = -1;
  std::int64_t total_tokens = -1;
  bool empty() const { return input_tokens < 0 && output_tokens < 0 && total_tokens < 0; }
  bool operator==(const TokenUsage&) const = default;
};

/// A task as stored. A plain value type; the store is its only owner of record.
struct Task {
  std::int64_t row_id = 0;  // store-internal, never shown to clients
  std::string id;           // public id, in the creating dialect's format
  std::int64_t key_id = 0;  // owning API key
  GenerationRequest request;
  std::string param;  // the original create body, compact JSON, as the client sent it
  TaskState state = TaskState::kQueued;
  int attempt = 0;  // incremented on every claim; fences a worker's writes
  std::int64_t created_ms = 0;
  std::int64_t started_ms = 0;    // first claim; 0 while queued
  std::int64_t completed_ms = 0;  // 0 until terminal
  std::string fail_code;          // empty unless failed
  std::string fail_msg;
  std::vector<ResultObject> results;
  TokenUsage usage;            // what the upstream reported for the finished work
  std::string upstream_route;  // the route whose upstream holds the task's work ("" none)
  std::string upstream_id;     // that upstream's id for the work (a relay's task id)
  std::int64_t price = 0;      // micro-credits held at create (captured or refunded at the end)
  /// Only when creating: the create's Idempotency-Key ("" none). Not a column of the task: the
  /// store ties the key (begun by begin_idempotent) to the task in the transaction that
  /// inserts it, so a crash before the answer is recorded cannot make a retry create a second
  /// task (Store::insert_task).
  std::string idempotency_key;
};

/// How a run ended, as the dispatcher hands it to the store.
struct TaskOutcome {
  TaskState state = TaskState::kSucceeded;  // kSucceeded or kFailed
  std::string fail_code;
  std::string fail_msg;
  std::vector<ResultObject> results;
  std::int64_t completed_ms = 0;
  TokenUsage usage;
  /// The successful upstream call that made the images, closed in the same write as the
  /// outcome (one commit fewer per task). Closed whether or not the outcome itself lands.
  struct CallEnd {
    std::int64_t id = 0;
    int http_status = 0;
    std::int64_t duration_ms = 0;
    std::string upstream_id;
  };
  std::optional<CallEnd> call_end;
};

}  // namespace ig::core
