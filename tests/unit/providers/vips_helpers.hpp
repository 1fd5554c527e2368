#pragma once

#include <vips/vips8>

#include <cstdint>
#include <string>
#include <vector>

#include "providers/provider.hpp"

namespace ig::providers::test {

/// Decodes encoded bytes (PNG, JPEG, WebP) with libvips.
vips::VImage decode(const std::string& bytes);
/// Encodes an 8-bit sRGB image as PNG.
ImageBytes png(const vips::VImage& img);
/// The pixels of an 8-bit image, row by row, bands interleaved.
std::vector<std::uint8_t> pixels(const vips::VImage& img);
/// Mean of each band.
std::vector<double> band_means(const vips::VImage& img);
/// Euclidean distance between two colours.
double distance(const std::vector<double>& a, const std::vector<double>& b);
/// A busy 8-bit sRGB test picture: a diagonal ramp in `tint`, so every pixel carries detail.
vips::VImage reference_picture(int width, int height, std::vector<double> tint);
/// The same with an alpha band: a ramp from 64 to 255 across the picture.
vips::VImage reference_picture_with_alpha(int width, int height, std::vector<double> tint);

}  // namespace ig::providers::test
