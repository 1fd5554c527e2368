#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "http/error.hpp"
#include "providers/provider.hpp"
#include "providers/relay/wire.hpp"

/// How the relay's upstream answers map to FailureClass and canonical fail codes (provider.hpp,
/// core/fail_codes.hpp). Pure functions; thread-safe.
namespace ig::providers::relay {

/// Upstream text as quoted in a message: valid UTF-8, at most 200 bytes.
std::string quote_upstream(std::string_view text);

GenerateError make_failure(std::string_view code, std::string message, FailureClass cls,
                           int http_status = 0);

/// Statuses after which the same call may simply be made again later: 408, 409 (Kie: too many
/// active tasks), 425, 429, 455 (Kie: maintenance), 5xx.
bool transient_status(unsigned status);

/// How an error answer to a create call is classified: transient_status() → kNoWork (with
/// `retry_after`, -1 when none); 400, 413, 422 → kRejected as upstream_rejected with the
/// upstream's message (moderation_blocked when its code names a safety refusal); a 2xx without a
/// task id (status 0) → kUnknown; 401, 402, 403, 404, other 4xx and 3xx → kRouteFault.
/// `e.status` is the HTTP status or the envelope's code.
GenerateError create_failure(std::string_view provider, const WireError& e,
                             std::chrono::milliseconds retry_after);

/// A create call that got no answer: kRouteFault for TLS or URL errors (the operator's
/// config), kNoWork when nothing was sent, kUnknown (upstream_unknown_outcome) when it may have
/// reached the upstream.
GenerateError create_transport_failure(std::string_view provider, const http::Error& e);

/// An upstream task that ended failed: kRejected moderation_blocked for a safety refusal,
/// else kFailed upstream_error "upstream task <id> failed: <their message>".
GenerateError task_failure(std::string_view upstream_id, const TaskStatus& s);

}  // namespace ig::providers::relay
