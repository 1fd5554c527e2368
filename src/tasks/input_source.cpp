#include "tasks/input_source.hpp"

#include "media/fetcher.hpp"
#include "media/probe.hpp"

namespace ig::tasks {

MediaInputSource::MediaInputSource(media::Fetcher& fetcher, runtime::BlockingExecutor pool,
                                   long long max_pixels, std::size_t max_bytes)
    : fetcher_(fetcher), pool_(pool), max_pixels_(max_pixels), max_bytes_(max_bytes) {}

boost::asio::awaitable<LoadedInput> MediaInputSource::load(std::string url, std::string param) {
  auto fetched = co_await fetcher_.fetch(url, max_bytes_);
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
  media::ProbeLimits limits;
  limits.max_pixels = max_pixels_;
  std::string bytes = std::move(fetched.object->body);
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
  image.bytes = std::move(bytes);
  co_return LoadedInput{std::move(image), std::nullopt};
}

}  // namespace ig::tasks
