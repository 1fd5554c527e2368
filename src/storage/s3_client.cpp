#include "storage/s3_client.hpp"

#include <algorithm>
#include <ctime>
#include <thread>
#include <utility>

#include "http/client.hpp"
#include "http/url.hpp"

namespace ig::storage {
namespace {

using core::ErrorCode;

constexpr std::string_view kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::int64_t kMaxPresignSeconds = 7 * 24 * 3600;  // S3's limit for X-Amz-Expires
constexpr std::size_t kMaxAnswerBytes = 16 * 1024 * 1024;   // listings and error documents
constexpr std::uint64_t kMaxObjectRead = std::uint64_t{1} << 30;
constexpr int kAttempts = 2;  // a failed transfer or a 5xx is tried once more
constexpr std::chrono::milliseconds kRetryPause{200};

std::string decode_entities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool done = false;
    for (const auto& [name, c] : kEntities) {
      if (s.substr(i, name.size()) == name) {
        out.push_back(c);
        i += name.size() - 1;
        done = true;
        break;
      }
    }
    if (!done) {
      out.push_back('&');
    }
  }
  return out;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string first_value(std::string_view xml, std::string_view tag) {
  auto values = xml_values(xml, tag);
  return values.empty() ? std::string() : std::move(values.front());
}

bool is_success(unsigned status) {
  return status >= 200 && status < 300;
}

}  // namespace

std::vector<std::string> xml_values(std::string_view xml, std::string_view tag) {
  std::vector<std::string> out;
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  std::size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    const std::size_t start = pos + open.size();
    const std::size_t end = xml.find(close, start);
    if (end == std::string_view::npos) {
      break;
    }
    out.push_back(decode_entities(xml.substr(start, end - start)));
    pos = end + close.size();
  }
  return out;
}

std::optional<std::int64_t> parse_iso8601_ms(std::string_view text) {
  std::tm tm{};
  int millis = 0;
  const std::string s(text);
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  if (static_cast<std::size_t>(consumed) < s.size() &&
      s[static_cast<std::size_t>(consumed)] == '.') {
    std::sscanf(s.c_str() + consumed + 1, "%3d", &millis);
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(t) * 1000 + millis;
}

/// One S3 request before it is signed.
struct S3Client::Call {
  std::string method;
  std::string what;  // for messages: "PUT a/1.png"
  std::string path;  // encoded
  sigv4::Pairs query;
  sigv4::Pairs headers;  // besides host and x-amz-*
  std::string_view body;
  std::size_t max_answer = kMaxAnswerBytes;
};

struct S3Client::Answer {
  unsigned status = 0;
  http::Response response;
};

S3Client::S3Client(S3Settings settings, const core::Clock& clock)
    : settings_(std::move(settings)), clock_(clock) {
  std::string endpoint = settings_.endpoint;
  if (endpoint.empty()) {
    endpoint = "https://s3." + settings_.region + ".amazonaws.com";
  }
  while (!endpoint.empty() && endpoint.back() == '/') {
    endpoint.pop_back();
  }
  auto target = http::parse_target(endpoint);
  if (target) {
    scheme_ = target->tls ? "https" : "http";
    authority_ = target->host_header;
  }
  if (settings_.path_style) {
    base_path_ = "/" + sigv4::uri_encode(settings_.bucket, false);
  } else {
    authority_ = settings_.bucket + "." + authority_;
  }
}

std::string S3Client::object_path(std::string_view key) const {
  return base_path_ + "/" + sigv4::uri_encode(key, true);
}

core::Result<S3Client::Answer> S3Client::send(const Call& call) const {
  if (authority_.empty()) {
    return core::make_error(ErrorCode::kInternal,
                            "s3: the endpoint '" + settings_.endpoint + "' is not an http(s) URL");
  }
  const std::string payload_hash =
      call.body.empty() ? std::string(kEmptyHash) : sigv4::sha256_hex(call.body);
  std::string url = scheme_ + "://" + authority_ + (call.path.empty() ? "/" : call.path);
  if (!call.query.empty()) {
    url += "?" + sigv4::canonical_query(call.query);
  }
  core::Error last = core::make_error(ErrorCode::kInternal, "s3 " + call.what + ": not sent");
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    // Signed anew for each attempt: the signature carries the time.
    const std::string date = sigv4::amz_date(clock_.now_ms() / 1000);
    sigv4::Request signing{call.method, call.path.empty() ? "/" : call.path, call.query,
                           call.headers, payload_hash};
    signing.headers.emplace_back("host", authority_);
    signing.headers.emplace_back("x-amz-date", date);
    signing.headers.emplace_back("x-amz-content-sha256", payload_hash);
    if (!settings_.credentials.session_token.empty()) {
      signing.headers.emplace_back("x-amz-security-token", settings_.credentials.session_token);
    }
    http::Request request;
    request.method = call.method;
    request.url = url;
    request.body = std::string(call.body);
    for (const auto& h : signing.headers) {
      if (h.first != "host") {
        request.headers.push_back(h);
      }
    }
    request.headers.emplace_back(
        "Authorization",
        sigv4::authorization(settings_.credentials, settings_.region, "s3", date, signing));
    http::Limits limits;
    limits.timeout = settings_.timeout;
    limits.max_body_bytes = call.max_answer;
    // One client per thread: it keeps its TLS context (the system trust store) across calls.
    thread_local http::Client client;
    auto response = client.send(request, limits);
    if (!response) {
      last = core::make_error(ErrorCode::kInternal,
                              "s3 " + call.what + ": " + response.error().message);
    } else if (response->status >= 500 || response->status == 429) {
      last = core::make_error(ErrorCode::kInternal, "s3 " + call.what + ": HTTP " +
                                                        std::to_string(response->status) + " " +
                                                        first_value(response->body, "Code"));
    } else {
      return Answer{response->status, std::move(*response)};
    }
    if (attempt < kAttempts) {
      std::this_thread::sleep_for(kRetryPause);
    }
  }
  return last;
}

