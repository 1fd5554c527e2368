#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/dialects/common.hpp"
#include "core/task.hpp"

/// What the fuzz targets share: checks whose failure is a finding (they abort, so libFuzzer
/// keeps the input), the guard that keeps an input away from files and the network, and the
/// path a create request takes after its dialect accepted it.
namespace ig::fuzz {

/// The input as text (parsers take string_view; any bytes are allowed).
inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Aborts with `what` when `condition` is false.
void require(bool condition, std::string_view what);

/// Aborts when `body` is not exactly one JSON value in valid UTF-8: what a client of the
/// dialect must be able to parse.
void require_json(std::string_view body, std::string_view what);

/// Lives for one input. Meanwhile, opening a file (open, openat, fopen) or a socket, connecting
/// or resolving a name aborts the process: the code under test is pure, so any of these is a
/// finding. libFuzzer's own file work (corpus, artifacts) happens outside this scope.
class InputScope {
 public:
  InputScope();
  ~InputScope();
  InputScope(const InputScope&) = delete;
  InputScope& operator=(const InputScope&) = delete;
};

/// A task as the service makes it from an accepted create, with the public id `id`, in each
/// state a client can see; `visit` is called for each (queued, running, succeeded with one
/// result, failed, cancelled).
template <class Visit>
void for_each_state(const api::dialects::ParsedCreate& parsed, std::string id, Visit visit) {
  core::Task task;
  task.id = std::move(id);
  task.key_id = 1;
  task.request = parsed.request;
  task.param = parsed.param;
  task.created_ms = 1'700'000'000'000;
  visit(task);
  task.state = core::TaskState::kRunning;
  task.attempt = 1;
  task.started_ms = task.created_ms + 10;
  visit(task);
  task.state = core::TaskState::kSucceeded;
  task.completed_ms = task.started_ms + 1000;
  task.results.push_back({task.id + "/1.png", "image/png", 1024, 1024});
  visit(task);
  task.results.clear();
  task.state = core::TaskState::kFailed;
  task.fail_code = "input_fetch_failed";
  task.fail_msg = "image_urls[0] could not be fetched";
  visit(task);
  task.state = core::TaskState::kCancelled;
  task.fail_code = "cancelled";
  task.fail_msg = "cancelled by the client";
  visit(task);
}

/// A signed result URL as the server hands it to the renderers.
inline constexpr std::string_view kResultUrl =
    "http://127.0.0.1:8080/files/t/1.png?expires=1700086400&signature=abc";

/// Checks a refused request: a client error (4xx) in a body the client can parse.
void check_refused(unsigned status, std::string_view body, std::string_view dialect);

/// Checks an accepted create the way the service uses it: the echoed `param` is JSON, the
/// request names a prompt and a model, and its price is quoted by the default price table.
void check_accepted(const api::dialects::ParsedCreate& parsed);

}  // namespace ig::fuzz
