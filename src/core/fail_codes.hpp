#pragma once

#include <string_view>

#include "core/request.hpp"

/// The canonical codes a failed task is stored with, and the word each dialect shows for them.
/// The store and `imagegate tasks show` keep the canonical code; a client sees its dialect's.
namespace ig::core::fail {

// Upstream outcomes.
inline constexpr std::string_view kUpstreamError = "upstream_error";  // 5xx/429 after retries, every route down, an unusable answer
inline constexpr std::string_view kUpstreamTimeout = "upstream_timeout";  // no answer before the route's timeout_ms
/// The call reached the upstream and its outcome is unknown (timeout after the upload, reset
/// mid-response, or the gateway stopped during the call); not resubmitted to avoid paying twice.
inline constexpr std::string_view kUpstreamUnknownOutcome = "upstream_unknown_outcome";
inline constexpr std::string_view kUpstreamRejected = "upstream_rejected";  // the upstream refused the request (its 400)
inline constexpr std::string_view kModerationBlocked = "moderation_blocked";  // OpenAI's word for a safety refusal
inline constexpr std::string_view kNoRoute = "no_route";  // no configured provider serves the model
/// The sandbox's (simulated upstream's) failure.
inline constexpr std::string_view kGenerationFailed = "generation_failed";
// The gateway's own.
inline constexpr std::string_view kTooManyAttempts = "too_many_attempts";  // claimed more than dispatcher.max_attempts times
inline constexpr std::string_view kInternal = "internal_error";

/// True for the codes that name an upstream's failure (all but the gateway's own and inputs).
bool is_upstream(std::string_view code);

/// The code a client of `dialect` sees for a stored fail code:
/// - `generations` (aivideoapi): every upstream failure, moderation included, is
///   `upstream_error` (its document's 503 code); too_many_attempts is `internal_error`;
/// - `unified` (EvoLink), `jobs` (Kie) and `tasks` (HiAPI): `moderation_blocked` is
///   `content_policy_violation`; the rest keep their canonical code;
/// - `openai`: unchanged (OpenAI's own words).
/// Codes of other origins (input_refused, invalid_mask, …) pass through unchanged.
std::string_view public_code(Dialect dialect, std::string_view code);

}  // namespace ig::core::fail
