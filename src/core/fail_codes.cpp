#include "core/fail_codes.hpp"

namespace ig::core::fail {

bool is_upstream(std::string_view code) {
  return code == kGenerationFailed || code == kUpstreamError || code == kUpstreamTimeout || code == kUpstreamUnknownOutcome ||
         code == kUpstreamRejected || code == kModerationBlocked || code == kNoRoute;
}

std::string_view public_code(Dialect dialect, std::string_view code) {
  switch (dialect) {
    case Dialect::kGenerations:
      if (is_upstream(code)) {
        return kUpstreamError;
      }
      if (code == kTooManyAttempts) {
        return kInternal;
      }
      return code;
    case Dialect::kUnified:
    case Dialect::kJobs:
    case Dialect::kTasks:
      if (code == kModerationBlocked) {
        return "content_policy_violation";
      }
      return code;
    case Dialect::kOpenAI:
      return code;
  }
  return code;
}

}  // namespace ig::core::fail
