#include "media/probe.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

#include <vips/vips.h>

namespace ig::media {
namespace {

/// Encodes a `width`x`height` noise image with `bands` bands via the saver for `suffix`.
std::string encode(const char* suffix, int width, int height, int bands) {
  init_vips("ig_media_tests");
  VipsImage* noise = nullptr;
  EXPECT_EQ(vips_gaussnoise(&noise, width, height, "mean", 128.0, "sigma", 40.0, nullptr), 0);
  VipsImage* bytes = nullptr;
  EXPECT_EQ(vips_cast_uchar(noise, &bytes, nullptr), 0);
  g_object_unref(noise);
  VipsImage* joined = bytes;
  if (bands > 1) {
    std::array<VipsImage*, 4> planes{bytes, bytes, bytes, bytes};
    EXPECT_EQ(vips_bandjoin(planes.data(), &joined, bands, nullptr), 0);
    g_object_unref(bytes);
  }
  VipsImage* tagged = nullptr;
  EXPECT_EQ(vips_copy(joined, &tagged, "interpretation",
                      bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W, nullptr),
            0);
  g_object_unref(joined);
  void* buffer = nullptr;
  std::size_t length = 0;
  EXPECT_EQ(vips_image_write_to_buffer(tagged, suffix, &buffer, &length, nullptr), 0)
      << vips_error_buffer();
  g_object_unref(tagged);
  std::string out(static_cast<const char*>(buffer), length);
  g_free(buffer);
  return out;
}

std::uint32_t crc32(std::string_view data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) {
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string png_chunk(std::string_view type, std::string_view data) {
  std::string body = std::string(type) + std::string(data);
  return be32(static_cast<std::uint32_t>(data.size())) + body + be32(crc32(body));
}

/// A well-formed PNG header that claims `width`x`height` RGB pixels, followed by a tiny IDAT:
/// what a decompression bomb looks like to anything that reads only the header.
std::string png_claiming(std::uint32_t width, std::uint32_t height) {
  std::string ihdr = be32(width) + be32(height) + std::string("\x08\x02\x00\x00\x00", 5);
  const std::string empty_zlib("\x78\x9c\x03\x00\x00\x00\x00\x01", 8);
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) +
         png_chunk("IDAT", empty_zlib) + png_chunk("IEND", "");
}

constexpr const char* kUnsupported = "unsupported image type: expected JPEG, PNG or WEBP";
constexpr const char* kCorrupt = "image is truncated or corrupt";

void expect_refused(const core::Result<ImageInfo>& result, const std::string& message) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, core::ErrorCode::kValidationFailed);
  EXPECT_EQ(result.error().message, message);
}

TEST(SniffFormat, ReadsMagicBytesOnly) {
  EXPECT_EQ(sniff_format(std::string("\x89PNG\r\n\x1a\n", 8)), ImageFormat::kPng);
  EXPECT_EQ(sniff_format("\xff\xd8\xff\xe0"), ImageFormat::kJpeg);
  EXPECT_EQ(sniff_format(std::string("RIFF\0\0\0\0WEBPVP8 ", 16)), ImageFormat::kWebp);
  EXPECT_EQ(sniff_format(std::string("RIFF\0\0\0\0WAVEfmt ", 16)), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_format("\x89PNG"), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_format(""), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_format("GIF89a"), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_format("<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), ImageFormat::kUnknown);
}

TEST(ImageFormatNames, AreStable) {
  EXPECT_EQ(to_string(ImageFormat::kPng), "png");
  EXPECT_EQ(to_string(ImageFormat::kJpeg), "jpeg");
  EXPECT_EQ(to_string(ImageFormat::kWebp), "webp");
  EXPECT_EQ(to_string(ImageFormat::kUnknown), "unknown");
  EXPECT_EQ(mime_type(ImageFormat::kPng), "image/png");
  EXPECT_EQ(mime_type(ImageFormat::kJpeg), "image/jpeg");
  EXPECT_EQ(mime_type(ImageFormat::kWebp), "image/webp");
}

TEST(ProbeImage, ReadsPngWithoutAlpha) {
  auto info = probe_image(encode(".png", 64, 48, 3), {});
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->format, ImageFormat::kPng);
  EXPECT_EQ(info->width, 64);
  EXPECT_EQ(info->height, 48);
  EXPECT_EQ(info->bands, 3);
  EXPECT_FALSE(info->has_alpha);
}

TEST(ProbeImage, ReadsPngWithAlpha) {
  auto info = probe_image(encode(".png", 32, 32, 4), {});
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->format, ImageFormat::kPng);
  EXPECT_EQ(info->bands, 4);
  EXPECT_TRUE(info->has_alpha);

  auto grey_alpha = probe_image(encode(".png", 8, 8, 2), {});
  ASSERT_TRUE(grey_alpha.ok());
  EXPECT_TRUE(grey_alpha->has_alpha);
}

