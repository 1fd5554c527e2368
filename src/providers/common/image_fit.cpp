#include "providers/common/image_fit.hpp"

#include <cstdint>
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

/// Whether the container is whole: a PNG ends in its IEND chunk, a JPEG in its EOI marker, a
/// WebP's RIFF size covers the file. Catches a cut-short image without decoding its pixels.
bool whole_container(std::string_view bytes, media::ImageFormat format) {
  switch (format) {
    case media::ImageFormat::kPng:
      return bytes.size() >= 12 &&
             bytes.substr(bytes.size() - 12) == std::string_view("\0\0\0\0IEND\xae\x42\x60\x82", 12);
    case media::ImageFormat::kJpeg:
      return bytes.size() >= 4 && bytes.substr(bytes.size() - 2) == "\xff\xd9";
    case media::ImageFormat::kWebp: {
      if (bytes.size() < 12) {
        return false;
      }
      const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + 4;
      const std::uint64_t riff = p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint64_t{p[3]} << 24);
      return riff + 8 == bytes.size() || riff + 9 == bytes.size();  // odd sizes are padded
    }
    case media::ImageFormat::kUnknown:
      break;
  }
  return false;
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
  // The header probe and a whole container, not a full decode: an image that needs no resize
  // is passed on as the upstream made it, without spending a decode on it.
  if (!whole_container(bytes, info->format)) {
    return unusable("the image is cut short");
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
