#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ig::core {

/// Every way a request or a task can go wrong, client codes first, then server codes.
/// Each dialect renders these in its own envelope; `http_status` is the one table from
/// code to HTTP status.
enum class ErrorCode {
  kInvalidRequest,       // 400: malformed body, wrong JSON types, missing required fields
  kUnauthorized,         // 401: missing, unknown or disabled API key
  kInsufficientCredits,  // 402
  kForbidden,            // 403: signed URL expired or tampered, IP not allowed
  kNotFound,             // 404: unknown task or another key's task
  kRouteNotFound,        // 404: no such endpoint
  kModelNotFound,        // 404 in dialects that have it; 422 in `jobs` (see dialect)
  kMethodNotAllowed,     // 405
  kRequestTimeout,       // 408
  kConflict,             // 409
  kPayloadTooLarge,      // 413
  kValidationFailed,     // 422: a value breaks a documented rule
  kRateLimited,          // 429: a key's requests per minute
  kSpendLimited,         // 429: a key's hourly, daily or total spend limit
  kTooManyActive,        // 429 (409 in `jobs`): a key's limit of active tasks
  kHeadersTooLarge,      // 431
  kInternal,             // 500
  kUpstream,             // 503: the upstream provider failed
  kUnavailable,          // 503: draining or not ready
};

/// HTTP status for a code (one table for every dialect).
int http_status(ErrorCode code);

/// Stable snake_case name of a code, for logs and metrics.
std::string_view to_string(ErrorCode code);

/// What a client is told. `message` is safe to show; internal detail is logged separately.
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::string param;  // the offending field, when there is one ("input.prompt")
  std::int64_t retry_after_s = 0;  // > 0: sent as Retry-After (limits)
};

inline Error make_error(ErrorCode code, std::string message, std::string param = {}) {
  return Error{code, std::move(message), std::move(param)};
}

}  // namespace ig::core
