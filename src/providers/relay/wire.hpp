#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include "core/request.hpp"

/// The four task dialects on the wire, as a client of them: each provider's create and status
/// calls shaped exactly as its document shows them, and readers of its answers and error
/// envelopes. Shared by the relay provider and the `imagegate generate` client. Pure functions:
/// no I/O, thread-safe.
namespace ig::providers::relay {

/// A task dialect as an upstream (the `openai` dialect is not one: it has no tasks).
enum class Dialect { kJobs, kTasks, kGenerations, kUnified };

std::optional<Dialect> parse_dialect(std::string_view name);
std::string_view to_string(Dialect d);

/// One API call, before the base URL and credentials are added. A plain value.
struct ApiCall {
  std::string method;
  std::string path;  // with query, relative to the base URL
  std::string body;  // JSON; empty for GET
};

/// What a create call carries, in the dialect's own vocabulary (no checking: the upstream
/// judges). Empty strings and nullopt are left out of the body.
struct CreateParams {
  /// "gpt-image-2": jobs and tasks append "-text-to-image" / "-image-to-image".
  std::string model = "gpt-image-2";
  std::string prompt;
  std::vector<std::string> image_urls;
  std::string mask_url;  // unified only
  /// `aspect_ratio` (jobs, tasks, generations) or `size` (unified): "1:1", "1536x1024", …
  std::string size;
  std::string resolution;            // any case: upper-cased, or lower-cased for generations
  std::string quality;               // jobs (text-to-image) and unified only
  std::string output_format;         // jobs (text-to-image) only
  std::optional<int> n;              // unified only
  std::optional<bool> nsfw_checker;  // generations only
};

/// The create call of each dialect:
///   jobs         POST /api/v1/jobs/createTask  {model, input{prompt, input_urls, aspect_ratio,
///                                                resolution, quality, output_format}}
///   tasks        POST /v1/tasks                {model, input{prompt, input_urls, aspect_ratio,
///                                                resolution}}
///   generations  POST /v1/images/generations   {model, input{prompt, image_urls, aspect_ratio,
///                                                resolution, nsfw_checker}}
///   unified      POST /v1/images/generations   {model, prompt, image_urls, mask_url, size,
///                                                resolution, quality, n}
ApiCall create_call(Dialect d, const CreateParams& p);

/// The status call: GET /api/v1/jobs/recordInfo?taskId= (jobs) or GET /v1/tasks/{id}.
ApiCall status_call(Dialect d, std::string_view task_id);

/// `base` (trailing slashes dropped) joined with `path`.
std::string join_url(std::string_view base, std::string_view path);

/// The create parameters a relay sends for `r`: the promised size (`r.size`, resolved) as the
/// dialect's nearest aspect ratio with `r.tier`, or for unified the exact "WxH" when the seed's
/// explicit-size rules allow it. `image_urls` and `mask_url` are what the upstream can fetch
/// (the request's own URLs, or public URLs of uploads).
CreateParams relay_params(Dialect d, const core::GenerationRequest& r,
                          std::vector<std::string> image_urls, std::string mask_url,
                          std::string_view model);

/// Why an answer was not what was asked for. A plain value.
struct WireError {
  /// For a person: "HTTP 422: input.aspect_ratio must be … (code)", "code 402: …",
  /// "unexpected answer (…)".
  std::string message;
  /// The HTTP status, or the envelope's own code when a 2xx carried another one
  /// ({"code":402,…}); 0 when the answer could not be read.
  unsigned status = 0;
  std::string code;    // the upstream's error code ("INVALID_REQUEST", "task_not_found"), or ""
  std::string detail;  // the upstream's message alone, or ""
};

[[noreturn]] void throw_exception_from_error(const WireError& e, const boost::source_location& loc);

template <class T>
using WireResult = boost::system::result<T, WireError>;

/// The server's message from an error answer, in the dialect's envelope (falls back to any
/// known envelope, then to the status line and the start of the body).
std::string error_message(Dialect d, unsigned status, std::string_view body);

/// An error answer read whole: message as error_message(), plus the code and message parts.
WireError read_error(Dialect d, unsigned status, std::string_view body);

/// The task id from a create answer.
WireResult<std::string> read_created(Dialect d, unsigned status, std::string_view body);

enum class Phase { kQueued, kRunning, kSucceeded, kFailed };

/// A task as one status answer described it. A plain value.
struct TaskStatus {
  std::string state;  // the dialect's own word: waiting, handling, processing, …
  Phase phase = Phase::kQueued;
  std::optional<int> progress;    // 0..100 when the dialect reports it
  std::vector<std::string> urls;  // when succeeded
  std::string error;              // when failed: "message (code)"
  std::string error_code;         // when failed: the upstream's code alone, or ""
  std::string error_message;      // when failed: the upstream's message alone, or ""
};

/// Reads a status answer. An error answer (HTTP or envelope) is a WireError; a task that
/// failed is a TaskStatus in Phase::kFailed.
WireResult<TaskStatus> read_status(Dialect d, unsigned status, std::string_view body);

/// True for an upstream failure code that means a safety refusal (content_policy_violation,
/// moderation_blocked, sensitive_content, nsfw…), case-insensitively.
bool is_moderation_code(std::string_view code);

}  // namespace ig::providers::relay
