// Signed result files: GET/HEAD with single byte ranges.
#include <charconv>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/router.hpp"
#include "storage/result_storage.hpp"
#include "storage/url_signer.hpp"

namespace ig::api {

using core::ErrorCode;
using core::make_error;

namespace {

constexpr std::string_view kFilesPrefix = "/files/";
// Storage without local files (S3): a body up to this size is read at once and sent with its
// Content-Length; a larger one is streamed in chunks of kStreamChunk, each a ranged read, so a
// download holds one chunk in memory, not the object. A Range over kReadAtOnce is answered
// with the whole object, streamed (RFC 9110 lets a server ignore Range).
constexpr std::uint64_t kReadAtOnce = 4 * 1024 * 1024;
constexpr std::uint64_t kStreamChunk = 1024 * 1024;

std::string_view content_type_for(std::string_view key) {
  if (key.ends_with(".png")) {
    return "image/png";
  }
  if (key.ends_with(".jpg") || key.ends_with(".jpeg")) {
    return "image/jpeg";
  }
  if (key.ends_with(".webp")) {
    return "image/webp";
  }
  return "application/octet-stream";
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) {
    return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// A single "bytes=" range against an object of `size` bytes. nullopt: unsatisfiable.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_range(std::string_view v,
                                                                    std::uint64_t size) {
  constexpr std::string_view kUnit = "bytes=";
  if (!v.starts_with(kUnit) || v.find(',') != std::string_view::npos || size == 0) {
    return std::nullopt;
  }
  v.remove_prefix(kUnit.size());
  const auto dash = v.find('-');
  if (dash == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view a = v.substr(0, dash);
  std::string_view b = v.substr(dash + 1);
  std::uint64_t first = 0;
  std::uint64_t last = size - 1;
  if (a.empty()) {
    std::uint64_t suffix = 0;
    if (!parse_u64(b, suffix) || suffix == 0) {
      return std::nullopt;
    }
    first = suffix >= size ? 0 : size - suffix;
  } else {
    if (!parse_u64(a, first) || first >= size) {
      return std::nullopt;
    }
    if (!b.empty()) {
      if (!parse_u64(b, last) || last < first) {
        return std::nullopt;
      }
      last = std::min(last, size - 1);
    }
  }
  return std::make_pair(first, last);
}

}  // namespace

boost::asio::awaitable<Response> Router::serve_file(Request& req, RequestInfo& info,
                                                    std::string_view key,
                                                    std::string_view expires,
                                                    std::string_view signature) {
  const std::string path = std::string(kFilesPrefix) + std::string(key);
  const auto verdict =
      d_.signer.verify(path, expires, signature, d_.clock.now_ms() / 1000);
  if (verdict == storage::UrlSigner::Verdict::kBadSignature) {
    co_return render_error("", make_error(ErrorCode::kForbidden, "invalid signature"));
  }
  if (verdict == storage::UrlSigner::Verdict::kExpired) {
    co_return render_error("", make_error(ErrorCode::kForbidden, "this link has expired"));
  }
  const std::string k(key);
  // Local files are opened once: the size, and the bytes sent with sendfile, are of the same
  // file, even if the janitor deletes it meanwhile. Other storage is sized, then read.
  std::optional<storage::OpenFile> file;
  std::optional<std::uint64_t> size;
  if (d_.results.local_files()) {
    file = co_await runtime::offload(d_.pool, [&] { return d_.results.open_file(k); });
    if (file) {
      size = file->size();
    }
  } else {
    auto stat = co_await runtime::offload(d_.pool, [&] { return d_.results.stat_size(k); });
    if (!stat && stat.error().code != ErrorCode::kNotFound) {
      spdlog::warn("request_id={} result {}: {}", info.request_id, k, stat.error().message);
      co_return render_error(
          "", make_error(ErrorCode::kUnavailable, "result storage is unavailable; try again"));
    }
    if (stat) {
      size = *stat;
    }
  }
  if (!size) {
    co_return render_error("", make_error(ErrorCode::kNotFound, "result not found"));
  }
  std::uint64_t first = 0;
  std::uint64_t last = *size == 0 ? 0 : *size - 1;
  bool partial = false;
  if (auto range = req[http::field::range]; !range.empty()) {
    auto r = parse_range(range, *size);
    if (!r) {
      Response res = text_response(416, "", "text/plain");
      res.set(http::field::content_range, "bytes */" + std::to_string(*size));
      co_return res;
    }
    std::tie(first, last) = *r;
    partial = file || last - first + 1 <= kReadAtOnce;
    if (!partial) {
      first = 0;
      last = *size - 1;
    }
  }
  if (!file && !partial && *size > kReadAtOnce && req.method() == http::verb::get) {
    info.stream = [this, k, total = *size](StreamWriter& out) -> boost::asio::awaitable<void> {
      for (std::uint64_t offset = 0; offset < total && out.open(); offset += kStreamChunk) {
        const std::uint64_t n = std::min(kStreamChunk, total - offset);
        auto chunk = co_await runtime::offload(d_.pool,
                                               [&] { return d_.results.read(k, offset, n); });
        if (!chunk || chunk->size() != n) {
          throw std::runtime_error("result " + k + " could not be read at " +
                                   std::to_string(offset) + ": " +
                                   (chunk ? "short read" : chunk.error().message));
        }
        if (!co_await out.write(*chunk)) {
          co_return;
        }
      }
    };
    Response res = stream_response(content_type_for(key));
    res.set(http::field::accept_ranges, "bytes");
    res.set(http::field::cache_control, "private, max-age=3600");
    co_return res;
  }
  const std::uint64_t length = *size == 0 ? 0 : last - first + 1;
  std::string body;
  if (req.method() != http::verb::head && length > 0) {
    if (file) {
      info.file = std::move(file);
      info.file_offset = first;
      info.file_length = length;
    } else {
      auto data =
          co_await runtime::offload(d_.pool, [&] { return d_.results.read(k, first, length); });
      if (!data) {
        // As for the size above: gone meanwhile (expired) is a 404; storage that stopped
        // answering between the size and the read is a 503 to retry, not a 500.
        if (data.error().code == ErrorCode::kNotFound) {
          co_return render_error("", make_error(ErrorCode::kNotFound, "result not found"));
        }
        spdlog::warn("request_id={} result {}: {}", info.request_id, k, data.error().message);
        co_return render_error(
            "", make_error(ErrorCode::kUnavailable, "result storage is unavailable; try again"));
      }
      if (data->size() != length) {
        // Deleted (expired) between the size and the read: never send a short body under a
        // Content-Length that promises more.
        co_return render_error("", make_error(ErrorCode::kNotFound, "result not found"));
      }
      body = std::move(*data);
    }
  }
  Response res{partial ? http::status::partial_content : http::status::ok, req.version()};
  res.set(http::field::content_type, content_type_for(key));
  res.set(http::field::accept_ranges, "bytes");
  res.set(http::field::cache_control, "private, max-age=3600");
  if (partial) {
    res.set(http::field::content_range, fmt::format("bytes {}-{}/{}", first, last, *size));
  }
  res.body() = std::move(body);
  res.content_length(length);
  co_return res;
}

}  // namespace ig::api
