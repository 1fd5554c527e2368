#include "providers/common/image_fit.hpp"

#include <exception>
#include <utility>
#include <vector>

#include "media/probe.hpp"
#include "providers/common/image_ops.hpp"

namespace ig::providers {

namespace {

core::Error unusable(std::string_view why) {
  return core::make_error(core::ErrorCode::kValidationFailed,
                          "the upstream returned an unusable image: " + std::string(why));
}

}  // namespace

core::Result<ImageBytes> fit_image(std::string bytes, core::Size want, std::string_view format,
                                   long long max_pixels) {
  if (want.width < 1 || want.height < 1) {
    return unusable("no output size to fit it to");
  }
  media::ProbeLimits limits;
  limits.max_pixels = max_pixels;
  auto info = media::probe_image(bytes, limits);
  if (!info) {
    return unusable(info.error().message);
  }
  auto full = media::verify_decodes(bytes, limits);
  if (!full) {
    return unusable(full.error().message);
  }
  const std::string_view have_format = media::to_string(info->format);
  const std::string_view want_format = format.empty() ? std::string_view("png") : format;
  ImageBytes out;
  out.width = want.width;
  out.height = want.height;
  out.mime = std::string(core::mime_for_format(want_format));
  if (info->width == want.width && info->height == want.height && have_format == want_format) {
    out.has_alpha = info->has_alpha;
    out.bytes = std::move(bytes);
    return out;
  }
  try {
    auto decoded = image_ops::decode_srgb8(bytes, "the upstream image");
    if (!decoded) {
      return unusable(decoded.error().message);
    }
    vips::VImage img = image_ops::cover(*decoded, want.width, want.height);
    if (img.bands() == 4 && want_format == "jpeg") {
      img = image_ops::as_srgb(
          img.flatten(vips::VImage::option()->set("background", std::vector<double>{255, 255, 255}))
              .cast(VIPS_FORMAT_UCHAR));
    }
    out.has_alpha = img.bands() == 4;
    out.bytes = image_ops::encode(img, want_format);
    return out;
  } catch (const vips::VError&) {
    vips_error_clear();
    return unusable("it could not be resized");
  } catch (const std::exception&) {
    return unusable("it could not be resized");
  }
}

}  // namespace ig::providers
