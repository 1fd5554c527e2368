#include "providers/relay/failures.hpp"

#include <utility>

#include "core/codec.hpp"
#include "core/fail_codes.hpp"

namespace ig::providers::relay {

namespace fail = core::fail;
using std::chrono::milliseconds;

std::string quote_upstream(std::string_view text) {
  return core::echo_text(text, 200);
}

GenerateError make_failure(std::string_view code, std::string message, FailureClass cls,
                           int http_status) {
  GenerateError e;
  e.code = std::string(code);
  e.message = std::move(message);
  e.cls = cls;
  e.http_status = http_status;
  return e;
}

bool transient_status(unsigned status) {
  return status == 408 || status == 409 || status == 425 || status == 429 || status == 455 ||
         status >= 500;
}

GenerateError create_failure(std::string_view provider, const WireError& e,
                             milliseconds retry_after) {
  const std::string who = "upstream " + std::string(provider);
  const int status = static_cast<int>(e.status);
  if (e.status == 400 || e.status == 413 || e.status == 422) {
    const std::string& text = e.detail.empty() ? e.message : e.detail;
    if (is_moderation_code(e.code)) {
      return make_failure(fail::kModerationBlocked, quote_upstream(text), FailureClass::kRejected,
                          status);
    }
    return make_failure(fail::kUpstreamRejected, quote_upstream(text), FailureClass::kRejected,
                        status);
  }
  if (transient_status(e.status)) {
    GenerateError out =
        make_failure(fail::kUpstreamError, who + " is unavailable: " + quote_upstream(e.message),
                     FailureClass::kNoWork, status);
    out.retry_after = retry_after;
    return out;
  }
  if (e.status == 0) {  // a 2xx without a task id: the upstream may have created one
    return make_failure(
        fail::kUpstreamUnknownOutcome,
        who + " answered the create without a task id: " + quote_upstream(e.message),
        FailureClass::kUnknown, status);
  }
  // 401, 402, 403, 404, other 4xx, 3xx: this route cannot serve (key, credit, base URL).
  return make_failure(fail::kUpstreamError, who + " refused the call: " + quote_upstream(e.message),
                      FailureClass::kRouteFault, status);
}

GenerateError create_transport_failure(std::string_view provider, const http::Error& e) {
  const std::string who = "upstream " + std::string(provider);
  if (e.kind == http::ErrorKind::kTls || e.kind == http::ErrorKind::kInvalidUrl) {
    return make_failure(fail::kUpstreamError, who + ": " + quote_upstream(e.message),
                        FailureClass::kRouteFault);  // the operator's config, not a passing fault
  }
  if (e.sent) {
    return make_failure(
        fail::kUpstreamUnknownOutcome,
        who + ": the create call was sent and its answer was lost: " + quote_upstream(e.message),
        FailureClass::kUnknown);
  }
  return make_failure(fail::kUpstreamError, who + " is unreachable: " + quote_upstream(e.message),
                      FailureClass::kNoWork);
}

GenerateError task_failure(std::string_view upstream_id, const TaskStatus& s) {
  const std::string& text = s.error_message.empty() ? s.error : s.error_message;
  if (is_moderation_code(s.error_code)) {
    return make_failure(
        fail::kModerationBlocked,
        "upstream task " + quote_upstream(upstream_id) + " was refused: " + quote_upstream(text),
        FailureClass::kRejected);
  }
  return make_failure(
      fail::kUpstreamError,
      "upstream task " + quote_upstream(upstream_id) + " failed: " + quote_upstream(text),
      FailureClass::kFailed);
}

}  // namespace ig::providers::relay
