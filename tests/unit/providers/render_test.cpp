#include "providers/sandbox/render.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "unit/providers/vips_helpers.hpp"

namespace ig::providers {
namespace {

using vips::VImage;

core::GenerationRequest request(std::string prompt, int width, int height,
                                std::string format = "") {
  core::GenerationRequest r;
  r.prompt = std::move(prompt);
  r.size = {width, height};
  r.output_format = std::move(format);
  return r;
}

ImageBytes render_ok(const core::GenerationRequest& r,
                     const std::vector<ImageBytes>* refs = nullptr,
                     const ImageBytes* mask = nullptr, int index = 0) {
  auto out = render_image(RenderInput{&r, refs, mask, index});
  EXPECT_TRUE(out.ok()) << (out.ok() ? "" : out.error().message);
  if (!out.ok()) {
    return {};
  }
  return std::move(*out);
}

TEST(RenderTest, OutputHasExactlyTheRequestedSize) {
  const std::vector<core::Size> sizes = {{1024, 1024}, {1536, 1024}, {1024, 1536}, {16, 16},
                                         {1920, 1088}, {3840, 2160}, {2160, 3840}, {7, 3}};
  for (const core::Size size : sizes) {
    SCOPED_TRACE(std::to_string(size.width) + "x" + std::to_string(size.height));
    const auto r = request("a lighthouse at dusk", size.width, size.height);
    const auto start = std::chrono::steady_clock::now();
    ImageBytes img = render_ok(r);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    std::printf("  render %dx%d png: %lld ms, %zu bytes\n", size.width, size.height,
                static_cast<long long>(ms), img.bytes.size());
    EXPECT_EQ(img.width, size.width);
    EXPECT_EQ(img.height, size.height);
    VImage decoded = test::decode(img.bytes);
    EXPECT_EQ(decoded.width(), size.width);
    EXPECT_EQ(decoded.height(), size.height);
    EXPECT_EQ(decoded.bands(), 3) << "text-to-image PNG is RGB";
  }
}

TEST(RenderTest, EncodesTheRequestedFormat) {
  struct Case {
    std::string format;
    std::string mime;
    std::string magic;  // at offset 0, or "WEBP" at offset 8
  };
  const std::vector<Case> cases = {{"", "image/png", "\x89PNG\r\n\x1a\n"},
                                   {"png", "image/png", "\x89PNG\r\n\x1a\n"},
                                   {"jpeg", "image/jpeg", "\xff\xd8\xff"},
                                   {"webp", "image/webp", "RIFF"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.format);
    ImageBytes img = render_ok(request("a lighthouse at dusk", 640, 480, c.format));
    EXPECT_EQ(img.mime, c.mime);
    ASSERT_GT(img.bytes.size(), 12u);
    EXPECT_EQ(img.bytes.substr(0, c.magic.size()), c.magic);
    if (c.format == "webp") {
      EXPECT_EQ(img.bytes.substr(8, 4), "WEBP");
    }
    VImage decoded = test::decode(img.bytes);
    EXPECT_EQ(decoded.width(), 640);
    EXPECT_EQ(decoded.height(), 480);
  }
}

TEST(RenderTest, SameInputGivesByteIdenticalOutput) {
  for (const char* format : {"png", "jpeg", "webp"}) {
    SCOPED_TRACE(format);
    const auto r = request("a red fox in the snow", 1024, 768, format);
    EXPECT_EQ(render_ok(r).bytes, render_ok(r).bytes);
  }
  const auto r = request("a red fox in the snow", 800, 600);
  const std::vector<ImageBytes> refs = {
      test::png(test::reference_picture(500, 700, {255, 90, 40}))};
  EXPECT_EQ(render_ok(r, &refs).bytes, render_ok(r, &refs).bytes);
}

TEST(RenderTest, OutputHasNoMetadataChunks) {
  const std::string bytes = render_ok(request("a red fox", 256, 256)).bytes;
  for (const char* chunk : {"tEXt", "zTXt", "iTXt", "tIME", "eXIf", "iCCP"}) {
    EXPECT_EQ(bytes.find(chunk), std::string::npos) << chunk;
  }
}

TEST(RenderTest, DifferentPromptsGiveClearlyDifferentImages) {
  const ImageBytes fox = render_ok(request("a red fox in the snow", 1024, 1024));
  const ImageBytes whale = render_ok(request("a blue whale in deep water", 1024, 1024));
  ASSERT_NE(fox.bytes, whale.bytes);

  // Mean absolute difference per pixel and band, 0..255.
  const double difference = (test::decode(fox.bytes) - test::decode(whale.bytes)).abs().avg();
  EXPECT_GT(difference, 25.0);
}

TEST(RenderTest, PromptsSpreadOverClearlyDifferentMeanColours) {
  // The palette comes from a hash, so a given pair may land close; what matters is that most
  // prompts are told apart by their mean colour alone.
  std::vector<std::vector<double>> means;
  for (int i = 0; i < 16; ++i) {
    const ImageBytes img = render_ok(request("prompt number " + std::to_string(i), 128, 128));
    means.push_back(test::band_means(test::decode(img.bytes)));
  }
  int pairs = 0;
  int distinct = 0;
  for (std::size_t i = 0; i < means.size(); ++i) {
    for (std::size_t j = i + 1; j < means.size(); ++j) {
      ++pairs;
      distinct += test::distance(means[i], means[j]) > 30.0 ? 1 : 0;
    }
  }
  EXPECT_GE(distinct, pairs * 8 / 10) << distinct << " of " << pairs;
}

TEST(RenderTest, OtherFieldsOfTheRequestChangeThePicture) {
  const auto base = request("a red fox in the snow", 512, 512);
  const std::string base_bytes = render_ok(base).bytes;

  auto tier = base;
  tier.tier = core::Tier::k2K;
  EXPECT_NE(render_ok(tier).bytes, base_bytes);
  auto quality = base;
  quality.quality = "high";
  EXPECT_NE(render_ok(quality).bytes, base_bytes);
  auto aspect = base;
  aspect.aspect_ratio = "1:1";
  EXPECT_NE(render_ok(aspect).bytes, base_bytes);
  EXPECT_NE(render_ok(base, nullptr, nullptr, 1).bytes, base_bytes) << "each of n differs";
}

TEST(RenderTest, ImageToImageDependsOnTheReference) {
  const auto r = request("make it look like a painting", 768, 512);
  const std::vector<ImageBytes> red = {test::png(test::reference_picture(900, 600, {255, 30, 30}))};
  const std::vector<ImageBytes> blue = {
      test::png(test::reference_picture(900, 600, {30, 30, 255}))};

  const ImageBytes from_red = render_ok(r, &red);
  const ImageBytes from_blue = render_ok(r, &blue);
  const ImageBytes text_only = render_ok(r);
  EXPECT_NE(from_red.bytes, from_blue.bytes);
  EXPECT_NE(from_red.bytes, text_only.bytes);

  const auto red_mean = test::band_means(test::decode(from_red.bytes));
  const auto blue_mean = test::band_means(test::decode(from_blue.bytes));
  EXPECT_GT(red_mean[0] - blue_mean[0], 40) << "the red reference shows through";
  EXPECT_GT(blue_mean[2] - red_mean[2], 40) << "the blue reference shows through";
}

TEST(RenderTest, ImageToImageCoversAnyReferenceShape) {
  const std::vector<ImageBytes> tall = {
      test::png(test::reference_picture(300, 1000, {200, 200, 80}))};
  const std::vector<ImageBytes> wide = {
      test::png(test::reference_picture(1000, 300, {200, 200, 80}))};
  for (const core::Size size :
       {core::Size{1536, 1024}, core::Size{1024, 1536}, core::Size{777, 333}}) {
    for (const auto* refs : {&tall, &wide}) {
      const ImageBytes img = render_ok(request("x", size.width, size.height), refs);
      VImage decoded = test::decode(img.bytes);
      EXPECT_EQ(decoded.width(), size.width);
      EXPECT_EQ(decoded.height(), size.height);
    }
  }
}

TEST(RenderTest, AcceptsPngJpegWebpAndGreyReferences) {
  const VImage picture = test::reference_picture(300, 200, {220, 120, 40});
  auto encoded = [&](const char* suffix, const VImage& img) {
    void* buf = nullptr;
    std::size_t len = 0;
    img.write_to_buffer(suffix, &buf, &len);
    ImageBytes out{std::string(static_cast<const char*>(buf), len), "", img.width(), img.height()};
    g_free(buf);
    return out;
  };
  const VImage grey = picture.colourspace(VIPS_INTERPRETATION_B_W);
  ASSERT_EQ(grey.bands(), 1);
  const std::vector<ImageBytes> inputs = {encoded(".png", picture), encoded(".jpg", picture),
                                          encoded(".webp", picture), encoded(".png", grey)};
  const std::string text_only = render_ok(request("x", 300, 200)).bytes;
  for (const ImageBytes& input : inputs) {
    const std::vector<ImageBytes> refs = {input};
    const ImageBytes out = render_ok(request("x", 300, 200), &refs);
    EXPECT_NE(out.bytes, text_only);
    EXPECT_EQ(test::decode(out.bytes).bands(), 3);
  }
}

TEST(RenderTest, AlphaIsKeptOnlyWhenTheReferenceHasItAndTheFormatCanHoldIt) {
  const std::vector<ImageBytes> opaque = {
      test::png(test::reference_picture(400, 300, {90, 200, 90}))};
  const std::vector<ImageBytes> alpha = {
      test::png(test::reference_picture_with_alpha(400, 300, {90, 200, 90}))};

  EXPECT_EQ(test::decode(render_ok(request("x", 400, 300), &opaque).bytes).bands(), 3);
  EXPECT_EQ(test::decode(render_ok(request("x", 400, 300), &alpha).bytes).bands(), 4);
  EXPECT_EQ(test::decode(render_ok(request("x", 400, 300, "webp"), &alpha).bytes).bands(), 4);
  EXPECT_EQ(test::decode(render_ok(request("x", 400, 300, "jpeg"), &alpha).bytes).bands(), 3);
}

TEST(RenderTest, TransparentBackgroundLeavesTheShapesOpaqueAndTheRestClear) {
  for (const char* format : {"png", "webp"}) {
    SCOPED_TRACE(format);
    auto r = request("a sticker", 320, 240, format);
    r.background = "transparent";
    VImage decoded = test::decode(render_ok(r).bytes);
    ASSERT_EQ(decoded.bands(), 4);
    const VImage alpha = decoded[3];
    EXPECT_EQ(alpha.min(), 0.0) << "the background is see-through";
    EXPECT_EQ(alpha.max(), 255.0) << "the shapes are solid";
    const double clear = (alpha == 0).avg() / 255.0;
    EXPECT_GT(clear, 0.2);
    EXPECT_LT(clear, 0.98);
  }
  auto jpeg = request("a sticker", 320, 240, "jpeg");
  jpeg.background = "transparent";  // JPEG has no alpha: drawn opaque
  EXPECT_EQ(test::decode(render_ok(jpeg).bytes).bands(), 3);
  auto opaque = request("a sticker", 320, 240);
  opaque.background = "opaque";
  EXPECT_EQ(test::decode(render_ok(opaque).bytes).bands(), 3);
}

// A mask of the reference's size: opaque (keep) on the left third and in a disc, fully
// transparent on the rest, half transparent in a band (edit: alpha < 255).
VImage test_mask(int width, int height) {
  VImage xy = VImage::xyz(width, height);
  VImage left = xy[0] < width / 3.0;
  VImage dx = xy[0] - width * 0.7;
  VImage dy = xy[1] - height * 0.5;
  VImage disc = (dx * dx + dy * dy) < (height * 0.2) * (height * 0.2);
  VImage half = (xy[1] > height * 0.85).ifthenelse(128.0, 0.0).cast(VIPS_FORMAT_UCHAR);
  VImage alpha = (left | disc).ifthenelse(255.0, half).cast(VIPS_FORMAT_UCHAR);
  VImage rgb = VImage::black(width, height, VImage::option()->set("bands", 3));
  return rgb.cast(VIPS_FORMAT_UCHAR)
      .bandjoin(alpha)
      .copy(VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB))
      .copy_memory();
}

void expect_mask_respected(const VImage& ref, const VImage& mask, const VImage& out) {
  ASSERT_EQ(out.width(), ref.width());
  ASSERT_EQ(out.height(), ref.height());
  ASSERT_EQ(out.bands(), ref.bands());
  const auto ref_px = test::pixels(ref);
  const auto mask_px = test::pixels(mask);
  const auto out_px = test::pixels(out);
  const int bands = ref.bands();
  std::size_t kept = 0;
  std::size_t kept_identical = 0;
  std::size_t edited = 0;
  std::size_t edited_different = 0;
  for (std::size_t p = 0; p < static_cast<std::size_t>(ref.width()) * ref.height(); ++p) {
    bool same = true;
    for (int b = 0; b < bands; ++b) {
      same = same && ref_px[p * bands + b] == out_px[p * bands + b];
    }
    if (mask_px[p * 4 + 3] == 255) {
      ++kept;
      kept_identical += same ? 1 : 0;
    } else {
      ++edited;
      edited_different += same ? 0 : 1;
    }
  }
  ASSERT_GT(kept, 0u);
  ASSERT_GT(edited, 0u);
  EXPECT_EQ(kept_identical, kept) << "every opaque-mask pixel is the reference's";
  EXPECT_GT(edited_different, edited * 95 / 100) << "the transparent-mask pixels are generated";
}

TEST(RenderTest, MaskKeepsOpaquePixelsByteIdenticalAndRegeneratesTheRest) {
  const VImage ref = test::reference_picture(640, 480, {240, 180, 60});
  const VImage mask = test_mask(640, 480);
  const std::vector<ImageBytes> refs = {test::png(ref)};
  const ImageBytes mask_png = test::png(mask);

  const ImageBytes out = render_ok(request("replace the sky", 640, 480), &refs, &mask_png);
  expect_mask_respected(ref, mask, test::decode(out.bytes));
}

TEST(RenderTest, MaskWithAnAlphaReferenceKeepsItsAlphaToo) {
  const VImage ref = test::reference_picture_with_alpha(320, 240, {60, 120, 240});
  const VImage mask = test_mask(320, 240);
  const std::vector<ImageBytes> refs = {test::png(ref)};
  const ImageBytes mask_png = test::png(mask);

  const ImageBytes out = render_ok(request("replace the sky", 320, 240, "png"), &refs, &mask_png);
  expect_mask_respected(ref, mask, test::decode(out.bytes));
}

TEST(RenderTest, RefusesMasksThatDoNotFit) {
  const std::vector<ImageBytes> refs = {
      test::png(test::reference_picture(320, 240, {200, 90, 90}))};
  const ImageBytes mask = test::png(test_mask(320, 240));
  const ImageBytes small_mask = test::png(test_mask(160, 120));
  const ImageBytes no_alpha = test::png(test::reference_picture(320, 240, {1, 1, 1}));

  auto expect_error = [](const core::GenerationRequest& r, const std::vector<ImageBytes>* refs,
                         const ImageBytes* mask) {
    auto out = render_image(RenderInput{&r, refs, mask, 0});
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().code, core::ErrorCode::kValidationFailed) << out.error().message;
  };
  expect_error(request("x", 640, 480), &refs, &mask);  // size differs from the reference
  expect_error(request("x", 320, 240), &refs, &small_mask);
  expect_error(request("x", 320, 240), &refs, &no_alpha);
  expect_error(request("x", 320, 240), nullptr, &mask);  // a mask without a reference
}

