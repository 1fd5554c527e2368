#include "core/error.hpp"

namespace ig::core {

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest: return 400;
    case ErrorCode::kUnauthorized: return 401;
    case ErrorCode::kInsufficientCredits: return 402;
    case ErrorCode::kForbidden: return 403;
    case ErrorCode::kNotFound:
    case ErrorCode::kRouteNotFound: return 404;
    case ErrorCode::kModelNotFound: return 404;
    case ErrorCode::kMethodNotAllowed: return 405;
    case ErrorCode::kRequestTimeout: return 408;
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kPayloadTooLarge: return 413;
    case ErrorCode::kValidationFailed: return 422;
    case ErrorCode::kRateLimited: return 429;
    case ErrorCode::kSpendLimited: return 429;
    case ErrorCode::kTooManyActive: return 429;
    case ErrorCode::kHeadersTooLarge: return 431;
    case ErrorCode::kInternal: return 500;
    case ErrorCode::kUpstream: return 503;
    case ErrorCode::kUnavailable: return 503;
  }
  return 500;
}

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest: return "invalid_request";
    case ErrorCode::kUnauthorized: return "unauthorized";
    case ErrorCode::kInsufficientCredits: return "insufficient_credits";
    case ErrorCode::kForbidden: return "forbidden";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kRouteNotFound: return "not_found";
    case ErrorCode::kModelNotFound: return "model_not_found";
    case ErrorCode::kMethodNotAllowed: return "method_not_allowed";
    case ErrorCode::kRequestTimeout: return "request_timeout";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kPayloadTooLarge: return "payload_too_large";
    case ErrorCode::kValidationFailed: return "validation_failed";
    case ErrorCode::kRateLimited: return "rate_limited";
    case ErrorCode::kSpendLimited: return "spend_limited";
    case ErrorCode::kTooManyActive: return "too_many_active_tasks";
    case ErrorCode::kHeadersTooLarge: return "headers_too_large";
    case ErrorCode::kInternal: return "internal_error";
    case ErrorCode::kUpstream: return "upstream_error";
    case ErrorCode::kUnavailable: return "unavailable";
  }
  return "internal_error";
}

}  // namespace ig::core
