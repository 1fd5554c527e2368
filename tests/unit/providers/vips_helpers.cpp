#include "unit/providers/vips_helpers.hpp"

#include <cmath>
#include <cstring>
#include <memory>

namespace ig::providers::test {

using vips::VImage;

VImage decode(const std::string& bytes) {
  // Copied to memory: the buffer is only borrowed by new_from_buffer.
  return VImage::new_from_buffer(bytes.data(), bytes.size(), "").copy_memory();
}

ImageBytes png(const VImage& img) {
  VipsBlob* blob = img.pngsave_buffer(VImage::option()->set("compression", 1));
  ImageBytes out;
  out.bytes.assign(static_cast<const char*>(VIPS_AREA(blob)->data), VIPS_AREA(blob)->length);
  vips_area_unref(VIPS_AREA(blob));
  out.mime = "image/png";
  out.width = img.width();
  out.height = img.height();
  return out;
}

std::vector<std::uint8_t> pixels(const VImage& img) {
  std::size_t size = 0;
  void* data = img.write_to_memory(&size);
  std::vector<std::uint8_t> out(static_cast<std::uint8_t*>(data),
                                static_cast<std::uint8_t*>(data) + size);
  g_free(data);
  return out;
}

std::vector<double> band_means(const VImage& img) {
  std::vector<double> out;
  for (int b = 0; b < img.bands(); ++b) {
    out.push_back(img.extract_band(b).avg());
  }
  return out;
}

double distance(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    sum += (a[i] - b[i]) * (a[i] - b[i]);
  }
  return std::sqrt(sum);
}

VImage reference_picture(int width, int height, std::vector<double> tint) {
  VImage xy = VImage::xyz(width, height);
  VImage ramp = (xy[0] * (0.5 / width) + xy[1] * (0.5 / height)) * 0.8 + 0.2;  // 0.2..1
  std::vector<double> zero(3, 0.0);
  VImage rgb = VImage::bandjoin({ramp, ramp, ramp}).linear(tint, zero);
  // Stripes every 7 pixels so neighbouring pixels differ.
  VImage stripes = (xy[0] % 7) * 4;
  return (rgb + stripes)
      .cast(VIPS_FORMAT_UCHAR)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
      .copy_memory();
}

VImage reference_picture_with_alpha(int width, int height, std::vector<double> tint) {
  VImage rgb = reference_picture(width, height, std::move(tint));
  VImage alpha = (VImage::xyz(width, height)[0] * (191.0 / width) + 64).cast(VIPS_FORMAT_UCHAR);
  return rgb.bandjoin(alpha)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
      .copy_memory();
}

}  // namespace ig::providers::test
