#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/result_storage.hpp"
#include "storage/s3_client.hpp"

namespace ig::storage {

/// Objects above this size are stored with a multipart upload, in parts of this size.
inline constexpr std::size_t kS3PartBytes = 8 * 1024 * 1024;

/// The access key pair: from the file `credentials_file` when it is set (AWS's shared
/// credentials format, its [default] profile: aws_access_key_id, aws_secret_access_key,
/// aws_session_token), otherwise from the environment variables named `access_key_env` and
/// `secret_key_env`. An Error names what is missing. Reads the process environment; call it at
/// start-up.
core::Result<sigv4::Credentials> load_s3_credentials(const std::string& access_key_env,
                                                     const std::string& secret_key_env,
                                                     const std::filesystem::path& credentials_file);

/// Result objects in an S3 bucket (AWS or any S3-compatible server), one object per key. The
/// bucket belongs to imagegate: delete_older_than() removes any object in it older than the
/// cutoff (by S3's LastModified). Every method is blocking and thread-safe: call it from the
/// blocking pool. Failures of S3 are Errors (or nullopt from size()), never exceptions.
class S3ResultStorage final : public ResultStorage {
 public:
  S3ResultStorage(S3Settings settings, const core::Clock& clock);

  /// Up to kS3PartBytes in one PUT; larger objects by CreateMultipartUpload, UploadPart and
  /// CompleteMultipartUpload, aborted when a step fails (readers never see a partial object).
  core::Status put(std::string_view key, std::string_view bytes) override;
  std::optional<std::uint64_t> size(std::string_view key) override;
  core::Result<std::uint64_t> stat_size(std::string_view key) override;
  core::Result<std::string> read(std::string_view key, std::uint64_t offset,
                                 std::uint64_t length) override;
  /// ListObjectsV2 over the bucket, then DeleteObjects of the expired keys, 1,000 at a time
  /// (one DELETE per object where the server has no DeleteObjects).
  std::size_t delete_older_than(std::int64_t cutoff_ms) override;

  /// A presigned GET URL of `key` that expires at `expires_at_s` (Unix seconds): signed as of
  /// `expires_at_s - ttl_s` for `ttl_s` seconds (at most 7 days, S3's limit), so every node
  /// gives the same URL for the same result.
  std::string presigned_url(std::string_view key, std::int64_t expires_at_s,
                            std::int64_t ttl_s) const;

  S3Client& client() { return client_; }

 private:
  core::Status put_multipart(std::string_view key, std::string_view bytes);

  S3Client client_;
  std::atomic<bool> batch_delete_{true};  // cleared when the server refuses DeleteObjects
};

}  // namespace ig::storage
