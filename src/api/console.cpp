#include "api/console.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <system_error>

#include <boost/json.hpp>

#include "api/console_assets.hpp"
#include "core/codec.hpp"
#include "core/error.hpp"

namespace ig::api {
namespace {

constexpr std::string_view kPrefix = "/console/";
// A development directory may hold anything; a console file is far smaller than this.
constexpr std::size_t kMaxFileBytes = 32 * 1024 * 1024;

// The console has no inline script or style and talks only to this server.
constexpr std::string_view kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

void secure(Response& res) {
  res.set("Content-Security-Policy", kCsp);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set(http::field::x_frame_options, "DENY");
}

// The admin API's error envelope.
Response error(core::ErrorCode code, std::string message) {
  boost::json::object err{{"code", core::to_string(code)},
                          {"message", core::to_valid_utf8(message)}};
  Response res = json_response(static_cast<unsigned>(core::http_status(code)),
                               boost::json::serialize(boost::json::object{{"error", err}}));
  secure(res);
  return res;
}

// The first 10 bytes of the SHA-256, in hex, quoted (as cmake/embed_console.cmake writes it).
std::string etag_of(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr);
  constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < 10; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  out += '"';
  return out;
}

// If-None-Match (a list of entity tags, or "*") against `etag`, by weak comparison.
bool not_modified(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const auto comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) {
      tag.remove_prefix(1);
    }
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) {
      tag.remove_suffix(1);
    }
    if (tag.starts_with("W/")) {
      tag.remove_prefix(2);
    }
    if (tag == "*" || tag == etag) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

Response file_response(const Request& req, std::string_view name, std::string_view bytes,
                       std::string_view etag) {
  Response res{http::status::ok, 11};
  if (not_modified(req[http::field::if_none_match], etag)) {
    res.result(http::status::not_modified);
  } else {
    res.set(http::field::content_type, ConsoleSite::content_type(name));
    res.body().assign(bytes.data(), bytes.size());
    res.prepare_payload();
  }
  res.set(http::field::etag, etag);
  res.set(http::field::cache_control, "no-cache");
  secure(res);
  return res;
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

ConsoleSite::ConsoleSite(std::filesystem::path dir, runtime::BlockingExecutor pool)
    : dir_(std::move(dir)), pool_(pool) {}

bool ConsoleSite::owns(std::string_view path) {
  return path == "/console" || path.starts_with(kPrefix);
}

std::string_view ConsoleSite::content_type(std::string_view file) {
  const auto dot = file.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : file.substr(dot + 1);
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"map", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"webp", "image/webp"},
      {"gif", "image/gif"},
      {"ico", "image/x-icon"},
      {"woff2", "font/woff2"},
      {"woff", "font/woff"},
  };
  for (const auto& [e, type] : kTypes) {
    if (e == ext) {
      return type;
    }
  }
  return "application/octet-stream";
}

std::optional<std::string> ConsoleSite::file_name(std::string_view rest) {
  if (rest.empty()) {
    return "index.html";
  }
  std::string_view segments = rest;
  while (true) {
    const auto slash = segments.find('/');
    const std::string_view segment = segments.substr(0, slash);
    if (segment.empty() || segment.front() == '.' ||
        !std::all_of(segment.begin(), segment.end(), name_char)) {
      return std::nullopt;
    }
    if (slash == std::string_view::npos) {
      return std::string(rest);
    }
    segments.remove_prefix(slash + 1);
  }
}

std::optional<ConsoleSite::File> ConsoleSite::read_from_disk(const std::string& name) const {
  // The names are checked already; the canonical paths also keep a symbolic link inside the
  // directory from leading out of it.
  std::error_code ec;
  const std::filesystem::path root = std::filesystem::canonical(dir_, ec);
  if (ec) {
    return std::nullopt;
  }
  const std::filesystem::path full = std::filesystem::canonical(root / name, ec);
  if (ec) {
    return std::nullopt;
  }
  const auto [r, f] = std::mismatch(root.begin(), root.end(), full.begin(), full.end());
  if (r != root.end() || f == full.end()) {
    return std::nullopt;
  }
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not regular).
  const int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    return std::nullopt;
  }
  std::optional<File> out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<std::uint64_t>(st.st_size) <= kMaxFileBytes) {
    File file;
    file.bytes.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < file.bytes.size()) {
      const ssize_t n = ::read(fd, file.bytes.data() + got, file.bytes.size() - got);
      if (n <= 0) {
        break;
      }
      got += static_cast<std::size_t>(n);
    }
    file.bytes.resize(got);  // shortened while we read: what was there
    file.etag = etag_of(file.bytes);
    out = std::move(file);
  }
  ::close(fd);
  return out;
}

boost::asio::awaitable<Response> ConsoleSite::handle(const Request& req,
                                                     std::string_view path) const {
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    Response res = error(core::ErrorCode::kMethodNotAllowed,
                         "method not allowed; the console is read with GET or HEAD");
    res.set(http::field::allow, "GET, HEAD");
    co_return res;
  }
  if (path == "/console") {
    Response res{http::status::moved_permanently, 11};
    res.set(http::field::location, kPrefix);
    res.set(http::field::cache_control, "no-cache");
    res.prepare_payload();
    secure(res);
    co_return res;
  }
  const std::string_view rest = path.substr(kPrefix.size());
  const auto name = file_name(rest);
  auto missing = [&] {
    return error(core::ErrorCode::kNotFound,
                 "no console file " + core::echo_text(rest.empty() ? "index.html" : rest, 200));
  };
  if (!name) {
    co_return missing();
  }
  if (dir_.empty()) {
    const auto assets = console_assets();
    const auto it = std::find_if(assets.begin(), assets.end(),
                                 [&](const ConsoleAsset& a) { return a.path == *name; });
    if (it == assets.end()) {
      co_return missing();
    }
    co_return file_response(req, *name, it->bytes, it->etag);
  }
  // By reference: a closure owning a std::string is destroyed twice by g++ 12's coroutines.
  const std::string& file_name_ref = *name;
  auto file = co_await runtime::offload(
      pool_, [this, &file_name_ref] { return read_from_disk(file_name_ref); });
  if (!file) {
    co_return missing();
  }
  co_return file_response(req, *name, file->bytes, file->etag);
}

}  // namespace ig::api
