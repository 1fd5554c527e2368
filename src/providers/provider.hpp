#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/request.hpp"

namespace ig::providers {

/// An encoded image with its decoded dimensions.
struct ImageBytes {
  std::string bytes;
  std::string mime;  // "image/png", "image/jpeg", "image/webp"
  int width = 0;
  int height = 0;
  bool has_alpha = false;
};

/// Everything a provider needs for one run. `request.size` is resolved (never {0,0}).
struct GenerateJob {
  core::GenerationRequest request;
  std::vector<ImageBytes> references;  // fetched and probed input images, in request order
  std::optional<ImageBytes> mask;      // only with references
  std::string task_id;
  int attempt = 1;
};

/// Why a run failed. `code` is shown to clients as failCode; `message` as failMsg.
struct GenerateError {
  std::string code;
  std::string message;
  bool retryable = false;  // true only when the upstream certainly did no paid work
};

struct GenerateResult {
  std::vector<ImageBytes> images;  // request.n images of exactly request.size on success
  std::optional<GenerateError> error;
};

/// A backend that turns a GenerateJob into images. Implementations are thread-safe; generate
/// may be awaited from any I/O thread and must not block it.
class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;
  virtual boost::asio::awaitable<GenerateResult> generate(GenerateJob job) = 0;
};

}  // namespace ig::providers
