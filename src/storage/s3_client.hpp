#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/sigv4.hpp"

namespace ig::storage {

/// Where a bucket is and how to reach it.
struct S3Settings {
  std::string endpoint;  // "http://127.0.0.1:4569"; empty: AWS for the region (https)
  std::string bucket;
  std::string region = "us-east-1";
  bool path_style = true;  // endpoint/bucket/key; false: bucket.endpoint/key (virtual-hosted)
  sigv4::Credentials credentials;
  std::chrono::milliseconds timeout{30'000};  // one HTTP call, connect to last byte
};

/// One object of a listing.
struct S3Object {
  std::string key;
  std::int64_t last_modified_ms = 0;
  std::uint64_t size = 0;
};

/// A page of ListObjectsV2.
struct S3ListPage {
  std::vector<S3Object> objects;
  std::string next_token;  // empty: the last page
};

/// A blocking S3 REST client for the calls result storage makes (objects, ranges, listings,
/// batch deletes, multipart uploads, presigned GET URLs), signed with SigV4 over the project's
/// HTTP client. Every failure (transport, timeout, an S3 error answer) is an Error whose
/// message names the call and S3's code; a missing object is ErrorCode::kNotFound.
/// Thread-safe: each call uses its own connection; run it on the blocking pool.
class S3Client {
 public:
  S3Client(S3Settings settings, const core::Clock& clock);

  core::Status put_object(std::string_view key, std::string_view bytes);
  /// The object's size (HEAD).
  core::Result<std::uint64_t> head_object(std::string_view key);
  /// `length` bytes from `offset` (a Range request); fewer at the object's end, none past it.
  core::Result<std::string> get_object(std::string_view key, std::uint64_t offset,
                                       std::uint64_t length);
  /// Deletes one object; deleting a missing one succeeds (as S3 answers).
  core::Status delete_object(std::string_view key);
  /// DeleteObjects (POST ?delete) of at most 1,000 keys; the keys S3 could not delete are an
  /// error naming the first.
  core::Status delete_objects(const std::vector<std::string>& keys);
  core::Result<S3ListPage> list_objects(std::string_view prefix, std::string_view token,
                                        int max_keys = 1000);

  core::Result<std::string> create_multipart_upload(std::string_view key);
  /// The part's ETag, as CompleteMultipartUpload wants it.
  core::Result<std::string> upload_part(std::string_view key, std::string_view upload_id,
                                        int part_number, std::string_view bytes);
  core::Status complete_multipart_upload(std::string_view key, std::string_view upload_id,
                                         const std::vector<std::string>& etags);
  core::Status abort_multipart_upload(std::string_view key, std::string_view upload_id);

  /// A presigned GET URL valid for `expires_s` seconds (at most 7 days) from `signed_at_s`.
  std::string presign_get(std::string_view key, std::int64_t signed_at_s,
                          std::int64_t expires_s) const;

  const S3Settings& settings() const { return settings_; }

 private:
  struct Call;
  struct Answer;
  core::Result<Answer> send(const Call& call) const;
  /// "/bucket/key" (path style) or "/key", encoded for the request line and the signature.
  std::string object_path(std::string_view key) const;

  S3Settings settings_;
  const core::Clock& clock_;
  std::string scheme_;     // "http" or "https"
  std::string authority_;  // host[:port] of the endpoint, or bucket.host[:port]
  std::string base_path_;  // "/bucket" (path style) or ""
};

/// The text of every `<tag>…</tag>` in `xml`, in order, entities decoded. For S3's small,
/// flat answers; thread-safe.
std::vector<std::string> xml_values(std::string_view xml, std::string_view tag);

/// Milliseconds since the epoch of an ISO 8601 UTC time ("2009-10-12T17:50:30.000Z"), or
/// nullopt.
std::optional<std::int64_t> parse_iso8601_ms(std::string_view text);

}  // namespace ig::storage
