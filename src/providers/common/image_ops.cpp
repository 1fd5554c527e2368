#include "providers/common/image_ops.hpp"

#include <algorithm>
#include <memory>
#include <vector>

namespace ig::providers::image_ops {

using vips::VImage;

namespace {

bool is_png(std::string_view b) {
  return b.starts_with("\x89PNG\r\n\x1a\n");
}
bool is_jpeg(std::string_view b) {
  return b.starts_with("\xff\xd8\xff");
}
bool is_webp(std::string_view b) {
  return b.size() >= 12 && b.starts_with("RIFF") && b.substr(8, 4) == "WEBP";
}

struct BlobUnref {
  void operator()(VipsBlob* blob) const { vips_area_unref(VIPS_AREA(blob)); }
};

}  // namespace

VImage as_srgb(const VImage& img) {
  return img.copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

core::Result<VImage> decode_srgb8(std::string_view bytes, std::string_view what) {
  if (!is_png(bytes) && !is_jpeg(bytes) && !is_webp(bytes)) {
    return core::make_error(core::ErrorCode::kValidationFailed,
                        std::string(what) + " is not a PNG, JPEG or WebP image");
  }
  VImage img = VImage::new_from_buffer(bytes.data(), bytes.size(), "",
                                       VImage::option()->set("fail_on", VIPS_FAIL_ON_ERROR));
  if (img.interpretation() != VIPS_INTERPRETATION_sRGB &&
      vips_colourspace_issupported(img.get_image())) {
    img = img.colourspace(VIPS_INTERPRETATION_sRGB);
  }
  if (img.format() != VIPS_FORMAT_UCHAR) {
    img = img.cast(VIPS_FORMAT_UCHAR);
  }
  if (img.bands() != 3 && img.bands() != 4) {
    return core::make_error(core::ErrorCode::kValidationFailed,
                        std::string(what) + " has an unsupported colour layout");
  }
  return as_srgb(img);
}

VImage cover(VImage img, int width, int height) {
  if (img.width() == width && img.height() == height) {
    return img;
  }
  const double scale = std::max(static_cast<double>(width) / img.width(),
                                static_cast<double>(height) / img.height());
  const bool alpha = img.bands() == 4;
  if (alpha) {
    img = img.premultiply();  // no dark fringes from transparent neighbours
  }
  img = img.resize(scale);
  if (alpha) {
    img = img.unpremultiply();
  }
  // gravity crops (or, after rounding, pads by one edge pixel) to exactly width×height.
  return as_srgb(img.cast(VIPS_FORMAT_UCHAR)
                     .gravity(VIPS_COMPASS_DIRECTION_CENTRE, width, height,
                              VImage::option()->set("extend", VIPS_EXTEND_COPY)));
}


std::string encode(const VImage& img, std::string_view format) {
  std::unique_ptr<VipsBlob, BlobUnref> blob;
  if (format == "jpeg") {
    blob.reset(img.jpegsave_buffer(VImage::option()
                                       ->set("Q", 85)
                                       ->set("optimize_coding", false)
                                       ->set("interlace", false)
                                       ->set("strip", true)));
  } else if (format == "webp") {
    blob.reset(img.webpsave_buffer(VImage::option()
                                       ->set("Q", 80)
                                       ->set("lossless", false)
                                       ->set("effort", 1)
                                       ->set("strip", true)));
  } else {
    blob.reset(img.pngsave_buffer(VImage::option()
                                      ->set("compression", 1)
                                      ->set("filter", VIPS_FOREIGN_PNG_FILTER_NONE)
                                      ->set("interlace", false)
                                      ->set("strip", true)));
  }
  const VipsArea* area = VIPS_AREA(blob.get());
  return std::string(static_cast<const char*>(area->data), area->length);
}

}  // namespace ig::providers::image_ops
