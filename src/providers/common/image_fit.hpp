#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/sizes.hpp"
#include "providers/provider.hpp"

namespace ig::providers {

/// An upstream's image made into exactly what the client was promised: checked with the image
/// probe (JPEG/PNG/WEBP by magic bytes and header, within `max_pixels`, the container whole to
/// its end marker; pixels are decoded only when it must be resized), resized to `want` when its
/// size differs (scaled to cover, then centre-cropped: the aspect is kept), and re-encoded when
/// its format is not `format` ("png" | "jpeg" | "webp"). An image already right is returned
/// byte for byte. Blocking (libvips): call it on the blocking pool. Thread-safe.
/// Errors: kValidationFailed with a message fit for a client ("the upstream returned an image
/// that does not decode: …").
core::Result<ImageBytes> fit_image(std::string bytes, core::Size want, std::string_view format,
                                   long long max_pixels = 100'000'000);

}  // namespace ig::providers
