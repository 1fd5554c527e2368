#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "api/http.hpp"
#include "runtime/offload.hpp"

namespace ig::api {

/// The web console's files under /console/: the ones embedded in the binary, or, when a
/// directory is given (`console.dir`, for development), that directory's files, read again on
/// every request. Only GET and HEAD; every answer (errors too) carries the console's security
/// headers (a strict Content-Security-Policy, nosniff, no referrer, no framing). Files are
/// revalidated on every use (`Cache-Control: no-cache` with a strong ETag). Thread-safe.
class ConsoleSite {
 public:
  /// `dir` empty: the embedded files. Disk reads run on `pool`.
  ConsoleSite(std::filesystem::path dir, runtime::BlockingExecutor pool);

  /// True for the paths the console answers: "/console" and everything under "/console/".
  static bool owns(std::string_view path);

  /// The answer to a request for `path` (decoded, starting with "/console").
  boost::asio::awaitable<Response> handle(const Request& req, std::string_view path) const;

  /// The Content-Type of a console file, from its extension.
  static std::string_view content_type(std::string_view file);

  /// The file a decoded path under /console/ names ("" is index.html), or nullopt when the
  /// name is not one the console could hold: empty, ".", ".." or hidden segments, or
  /// characters other than letters, digits, '.', '_', '-' and '/' between segments.
  static std::optional<std::string> file_name(std::string_view rest);

 private:
  struct File {
    std::string bytes;
    std::string etag;
  };
  /// The file from disk; nullopt when it is missing, not a regular file, or outside `dir_`.
  std::optional<File> read_from_disk(const std::string& name) const;

  std::filesystem::path dir_;
  runtime::BlockingExecutor pool_;
};

}  // namespace ig::api
