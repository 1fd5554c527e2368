#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ig::media {

/// Seed 001's exact messages for an unusable inpainting mask.
inline constexpr std::string_view kMaskMissingAlpha =
    "Invalid mask image format - mask image missing alpha channel";
inline constexpr std::string_view kMaskSizeMismatch =
    "Invalid mask image format - mask size does not match image size";

/// Checks a decoded mask against the first reference image: it must be a PNG with an alpha
/// channel (a JPEG or an opaque PNG has none) of exactly the reference's size. Returns the
/// message to show, or nothing when the mask is usable. Pure.
std::optional<std::string> check_mask(std::string_view mask_mime, bool mask_has_alpha,
                                      int mask_width, int mask_height, int ref_width,
                                      int ref_height);

}  // namespace ig::media
