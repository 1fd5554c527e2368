#include "providers/sandbox/render.hpp"

#include "providers/common/image_ops.hpp"

#include <vips/vips8>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <memory>
#include <numbers>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ig::providers {
namespace {

using vips::VImage;
using image_ops::as_srgb;
using image_ops::cover;
using image_ops::decode_srgb8;
using image_ops::encode;

// Room above the largest output size (8.29 MP) for references that set the size themselves,
// and the same cap as the source limit of the media module's probe (16.8 MP).
constexpr long long kMaxRenderPixels = 16'777'216;
constexpr int kMaxRenderEdge = 16'383;  // WebP's limit
// How much of the reference survives in image-to-image output; the rest is the pattern.
constexpr double kReferenceWeight = 0.6;
constexpr int kCircles = 3;

core::Error render_error(core::ErrorCode code, std::string message) {
  return core::make_error(code, std::move(message));
}

/// SplitMix64: a small fixed generator, so colours and shapes depend on the seed only.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Uniform in [lo, hi).
  double range(double lo, double hi) { return lo + (hi - lo) * unit(); }

 private:
  std::uint64_t state_;
};

std::uint64_t fnv1a(std::uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// FNV-1a over the fields that define the picture, each length-prefixed so that moving text
/// from one field to the next changes the hash.
std::uint64_t pattern_seed(const core::GenerationRequest& r, int index) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto field = [&h](std::string_view s) {
    h = fnv1a(h, std::to_string(s.size()));
    h = fnv1a(h, ":");
    h = fnv1a(h, s);
  };
  field(r.prompt);
  field(r.aspect_ratio);
  field(core::to_string(r.tier));
  field(r.quality);
  field(std::to_string(index));
  return h;
}

/// HSV (hue in degrees; saturation and value in [0, 1]) to 8-bit RGB.
std::vector<double> hsv_to_rgb(double hue, double s, double v) {
  hue = std::fmod(hue, 360.0);
  const double c = v * s;
  const double x = c * (1 - std::fabs(std::fmod(hue / 60.0, 2.0) - 1));
  // Per 60° sector, which of (c, x, 0) goes to red, green and blue.
  static constexpr int kOrder[6][3] = {{0, 1, 2}, {1, 0, 2}, {2, 0, 1},
                                       {2, 1, 0}, {1, 2, 0}, {0, 2, 1}};
  const double parts[3] = {c, x, 0};
  const int sector = static_cast<int>(hue / 60.0) % 6;
  const double r = parts[kOrder[sector][0]];
  const double g = parts[kOrder[sector][1]];
  const double b = parts[kOrder[sector][2]];
  const double m = v - c;
  return {std::round((r + m) * 255), std::round((g + m) * 255), std::round((b + m) * 255)};
}

/// The text-to-image picture: a two-colour linear gradient at a hashed angle, three filled
/// circles and one band, all colours and positions from `seed`. 3-band sRGB uchar in memory;
/// with `transparent`, 4 bands whose alpha is 0 on the gradient and 255 on the shapes.
VImage make_pattern(int width, int height, std::uint64_t seed, bool transparent) {
  SplitMix64 rng(seed);
  const double hue = rng.range(0, 360);
  const std::vector<double> from = hsv_to_rgb(hue, rng.range(0.55, 0.9), rng.range(0.8, 1.0));
  // An analogous, darker second colour: the picture's mean colour follows `hue`, so prompts
  // that hash to different hues look clearly different even at thumbnail size.
  const std::vector<double> to =
      hsv_to_rgb(hue + 360 + rng.range(-40, 40), rng.range(0.55, 0.9), rng.range(0.3, 0.6));
  const double angle = rng.range(0, 2 * std::numbers::pi);
  const double dx = std::cos(angle);
  const double dy = std::sin(angle);
  // t = 0.5 + ((x - w/2)·dx + (y - h/2)·dy) / span runs from 0 to 1 across the image.
  const double span = std::max(1.0, std::fabs(dx) * width + std::fabs(dy) * height);
  const double offset = 0.5 - (width * dx + height * dy) / (2 * span);

  VImage xy = VImage::xyz(width, height);
  VImage t = xy[0] * (dx / span) + xy[1] * (dy / span) + offset;
  VImage gradient = VImage::bandjoin({t, t, t})
                        .linear({to[0] - from[0], to[1] - from[1], to[2] - from[2]}, from)
                        .cast(VIPS_FORMAT_UCHAR);
  // Draw operations write in place: give them a private memory copy.
  VImage canvas = as_srgb(gradient).copy_memory();
  VImage alpha;
  if (transparent) {
    alpha = VImage::black(width, height).cast(VIPS_FORMAT_UCHAR).copy_memory();
  }
  const std::vector<double> opaque = {255};

  const int short_edge = std::min(width, height);
  for (int i = 0; i < kCircles; ++i) {
    const std::vector<double> ink =
        hsv_to_rgb(rng.range(0, 360), rng.range(0.5, 1.0), rng.range(0.45, 1.0));
    const int cx = static_cast<int>(rng.unit() * width);
    const int cy = static_cast<int>(rng.unit() * height);
    const int radius = std::max(1, static_cast<int>(short_edge * rng.range(0.06, 0.2)));
    canvas.draw_circle(ink, cx, cy, radius, VImage::option()->set("fill", true));
    if (transparent) {
      alpha.draw_circle(opaque, cx, cy, radius, VImage::option()->set("fill", true));
    }
  }
  const std::vector<double> band_ink =
      hsv_to_rgb(rng.range(0, 360), rng.range(0.5, 1.0), rng.range(0.45, 1.0));
  if (rng.unit() < 0.5) {
    const int thickness = std::max(1, static_cast<int>(height * rng.range(0.04, 0.12)));
    const int top = static_cast<int>(rng.unit() * (height - thickness + 1));
    canvas.draw_rect(band_ink, 0, top, width, thickness, VImage::option()->set("fill", true));
    if (transparent) {
      alpha.draw_rect(opaque, 0, top, width, thickness, VImage::option()->set("fill", true));
    }
  } else {
    const int thickness = std::max(1, static_cast<int>(width * rng.range(0.04, 0.12)));
    const int left = static_cast<int>(rng.unit() * (width - thickness + 1));
    canvas.draw_rect(band_ink, left, 0, thickness, height, VImage::option()->set("fill", true));
    if (transparent) {
      alpha.draw_rect(opaque, left, 0, thickness, height, VImage::option()->set("fill", true));
    }
  }
  if (transparent) {
    return as_srgb(canvas.bandjoin(alpha));
  }
  return canvas;
}

