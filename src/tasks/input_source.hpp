#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "providers/provider.hpp"
#include "runtime/offload.hpp"

namespace ig::media {
class Fetcher;
}
namespace ig::storage {
class ResultStorage;
}

namespace ig::tasks {

/// Why an input could not be used. `code` becomes the task's failCode.
struct InputFailure {
  std::string code;     // input_refused | input_too_large | input_fetch_failed | input_invalid
  std::string message;  // safe for clients; names the field ("input_urls[0]: …")
};

struct LoadedInput {
  std::optional<providers::ImageBytes> image;
  std::optional<InputFailure> failure;  // exactly one of image/failure is set
};

/// Loads a user-supplied image URL for a task. Thread-safe.
class InputSource {
 public:
  virtual ~InputSource() = default;
  /// `param` names the field for messages, e.g. "input_urls[0]"; `max_bytes` is the task's own
  /// cap (its dialect's), lowered further by the source's.
  virtual boost::asio::awaitable<LoadedInput> load(std::string url, std::string param,
                                                   std::size_t max_bytes) = 0;
};

/// Fetches through the SSRF-safe media::Fetcher (or, for "upload:<key>", reads an image that
/// came with the request from result storage), then checks the bytes are a JPEG/PNG/WEBP
/// within the pixel cap that decodes completely (libvips, on the blocking pool).
class MediaInputSource final : public InputSource {
 public:
  MediaInputSource(media::Fetcher& fetcher, storage::ResultStorage& uploads,
                   runtime::BlockingExecutor pool, long long max_pixels, std::size_t max_bytes);
  boost::asio::awaitable<LoadedInput> load(std::string url, std::string param,
                                           std::size_t max_bytes) override;

 private:
  boost::asio::awaitable<LoadedInput> check_image(std::string bytes, const std::string& param);

  media::Fetcher& fetcher_;
  storage::ResultStorage& uploads_;
  runtime::BlockingExecutor pool_;
  long long max_pixels_;
  std::size_t max_bytes_;
};

}  // namespace ig::tasks