TEST(ProbeImage, ReadsJpeg) {
  auto info = probe_image(encode(".jpg", 40, 30, 3), {});
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->format, ImageFormat::kJpeg);
  EXPECT_EQ(info->width, 40);
  EXPECT_EQ(info->height, 30);
  EXPECT_EQ(info->bands, 3);
  EXPECT_FALSE(info->has_alpha);
}

TEST(ProbeImage, ReadsWebpWithAndWithoutAlpha) {
  auto info = probe_image(encode(".webp", 20, 10, 3), {});
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->format, ImageFormat::kWebp);
  EXPECT_EQ(info->width, 20);
  EXPECT_EQ(info->height, 10);
  EXPECT_FALSE(info->has_alpha);

  auto alpha = probe_image(encode(".webp", 20, 10, 4), {});
  ASSERT_TRUE(alpha.ok()) << alpha.error().message;
  EXPECT_TRUE(alpha->has_alpha);
}

TEST(ProbeImage, RefusesOtherFormatsWhateverTheirName) {
  expect_refused(probe_image(encode(".tif", 16, 16, 3), {}), kUnsupported);
  expect_refused(probe_image(encode(".gif", 16, 16, 3), {}), kUnsupported);
  expect_refused(probe_image("<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" "
                             "width=\"100000\" height=\"100000\"/>",
                             {}),
                 kUnsupported);
  expect_refused(probe_image("<svg xmlns=\"http://www.w3.org/2000/svg\"/>", {}), kUnsupported);
  expect_refused(probe_image("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", {}), kUnsupported);
  expect_refused(probe_image("", {}), kUnsupported);
  expect_refused(probe_image("hello", {}), kUnsupported);
}

TEST(ProbeImage, RefusesPixelBombBeforeDecoding) {
  const std::string bomb = png_claiming(50000, 50000);
  auto start = std::chrono::steady_clock::now();
  expect_refused(probe_image(bomb, {}), "image is 50000x50000 pixels, above the limit of 50000000");
  // verify_decodes applies the same header checks first and must not start decoding.
  expect_refused(verify_decodes(bomb, {}),
                 "image is 50000x50000 pixels, above the limit of 50000000");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(ProbeImage, PixelLimitIsInclusive) {
  const std::string png = encode(".png", 100, 100, 3);
  EXPECT_TRUE(probe_image(png, {.max_pixels = 10000}).ok());
  expect_refused(probe_image(png, {.max_pixels = 9999}),
                 "image is 100x100 pixels, above the limit of 9999");
}

TEST(ProbeImage, RefusesGarbageBehindMagicBytes) {
  expect_refused(probe_image(std::string("\x89PNG\r\n\x1a\n", 8) + "not really a png", {}),
                 kCorrupt);
  expect_refused(probe_image(std::string("\xff\xd8\xff\xe0", 4) + std::string(64, '\0'), {}),
                 kCorrupt);
  expect_refused(probe_image(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16), {}), kCorrupt);
}

TEST(ProbeImage, NeverAnswersFromAnEarlierBufferAtTheSameAddress) {
  // libvips caches operations; a reused buffer with new bytes must be read afresh.
  std::string buffer = png_claiming(10, 20);
  auto first = probe_image(buffer, {});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->width, 10);
  const std::string second_bytes = png_claiming(11, 20);
  ASSERT_EQ(second_bytes.size(), buffer.size());
  const char* before = buffer.data();
  buffer.replace(0, buffer.size(), second_bytes);
  ASSERT_EQ(buffer.data(), before);
  auto second = probe_image(buffer, {});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->width, 11);
}

TEST(VerifyDecodes, AcceptsCompleteImages) {
  for (const char* suffix : {".png", ".jpg", ".webp"}) {
    auto info = verify_decodes(encode(suffix, 96, 64, 3), {});
    ASSERT_TRUE(info.ok()) << suffix << ": " << info.error().message;
    EXPECT_EQ(info->width, 96);
    EXPECT_EQ(info->height, 64);
  }
}

TEST(VerifyDecodes, RefusesTruncatedJpeg) {
  const std::string jpeg = encode(".jpg", 256, 256, 3);
  const std::string truncated = jpeg.substr(0, jpeg.size() / 2);
  // The header is intact, so the cheap probe passes; only the full decode notices.
  ASSERT_TRUE(probe_image(truncated, {}).ok());
  expect_refused(verify_decodes(truncated, {}), kCorrupt);
}

TEST(VerifyDecodes, RefusesTruncatedPngAndWebp) {
  for (const char* suffix : {".png", ".webp"}) {
    const std::string full = encode(suffix, 256, 256, 3);
    expect_refused(verify_decodes(full.substr(0, full.size() * 2 / 3), {}), kCorrupt);
  }
}

TEST(VerifyDecodes, RefusesBombPngWithoutPixelData) {
  // Small enough to pass the pixel limit, but the IDAT holds no pixels at all.
  expect_refused(verify_decodes(png_claiming(64, 64), {}), kCorrupt);
}

}  // namespace
}  // namespace ig::media