/// Image-to-image: the first reference, fitted and tinted with the pattern; with a mask, the
/// reference shows through unchanged wherever the mask is opaque.
core::Result<VImage> compose(const RenderInput& in, const VImage& pattern,
                             std::string_view format) {
  const int width = in.request->size.width;
  const int height = in.request->size.height;
  auto decoded = decode_srgb8(in.references->front(), "reference image");
  if (!decoded) {
    return decoded.error();
  }
  VImage ref = *decoded;
  const bool keep_alpha = ref.bands() == 4 && format != "jpeg";
  if (ref.bands() == 4 && !keep_alpha) {
    ref =
        as_srgb(ref.flatten(VImage::option()->set("background", std::vector<double>{255, 255, 255}))
                    .cast(VIPS_FORMAT_UCHAR));
  }

  std::optional<VImage> keep;  // 255 where the mask says "keep the reference"
  if (in.mask != nullptr) {
    if (ref.width() != width || ref.height() != height) {
      return render_error(core::ErrorCode::kValidationFailed,
                          "with a mask, the output size must equal the reference image size");
    }
    auto mask = decode_srgb8(*in.mask, "mask");
    if (!mask) {
      return mask.error();
    }
    if (mask->width() != ref.width() || mask->height() != ref.height()) {
      return render_error(core::ErrorCode::kValidationFailed,
                          "mask size differs from the reference image size");
    }
    if (mask->bands() != 4) {
      return render_error(core::ErrorCode::kValidationFailed, "mask has no alpha channel");
    }
    keep = (*mask)[3] == 255.0;
  }

  const VImage fitted = cover(ref, width, height);
  const VImage rgb = keep_alpha ? fitted.extract_band(0, VImage::option()->set("n", 3)) : fitted;
  VImage generated =
      (rgb * kReferenceWeight + pattern * (1.0 - kReferenceWeight)).cast(VIPS_FORMAT_UCHAR);
  if (keep_alpha) {
    generated = generated.bandjoin(fitted[3]);
  }
  if (!keep) {
    return as_srgb(generated);
  }
  return as_srgb(keep->ifthenelse(fitted, generated));
}

}  // namespace

core::Result<ImageBytes> render_image(const RenderInput& in) {
  if (in.request == nullptr) {
    return render_error(core::ErrorCode::kInternal, "no request to render");
  }
  const core::GenerationRequest& req = *in.request;
  const int width = req.size.width;
  const int height = req.size.height;
  if (width < 1 || height < 1 || width > kMaxRenderEdge || height > kMaxRenderEdge ||
      req.size.pixels() > kMaxRenderPixels) {
    return render_error(core::ErrorCode::kValidationFailed, "unsupported output size");
  }
  const std::string_view format = core::effective_output_format(req);
  if (format != "png" && format != "jpeg" && format != "webp") {
    return render_error(core::ErrorCode::kValidationFailed, "unsupported output format");
  }
  const bool has_reference = in.references != nullptr && !in.references->empty();
  if (in.mask != nullptr && !has_reference) {
    return render_error(core::ErrorCode::kValidationFailed, "a mask needs a reference image");
  }

  try {
    // A transparent background (openai's `background`) is drawn for text-to-image only; an
    // edit keeps its reference's alpha, if any.
    const bool transparent =
        req.background == "transparent" && format != "jpeg" && !has_reference;
    VImage out = make_pattern(width, height, pattern_seed(req, in.index), transparent);
    if (has_reference) {
      auto composed = compose(in, out, format);
      if (!composed) {
        return composed.error();
      }
      out = *composed;
    }
    ImageBytes image;
    image.bytes = encode(out, format);
    image.mime = std::string(core::mime_for_format(format));
    image.width = width;
    image.height = height;
    return image;
  } catch (const vips::VError&) {
    // Corrupt input (decoding is lazy, so it shows up here) or an encoder failure. The libvips
    // text is not for clients, and its buffer is process-wide: clear it so it does not fill.
    vips_error_clear();
    return render_error(core::ErrorCode::kInternal,
                        "image processing failed (corrupt or unsupported input image?)");
  } catch (const std::exception&) {
    return render_error(core::ErrorCode::kInternal, "rendering failed");
  }
}

}  // namespace ig::providers
