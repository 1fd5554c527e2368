#include "media/probe.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include <vips/vips.h>

namespace ig::media {

namespace {

std::once_flag g_init_once;
std::atomic<bool> g_init_ok{false};

constexpr std::string_view kPngMagic("\x89PNG\r\n\x1a\n", 8);
constexpr std::string_view kJpegMagic("\xff\xd8\xff", 3);

struct ImageUnref {
  void operator()(VipsImage* image) const { g_object_unref(image); }
};
using ImagePtr = std::unique_ptr<VipsImage, ImageUnref>;

core::Error invalid(std::string message) {
  return core::make_error(core::ErrorCode::kValidationFailed, std::move(message));
}

core::Error corrupt() {
  // libvips keeps one error buffer per process; its text is internal and never shown.
  vips_error_clear();
  return invalid("image is truncated or corrupt");
}

/// Opens `bytes` with the loader of `format` only, so libvips can never pick another loader
/// for untrusted input. Reads the header; pixels are decoded on demand, sequentially, and any
/// decode error or truncation fails the pipeline.
ImagePtr open_image(ImageFormat format, std::string_view bytes) {
  // The loaders take a non-const pointer but only read the buffer.
  void* data = const_cast<char*>(bytes.data());
  const std::size_t size = bytes.size();
  VipsImage* out = nullptr;
  int rc = -1;
  switch (format) {
    case ImageFormat::kPng:
      rc = vips_pngload_buffer(data, size, &out, "fail_on", VIPS_FAIL_ON_ERROR, "access",
                               VIPS_ACCESS_SEQUENTIAL, nullptr);
      break;
    case ImageFormat::kJpeg:
      rc = vips_jpegload_buffer(data, size, &out, "fail_on", VIPS_FAIL_ON_ERROR, "access",
                                VIPS_ACCESS_SEQUENTIAL, nullptr);
      break;
    case ImageFormat::kWebp:
      rc = vips_webpload_buffer(data, size, &out, "fail_on", VIPS_FAIL_ON_ERROR, "access",
                                VIPS_ACCESS_SEQUENTIAL, nullptr);
      break;
    case ImageFormat::kUnknown:
      break;
  }
  if (rc != 0) {
    if (out != nullptr) {
      g_object_unref(out);
    }
    return nullptr;
  }
  return ImagePtr(out);
}

}  // namespace

std::string_view to_string(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng:
      return "png";
    case ImageFormat::kJpeg:
      return "jpeg";
    case ImageFormat::kWebp:
      return "webp";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view mime_type(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng:
      return "image/png";
    case ImageFormat::kJpeg:
      return "image/jpeg";
    case ImageFormat::kWebp:
      return "image/webp";
    case ImageFormat::kUnknown:
      break;
  }
  return "application/octet-stream";
}

ImageFormat sniff_format(std::string_view bytes) {
  if (bytes.starts_with(kPngMagic)) {
    return ImageFormat::kPng;
  }
  if (bytes.starts_with(kJpegMagic)) {
    return ImageFormat::kJpeg;
  }
  if (bytes.size() >= 12 && bytes.substr(0, 4) == "RIFF" && bytes.substr(8, 4) == "WEBP") {
    return ImageFormat::kWebp;
  }
  return ImageFormat::kUnknown;
}

void init_vips(const char* argv0) {
  std::call_once(g_init_once, [argv0] {
    if (VIPS_INIT(argv0 != nullptr ? argv0 : "imagegate") != 0) {
      vips_error_clear();
      return;
    }
    // Loaders libvips marks untrusted (ImageMagick, matio, ...) are never reachable.
    vips_block_untrusted_set(TRUE);
    // No operation cache (as imgproxy): inputs are seen once, and buffer loaders do not copy
    // their input, so cached entries would only hold pointers to freed memory.
    vips_cache_set_max(0);
    g_init_ok = true;
  });
}

core::Result<ImageInfo> probe_image(std::string_view bytes, const ProbeLimits& limits) {
  init_vips(nullptr);
  if (!g_init_ok) {
    return core::make_error(core::ErrorCode::kInternal, "image library is unavailable");
  }
  const ImageFormat format = sniff_format(bytes);
  if (format == ImageFormat::kUnknown) {
    return invalid("unsupported image type: expected JPEG, PNG or WEBP");
  }
  ImagePtr image = open_image(format, bytes);
  if (!image) {
    return corrupt();
  }
  ImageInfo info;
  info.format = format;
  info.width = vips_image_get_width(image.get());
  info.height = vips_image_get_height(image.get());
  info.bands = vips_image_get_bands(image.get());
  info.has_alpha = vips_image_hasalpha(image.get()) != 0;
  const long long pixels = static_cast<long long>(info.width) * info.height;
  if (info.width <= 0 || info.height <= 0) {
    return corrupt();
  }
  if (pixels > limits.max_pixels) {
    return invalid("image is " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                   " pixels, above the limit of " + std::to_string(limits.max_pixels));
  }
  return info;
}

core::Result<ImageInfo> verify_decodes(std::string_view bytes, const ProbeLimits& limits) {
  auto info = probe_image(bytes, limits);
  if (!info) {
    return info;
  }
  ImagePtr image = open_image(info->format, bytes);
  if (!image) {
    return corrupt();
  }
  // Averaging touches every pixel, so the whole file is decoded, in strips, without a full
  // uncompressed copy in memory.
  double average = 0;
  if (vips_avg(image.get(), &average, nullptr) != 0) {
    return corrupt();
  }
  return info;
}

}  // namespace ig::media
