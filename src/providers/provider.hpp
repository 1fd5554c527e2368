#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/request.hpp"
#include "core/task.hpp"

namespace ig::providers {

/// An encoded image with its decoded dimensions.
struct ImageBytes {
  std::string bytes;
  std::string mime;  // "image/png", "image/jpeg", "image/webp"
  int width = 0;
  int height = 0;
  bool has_alpha = false;
};

/// What a failed upstream call tells the router about retrying it. The rule behind the classes:
/// a paid call is repeated only when it certainly did no work.
enum class FailureClass {
  /// Certainly no paid work: the connection failed, or the upstream answered 429 or 5xx.
  /// The same route may be tried again after a backoff, then the next route.
  kNoWork,
  /// Certainly no paid work, but this route cannot serve the request at all (401, 403, 404 of
  /// the upstream: a wrong key or model in the operator's config). The next route is tried.
  kRouteFault,
  /// The upstream refused the request for what it asks (400, a moderation refusal): every
  /// route would answer the same. Not retried, not failed over.
  kRejected,
  /// The request reached the upstream and its outcome is unknown (a timeout after the upload,
  /// a connection reset mid-response). Never resubmitted blindly.
  kUnknown,
  /// The upstream did the work, or may have, and it failed or came back unusable (a failed
  /// upstream task, a malformed or truncated answer). Final.
  kFailed,
};

std::string_view to_string(FailureClass c);

/// Why a run failed. `code` is a canonical code (see core/fail_codes.hpp): each dialect shows
/// its own word for it; `message` is safe to show a client (no key, header or raw internals).
struct GenerateError {
  std::string code;
  std::string message;
  FailureClass cls = FailureClass::kFailed;
  int http_status = 0;                            // the upstream's status, 0 when none
  std::chrono::milliseconds retry_after{-1};      // the upstream's Retry-After, -1 when none
};

/// Token counts the upstream reported (OpenAI `usage`).
using Usage = core::TokenUsage;

/// Where a provider reports durable facts about its call while it runs. Implemented by the
/// dispatcher; thread-safe.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  /// The upstream accepted the work under `upstream_id` (a relay's upstream task id). Returns
  /// once the id is durably recorded on the task, so that a restart can find the work again
  /// instead of paying for it twice. False: the task is no longer ours (lost lease, cancelled);
  /// the provider should stop.
  virtual boost::asio::awaitable<bool> upstream_accepted(std::string upstream_id) = 0;
};

/// Everything a provider needs for one run. `request.size` is resolved (never {0,0}).
struct GenerateJob {
  core::GenerationRequest request;
  std::vector<ImageBytes> references;  // fetched and probed input images, in request order
  std::optional<ImageBytes> mask;      // only with references
  std::string task_id;
  int attempt = 1;
  /// Set when an earlier run of this task left work at this provider under this upstream id
  /// (the process stopped mid-call): a provider that can_resume() continues it instead of
  /// creating new work.
  std::string resume_upstream_id;
  CallObserver* observer = nullptr;  // may be null (tests); outlives the call
};

struct GenerateResult {
  std::vector<ImageBytes> images;  // request.n images of exactly request.size on success
  std::optional<GenerateError> error;
  Usage usage;
  std::string upstream_id;  // the upstream's id for the work, when it has one
  int http_status = 0;      // the last upstream HTTP status seen, 0 when none
};

/// A backend that turns a GenerateJob into images. Implementations are thread-safe; generate
/// may be awaited from any I/O thread and must not block it. Cancelling the awaiting coroutine
/// ends the call promptly (a cancelled call reports FailureClass::kUnknown if the request had
/// already been sent, kNoWork otherwise).
class Provider {
 public:
  virtual ~Provider() = default;
  /// The name of its `[providers.<name>]` section ("sandbox" for the built-in one).
  virtual std::string_view name() const = 0;
  /// "sandbox" | "openai" | "relay".
  virtual std::string_view kind() const = 0;
  /// True when generate() can continue an upstream task named by job.resume_upstream_id.
  virtual bool can_resume() const { return false; }
  /// `job` is the caller's and outlives the call (the caller awaits it); it is passed by
  /// reference because a coroutine frame keeps every by-value argument for its whole life, and
  /// thousands of calls wait upstream at once.
  virtual boost::asio::awaitable<GenerateResult> generate(const GenerateJob& job) = 0;
};

}  // namespace ig::providers
