#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// AWS Signature Version 4 (header and query-string signing), as S3 and its compatible servers
/// check it. Pure functions over strings; thread-safe.
namespace ig::storage::sigv4 {

using Pairs = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

/// Who signs, and for which region and service.
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // sent as X-Amz-Security-Token when not empty
};

/// One request as it is signed.
struct Request {
  std::string method;         // "GET"
  std::string canonical_uri;  // the path, already URI-encoded ("/bucket/a%24b.png")
  Pairs query;                // decoded names and values, any order
  Pairs headers;              // every header to sign (Host included), any case and order
  std::string payload_hash;   // lower-case hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);
/// Raw HMAC-SHA256 of `data` under `key` (32 bytes).
std::string hmac_sha256(std::string_view key, std::string_view data);
/// Lower-case hex of raw bytes.
std::string hex(std::string_view bytes);
/// Base64 of the raw MD5 of `data` (S3's Content-MD5, required by DeleteObjects).
std::string md5_base64(std::string_view data);

/// RFC 3986 percent-encoding of everything but unreserved characters; '/' kept when
/// `keep_slash` (object key paths), encoded otherwise (query names and values).
std::string uri_encode(std::string_view s, bool keep_slash);

/// "20130524T000000Z" for a Unix time in seconds.
std::string amz_date(std::int64_t unix_s);

/// "name=value&…", names and values encoded, sorted by name then value.
std::string canonical_query(const Pairs& query);
/// "host;range;x-amz-date": the lower-case names of `headers`, sorted.
std::string signed_headers(const Pairs& headers);
/// The canonical request of the algorithm's first step.
std::string canonical_request(const Request& request);
/// "20130524/us-east-1/s3/aws4_request".
std::string scope(std::string_view date8, std::string_view region, std::string_view service);
/// The string to sign: algorithm, timestamp, scope and the canonical request's hash.
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);
/// The derived signing key (raw bytes).
std::string signing_key(std::string_view secret, std::string_view date8, std::string_view region,
                        std::string_view service);
/// Lower-case hex signature of `request` at `amz_date` ("20130524T000000Z").
std::string signature(const Credentials& credentials, std::string_view region,
                      std::string_view service, std::string_view amz_date, const Request& request);
/// The Authorization header's value for `request`, whose headers must already hold its
/// x-amz-date (and x-amz-content-sha256 for S3).
std::string authorization(const Credentials& credentials, std::string_view region,
                          std::string_view service, std::string_view amz_date,
                          const Request& request);

/// The query string of a presigned URL (X-Amz-Algorithm … X-Amz-Signature) for `request`,
/// whose `query` holds the request's own parameters and whose `headers` hold only Host (and
/// any other header the URL's user must send). An empty payload_hash signs UNSIGNED-PAYLOAD,
/// as S3 wants.
std::string presigned_query(const Credentials& credentials, std::string_view region,
                            std::string_view service, std::string_view amz_date,
                            std::int64_t expires_s, Request request);

}  // namespace ig::storage::sigv4
