#include "tasks/input_source.hpp"

#include "media/fetcher.hpp"
#include "media/probe.hpp"
#include "storage/result_storage.hpp"

#include <algorithm>
#include <limits>

namespace ig::tasks {

MediaInputSource::MediaInputSource(media::Fetcher& fetcher, storage::ResultStorage& uploads,
                                   runtime::BlockingExecutor pool, long long max_pixels,
                                   std::size_t max_bytes)
    : fetcher_(fetcher),
      uploads_(uploads),
      pool_(pool),
      max_pixels_(max_pixels),
      max_bytes_(max_bytes) {}

boost::asio::awaitable<LoadedInput> MediaInputSource::load(std::string url, std::string param,
                                                           std::size_t max_bytes) {
  if (url.starts_with(core::kUploadPrefix)) {
    const std::string key = url.substr(core::kUploadPrefix.size());
    auto bytes = co_await runtime::offload(pool_, [this, &key]() -> std::optional<std::string> {
      auto r = uploads_.read(key, 0, std::numeric_limits<std::uint64_t>::max());
      if (!r) {
        return std::nullopt;
      }
      return std::move(*r);
    });
    if (!bytes) {
      co_return LoadedInput{std::nullopt,
                            InputFailure{"internal_error", param + ": the uploaded image is gone"}};
    }
    co_return co_await check_image(std::move(*bytes), param);
  }
  auto fetched = co_await fetcher_.fetch(url, std::min(max_bytes, max_bytes_));
  if (fetched.error) {
    std::string code = "input_fetch_failed";
    switch (fetched.error->kind) {
      case media::FetchFailure::kAddressRefused:
      case media::FetchFailure::kNotHttps:
      case media::FetchFailure::kInvalidUrl: code = "input_refused"; break;
      case media::FetchFailure::kTooLarge: code = "input_too_large"; break;
      default: break;
    }
    co_return LoadedInput{std::nullopt, InputFailure{code, param + ": " + fetched.error->message}};
  }
  co_return co_await check_image(std::move(fetched.object->body), param);
}

boost::asio::awaitable<LoadedInput> MediaInputSource::check_image(std::string bytes,
                                                                  const std::string& param) {
  media::ProbeLimits limits;
  limits.max_pixels = max_pixels_;
  auto info = co_await runtime::offload(pool_, [&]() -> core::Result<media::ImageInfo> {
    auto probed = media::probe_image(bytes, limits);
    if (!probed) {
      return probed;
    }
    return media::verify_decodes(bytes, limits);
  });
  if (!info) {
    co_return LoadedInput{std::nullopt,
                          InputFailure{"input_invalid", param + ": " + info.error().message}};
  }
  providers::ImageBytes image;
  image.mime = std::string(media::mime_type(info->format));
  image.width = info->width;
  image.height = info->height;
  image.has_alpha = info->has_alpha;
  image.bytes = std::move(bytes);
  co_return LoadedInput{std::move(image), std::nullopt};
}

}  // namespace ig::tasks