namespace {

/// An S3 error answer as an Error: kNotFound for a missing key, kInternal otherwise.
core::Error s3_error(std::string_view what, unsigned status, const std::string& body) {
  const std::string code = first_value(body, "Code");
  std::string message = "s3 " + std::string(what) + ": HTTP " + std::to_string(status);
  if (!code.empty()) {
    message += " " + code;
  }
  const std::string detail = first_value(body, "Message");
  if (!detail.empty()) {
    message += ": " + http::shorten(detail);
  }
  const bool missing_key = status == 404 && (code.empty() || code == "NoSuchKey");
  return core::make_error(missing_key ? ErrorCode::kNotFound : ErrorCode::kInternal,
                          std::move(message));
}

}  // namespace

core::Status S3Client::put_object(std::string_view key, std::string_view bytes) {
  Call call{"PUT", "PUT " + std::string(key), object_path(key), {}, {}, bytes};
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  if (!is_success(answer->status)) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  return core::ok_status();
}

core::Result<std::uint64_t> S3Client::head_object(std::string_view key) {
  Call call{"HEAD", "HEAD " + std::string(key), object_path(key), {}, {}, {}};
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  if (!is_success(answer->status)) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  const std::string length(answer->response.header("Content-Length"));
  try {
    return static_cast<std::uint64_t>(std::stoull(length));
  } catch (const std::exception&) {
    return core::make_error(ErrorCode::kInternal,
                            "s3 " + call.what + ": no Content-Length in the answer");
  }
}

core::Result<std::string> S3Client::get_object(std::string_view key, std::uint64_t offset,
                                               std::uint64_t length) {
  if (length == 0) {
    return std::string();
  }
  Call call{"GET", "GET " + std::string(key), object_path(key), {}, {}, {}};
  const std::uint64_t want = std::min(length, kMaxObjectRead);
  const bool whole = offset == 0 && length >= kMaxObjectRead;
  if (!whole) {
    call.headers.emplace_back(
        "Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + want - 1));
  }
  // Room for an error document, which may be longer than a small range.
  call.max_answer = static_cast<std::size_t>(std::max<std::uint64_t>(want, 64 * 1024));
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  if (answer->status == 416) {
    return std::string();  // the range starts past the object's end
  }
  if (!is_success(answer->status)) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  std::string body = std::move(answer->response.body);
  if (answer->status == 200 && !whole) {
    // A server that ignored the Range sent the whole object.
    if (offset >= body.size()) {
      return std::string();
    }
    body = body.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(want));
  }
  return body;
}

core::Status S3Client::delete_object(std::string_view key) {
  Call call{"DELETE", "DELETE " + std::string(key), object_path(key), {}, {}, {}};
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  if (!is_success(answer->status) && answer->status != 404) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  return core::ok_status();
}

core::Status S3Client::delete_objects(const std::vector<std::string>& keys) {
  if (keys.empty()) {
    return core::ok_status();
  }
  std::string xml = "<Delete><Quiet>true</Quiet>";
  for (const auto& k : keys) {
    xml += "<Object><Key>" + xml_escape(k) + "</Key></Object>";
  }
  xml += "</Delete>";
  Call call{"POST",
            "DeleteObjects (" + std::to_string(keys.size()) + " keys)",
            base_path_ + "/",
            {{"delete", ""}},
            {},
            xml};
  call.headers.emplace_back("Content-MD5", sigv4::md5_base64(xml));
  call.headers.emplace_back("Content-Type", "application/xml");
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  if (!is_success(answer->status)) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  // A 200 may still list keys that could not be deleted.
  const auto errors = xml_values(answer->response.body, "Error");
  if (!errors.empty()) {
    return core::make_error(ErrorCode::kInternal,
                            "s3 " + call.what + ": " + std::to_string(errors.size()) +
                                " not deleted, the first " + first_value(errors.front(), "Key") +
                                ": " + first_value(errors.front(), "Code"));
  }
  return core::ok_status();
}

