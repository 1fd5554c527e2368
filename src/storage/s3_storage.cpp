#include "storage/s3_storage.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "storage/fs_storage.hpp"  // is_valid_key

namespace ig::storage {
namespace {

using core::ErrorCode;

constexpr std::size_t kDeleteBatch = 1000;  // DeleteObjects' limit
constexpr std::int64_t kMaxPresignSeconds = 7 * 24 * 3600;

core::Error bad_key() {
  return core::make_error(ErrorCode::kInvalidRequest, "invalid key");
}

std::string trim(std::string_view s) {
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) {
    return {};
  }
  const auto end = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(begin, end - begin + 1));
}

/// The [default] profile of an AWS shared credentials file, as key → value.
core::Result<std::map<std::string, std::string>> read_profile(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) {
    return core::make_error(ErrorCode::kInvalidRequest,
                            "s3.credentials_file: cannot read " + file.string());
  }
  std::map<std::string, std::string> values;
  std::string section;
  for (std::string line; std::getline(in, line);) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') {
      continue;
    }
    if (line.front() == '[' && line.back() == ']') {
      section = trim(std::string_view(line).substr(1, line.size() - 2));
      continue;
    }
    const auto eq = line.find('=');
    if (section == "default" && eq != std::string::npos) {
      values[trim(std::string_view(line).substr(0, eq))] =
          trim(std::string_view(line).substr(eq + 1));
    }
  }
  return values;
}

std::string env_value(const std::string& name) {
  if (name.empty()) {
    return {};
  }
  const char* v = std::getenv(name.c_str());
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

core::Result<sigv4::Credentials> load_s3_credentials(
    const std::string& access_key_env, const std::string& secret_key_env,
    const std::filesystem::path& credentials_file) {
  sigv4::Credentials c;
  if (!credentials_file.empty()) {
    auto profile = read_profile(credentials_file);
    if (!profile) {
      return profile.error();
    }
    c.access_key_id = (*profile)["aws_access_key_id"];
    c.secret_access_key = (*profile)["aws_secret_access_key"];
    c.session_token = (*profile)["aws_session_token"];
    if (c.access_key_id.empty() || c.secret_access_key.empty()) {
      return core::make_error(ErrorCode::kInvalidRequest,
                              "s3.credentials_file: " + credentials_file.string() +
                                  " has no aws_access_key_id and aws_secret_access_key under "
                                  "[default]");
    }
    return c;
  }
  c.access_key_id = env_value(access_key_env);
  c.secret_access_key = env_value(secret_key_env);
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return core::make_error(ErrorCode::kInvalidRequest,
                            "s3: no credentials: set the environment variables " + access_key_env +
                                " and " + secret_key_env +
                                " (s3.access_key_env, s3.secret_key_env) or s3.credentials_file");
  }
  return c;
}

S3ResultStorage::S3ResultStorage(S3Settings settings, const core::Clock& clock)
    : client_(std::move(settings), clock) {}

core::Status S3ResultStorage::put(std::string_view key, std::string_view bytes) {
  if (!is_valid_key(key)) {
    return bad_key();
  }
  if (bytes.size() > kS3PartBytes) {
    return put_multipart(key, bytes);
  }
  return client_.put_object(key, bytes);
}

core::Status S3ResultStorage::put_multipart(std::string_view key, std::string_view bytes) {
  auto upload = client_.create_multipart_upload(key);
  if (!upload) {
    return upload.error();
  }
  std::vector<std::string> etags;
  core::Status outcome = core::ok_status();
  for (std::size_t offset = 0; offset < bytes.size(); offset += kS3PartBytes) {
    const auto part = bytes.substr(offset, kS3PartBytes);
    auto etag = client_.upload_part(key, *upload, static_cast<int>(etags.size() + 1), part);
    if (!etag) {
      outcome = etag.error();
      break;
    }
    etags.push_back(std::move(*etag));
  }
  if (outcome) {
    outcome = client_.complete_multipart_upload(key, *upload, etags);
  }
  if (!outcome) {
    // Parts of an upload neither completed nor aborted are kept (and billed) by S3.
    (void)client_.abort_multipart_upload(key, *upload);
  }
  return outcome;
}

std::optional<std::uint64_t> S3ResultStorage::size(std::string_view key) {
  auto s = stat_size(key);
  if (!s) {
    return std::nullopt;
  }
  return *s;
}

core::Result<std::uint64_t> S3ResultStorage::stat_size(std::string_view key) {
  if (!is_valid_key(key)) {
    return core::make_error(ErrorCode::kNotFound, "object not found");
  }
  return client_.head_object(key);
}

core::Result<std::string> S3ResultStorage::read(std::string_view key, std::uint64_t offset,
                                                std::uint64_t length) {
  if (!is_valid_key(key)) {
    return bad_key();
  }
  return client_.get_object(key, offset, length);
}

std::size_t S3ResultStorage::delete_older_than(std::int64_t cutoff_ms) {
  std::size_t removed = 0;
  std::string token;
  std::vector<std::string> expired;
  // Listed first, deleted after: deleting while paging could move the listing under us.
  do {
    auto page = client_.list_objects("", token);
    if (!page) {
      spdlog::warn("result storage: {}", page.error().message);
      break;
    }
    for (auto& o : page->objects) {
      if (o.last_modified_ms < cutoff_ms) {
        expired.push_back(std::move(o.key));
      }
    }
    token = std::move(page->next_token);
  } while (!token.empty());
  for (std::size_t i = 0; i < expired.size(); i += kDeleteBatch) {
    const std::vector<std::string> batch(
        expired.begin() + static_cast<std::ptrdiff_t>(i),
        expired.begin() + static_cast<std::ptrdiff_t>(std::min(expired.size(), i + kDeleteBatch)));
    if (batch_delete_) {
      auto st = client_.delete_objects(batch);
      if (st) {
        removed += batch.size();
        continue;
      }
      if (st.error().message.find("NotImplemented") == std::string::npos) {
        spdlog::warn("result storage: {}", st.error().message);
        continue;  // the next run tries again
      }
      batch_delete_ = false;
    }
    for (const auto& key : batch) {
      if (auto st = client_.delete_object(key); st) {
        ++removed;
      } else {
        spdlog::warn("result storage: {}", st.error().message);
      }
    }
  }
  return removed;
}

std::string S3ResultStorage::presigned_url(std::string_view key, std::int64_t expires_at_s,
                                           std::int64_t ttl_s) const {
  const std::int64_t lifetime = std::clamp<std::int64_t>(ttl_s, 1, kMaxPresignSeconds);
  return client_.presign_get(key, expires_at_s - lifetime, lifetime);
}

}  // namespace ig::storage
