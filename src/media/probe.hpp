#pragma once

#include <string_view>

#include "core/result.hpp"

namespace ig::media {

/// The image formats imagegate accepts as input.
enum class ImageFormat { kUnknown, kPng, kJpeg, kWebp };

/// "png", "jpeg", "webp" or "unknown".
std::string_view to_string(ImageFormat format);

/// "image/png", "image/jpeg", "image/webp" or "application/octet-stream".
std::string_view mime_type(ImageFormat format);

/// The format named by the leading magic bytes alone. Pure function; thread-safe.
ImageFormat sniff_format(std::string_view bytes);

/// What the header of an accepted image says. A plain value.
struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
  int bands = 0;
  bool has_alpha = false;
};

/// Limits applied to untrusted images. A plain value.
struct ProbeLimits {
  long long max_pixels = 50'000'000;
};

/// Blocking (libvips): call from the blocking pool. Reads only the header; refuses unknown
/// formats (SVG, TIFF, PDF, GIF… even if named .png), undecodable/truncated headers, and more
/// than max_pixels. Thread-safe. Errors are kValidationFailed with a client-safe message.
core::Result<ImageInfo> probe_image(std::string_view bytes, const ProbeLimits& limits);

/// Blocking: fully decodes (fail_on=error) to prove the file is not truncated/corrupt; returns
/// the same info. Use after probe_image passed (it re-runs the header checks first, so a pixel
/// bomb is still refused before decoding). Thread-safe.
core::Result<ImageInfo> verify_decodes(std::string_view bytes, const ProbeLimits& limits);

/// Once per process before any libvips use: VIPS_INIT, vips_block_untrusted_set(TRUE), small
/// operation cache. Safe to call more than once and from any thread; the probes call it
/// themselves (with argv0 "imagegate") if nobody did.
void init_vips(const char* argv0);

}  // namespace ig::media