TEST(RenderTest, BadInputsAreErrorsNotExceptions) {
  const auto r = request("x", 256, 256);
  const std::string good = test::png(test::reference_picture(64, 64, {9, 9, 9})).bytes;
  const std::vector<std::vector<ImageBytes>> bad_refs = {
      {ImageBytes{"not an image", "image/png", 64, 64}},
      {ImageBytes{"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", 64, 64}},
      {ImageBytes{good.substr(0, good.size() / 2), "image/png", 64, 64}},  // truncated
      {ImageBytes{good.substr(0, 8) + std::string(500, 'x'), "image/png", 64, 64}},
  };
  for (const auto& refs : bad_refs) {
    auto out = render_image(RenderInput{&r, &refs, nullptr, 0});
    EXPECT_FALSE(out.ok());
  }
  for (const core::Size size : {core::Size{0, 0}, core::Size{-1, 5}, core::Size{20000, 10}}) {
    const auto bad_size = request("x", size.width, size.height);
    EXPECT_FALSE(render_image(RenderInput{&bad_size, nullptr, nullptr, 0}).ok());
  }
  const auto bad_format = request("x", 64, 64, "gif");
  EXPECT_FALSE(render_image(RenderInput{&bad_format, nullptr, nullptr, 0}).ok());
  EXPECT_FALSE(render_image(RenderInput{}).ok());
}

}  // namespace
}  // namespace ig::providers