core::Result<S3ListPage> S3Client::list_objects(std::string_view prefix, std::string_view token,
                                                int max_keys) {
  Call call{"GET", "ListObjectsV2", base_path_ + "/", {{"list-type", "2"}}, {}, {}};
  call.query.emplace_back("max-keys", std::to_string(max_keys));
  if (!prefix.empty()) {
    call.query.emplace_back("prefix", std::string(prefix));
  }
  if (!token.empty()) {
    call.query.emplace_back("continuation-token", std::string(token));
  }
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  if (!is_success(answer->status)) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  S3ListPage page;
  for (const auto& contents : xml_values(answer->response.body, "Contents")) {
    S3Object o;
    o.key = first_value(contents, "Key");
    const auto modified = parse_iso8601_ms(first_value(contents, "LastModified"));
    if (o.key.empty() || !modified) {
      return core::make_error(ErrorCode::kInternal,
                              "s3 " + call.what + ": an entry without Key or LastModified");
    }
    o.last_modified_ms = *modified;
    try {
      o.size = std::stoull(first_value(contents, "Size"));
    } catch (const std::exception&) {
      o.size = 0;
    }
    page.objects.push_back(std::move(o));
  }
  if (first_value(answer->response.body, "IsTruncated") == "true") {
    page.next_token = first_value(answer->response.body, "NextContinuationToken");
    if (page.next_token.empty()) {
      return core::make_error(ErrorCode::kInternal,
                              "s3 " + call.what + ": truncated without a continuation token");
    }
  }
  return page;
}

core::Result<std::string> S3Client::create_multipart_upload(std::string_view key) {
  Call call{
      "POST", "CreateMultipartUpload " + std::string(key), object_path(key), {{"uploads", ""}}, {},
      {}};
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  if (!is_success(answer->status)) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  std::string id = first_value(answer->response.body, "UploadId");
  if (id.empty()) {
    return core::make_error(ErrorCode::kInternal, "s3 " + call.what + ": no UploadId");
  }
  return id;
}

core::Result<std::string> S3Client::upload_part(std::string_view key, std::string_view upload_id,
                                                int part_number, std::string_view bytes) {
  Call call{"PUT",
            "UploadPart " + std::string(key) + " #" + std::to_string(part_number),
            object_path(key),
            {{"partNumber", std::to_string(part_number)}, {"uploadId", std::string(upload_id)}},
            {},
            bytes};
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  if (!is_success(answer->status)) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  std::string etag(answer->response.header("ETag"));
  if (etag.empty()) {
    return core::make_error(ErrorCode::kInternal, "s3 " + call.what + ": no ETag");
  }
  return etag;
}

core::Status S3Client::complete_multipart_upload(std::string_view key, std::string_view upload_id,
                                                 const std::vector<std::string>& etags) {
  std::string xml = "<CompleteMultipartUpload>";
  for (std::size_t i = 0; i < etags.size(); ++i) {
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
           xml_escape(etags[i]) + "</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  Call call{"POST",
            "CompleteMultipartUpload " + std::string(key),
            object_path(key),
            {{"uploadId", std::string(upload_id)}},
            {{"Content-Type", "application/xml"}},
            xml};
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  // S3 may answer 200 and still fail: the error is then the body.
  if (!is_success(answer->status) || !xml_values(answer->response.body, "Error").empty()) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  return core::ok_status();
}

core::Status S3Client::abort_multipart_upload(std::string_view key, std::string_view upload_id) {
  Call call{"DELETE",
            "AbortMultipartUpload " + std::string(key),
            object_path(key),
            {{"uploadId", std::string(upload_id)}},
            {},
            {}};
  auto answer = send(call);
  if (!answer) {
    return answer.error();
  }
  if (!is_success(answer->status) && answer->status != 404) {
    return s3_error(call.what, answer->status, answer->response.body);
  }
  return core::ok_status();
}

std::string S3Client::presign_get(std::string_view key, std::int64_t signed_at_s,
                                  std::int64_t expires_s) const {
  expires_s = std::clamp<std::int64_t>(expires_s, 1, kMaxPresignSeconds);
  const std::string path = object_path(key);
  sigv4::Request request{"GET", path, {}, {{"host", authority_}}, ""};
  return scheme_ + "://" + authority_ + path + "?" +
         sigv4::presigned_query(settings_.credentials, settings_.region, "s3",
                                sigv4::amz_date(signed_at_s), expires_s, std::move(request));
}

}  // namespace ig::storage
