#include "media/mask.hpp"

namespace ig::media {

std::optional<std::string> check_mask(std::string_view mask_mime, bool mask_has_alpha,
                                      int mask_width, int mask_height, int ref_width,
                                      int ref_height) {
  if (mask_mime != "image/png" || !mask_has_alpha) {
    return std::string(kMaskMissingAlpha);
  }
  if (mask_width != ref_width || mask_height != ref_height) {
    return std::string(kMaskSizeMismatch);
  }
  return std::nullopt;
}

}  // namespace ig::media
