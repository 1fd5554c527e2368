#pragma once

#include <string>
#include <string_view>

#include <vips/vips8>

#include "core/result.hpp"
#include "providers/provider.hpp"

/// libvips operations the providers share (the sandbox's renderer, fitting an upstream's image
/// to the promised size). Blocking: call them on the blocking pool. Thread-safe. They may throw
/// vips::VError on corrupt data (decoding is lazy); callers catch it.
namespace ig::providers::image_ops {

/// `img` tagged as sRGB.
vips::VImage as_srgb(const vips::VImage& img);

/// Decodes PNG, JPEG or WebP (nothing else, whatever libvips could load) to 8-bit sRGB with
/// 3 or 4 bands; kValidationFailed naming `what` otherwise.
core::Result<vips::VImage> decode_srgb8(std::string_view bytes, std::string_view what);
inline core::Result<vips::VImage> decode_srgb8(const ImageBytes& in, std::string_view what) {
  return decode_srgb8(std::string_view(in.bytes), what);
}

/// Scales `img` to cover width×height and crops the centre; unchanged when it already fits.
vips::VImage cover(vips::VImage img, int width, int height);

/// Encodes as "png" (the default), "jpeg" (alpha flattened on white) or "webp" with fixed
/// options and no metadata, so equal pixels give equal bytes.
std::string encode(const vips::VImage& img, std::string_view format);

}  // namespace ig::providers::image_ops
