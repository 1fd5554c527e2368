#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ids.hpp"
#include "core/result.hpp"

// Signing of outgoing task callbacks (issue #8): Standard Webhooks v1.0.0 symmetric signatures
// (https://www.standardwebhooks.com, spec/standard-webhooks.md) and, for the `tasks` dialect,
// HiAPI's own X-HiAPI-Signature. Every function here is pure apart from the random draws and
// is thread-safe.

namespace ig::callbacks {

/// A new per-account signing secret: "whsec_" + standard base64 (with padding) of 32 bytes from
/// OpenSSL's RAND_bytes (the spec asks for 24 to 64 random bytes). Fails only when OpenSSL has
/// no randomness to give.
core::Result<std::string> new_webhook_secret();

/// The HMAC key inside a secret. The "whsec_" prefix is optional (the spec's reference
/// libraries accept a bare base64 secret too). The rest must be standard base64 (A-Z a-z 0-9 +
/// /), with its padding or without it (the Python library accepts both); no whitespace, no
/// URL-safe alphabet. The decoded key must hold 24 to 64 bytes, as the spec's table says; the
/// reference libraries are laxer here (they refuse only an empty key), but a shorter key is
/// weak and we never issue one. Errors are kInvalidRequest with param "secret".
core::Result<std::string> secret_key_bytes(std::string_view whsec);

/// The `webhook-signature` value for one delivery: "v1," + base64(HMAC-SHA256(key,
/// msg_id + "." + timestamp + "." + body)), the timestamp in decimal seconds. `body` is the
/// exact bytes sent.
std::string sign(std::string_view key_bytes, std::string_view msg_id, std::int64_t timestamp_s,
                 std::string_view body);

/// What a receiver does (the server only signs; this is for tests and the docs' reference).
/// True when `timestamp` is decimal digits within `tolerance_s` of `now_s` on either side
/// (a difference of exactly `tolerance_s` passes, as in the reference libraries) and one of the
/// space-separated "v1,<base64>" entries of `signature_header` matches, compared in constant
/// time. Entries of other versions ("v1a,", "v2,") are skipped. A bad secret gives false.
bool verify(std::string_view whsec, std::string_view msg_id, std::string_view timestamp,
            std::string_view body, std::string_view signature_header, std::int64_t now_s,
            std::int64_t tolerance_s = 300);

/// A `webhook-id`: "msg_" + 27 base62 characters (about 160 random bits), the shape of the
/// spec's examples ("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"). Unique per delivery, kept across its
/// retries, so receivers can use it as an idempotency key. Not a secret, so it need not come
/// from OpenSSL; the randomness is injectable for tests.
std::string new_message_id(const core::RandomSource& rnd);
std::string new_message_id();

/// The `X-HiAPI-Signature` value: lower-case hex HMAC-SHA256 over timestamp + "." + body, the
/// timestamp in decimal seconds (sent as `X-HiAPI-Timestamp`). The key is the same account
/// secret's key bytes as for the Standard Webhooks signature (secret_key_bytes), so an account
/// has one secret to store and rotate whichever headers its receiver checks.
std::string hiapi_signature(std::string_view key_bytes, std::int64_t timestamp_s,
                            std::string_view body);

/// Every signing header of one delivery, in sending order.
struct SignedHeaders {
  std::vector<std::pair<std::string, std::string>> headers;
};

/// `webhook-id`, `webhook-timestamp` and `webhook-signature`; with `hiapi` (the `tasks`
/// dialect) also `X-HiAPI-Timestamp` and `X-HiAPI-Signature` over the same timestamp and body.
SignedHeaders webhook_headers(std::string_view key_bytes, std::string_view msg_id,
                              std::int64_t timestamp_s, std::string_view body, bool hiapi);

}  // namespace ig::callbacks
