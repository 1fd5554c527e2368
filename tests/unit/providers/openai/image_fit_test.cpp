#include "providers/common/image_fit.hpp"

#include <gtest/gtest.h>

#include "unit/providers/vips_helpers.hpp"

namespace ig::providers {
namespace {

TEST(ImageFit, AnImageAlreadyRightIsKeptByteForByte) {
  const ImageBytes in = test::png(test::reference_picture(64, 48, {200, 40, 40}));
  auto out = fit_image(in.bytes, {64, 48}, "png");
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->bytes, in.bytes);
  EXPECT_EQ(out->width, 64);
  EXPECT_EQ(out->height, 48);
  EXPECT_EQ(out->mime, "image/png");
}

TEST(ImageFit, AWrongSizeIsResizedToThePromisedSize) {
  const ImageBytes in = test::png(test::reference_picture(64, 64, {40, 200, 40}));
  auto out = fit_image(in.bytes, {100, 50}, "png");
  ASSERT_TRUE(out) << out.error().message;
  auto img = test::decode(out->bytes);
  EXPECT_EQ(img.width(), 100);
  EXPECT_EQ(img.height(), 50);
  EXPECT_EQ(out->width, 100);
  EXPECT_EQ(out->height, 50);
}

TEST(ImageFit, TheFormatIsTheOnePromised) {
  const ImageBytes in = test::png(test::reference_picture_with_alpha(32, 32, {10, 10, 200}));
  auto jpeg = fit_image(in.bytes, {32, 32}, "jpeg");
  ASSERT_TRUE(jpeg) << jpeg.error().message;
  EXPECT_EQ(jpeg->mime, "image/jpeg");
  EXPECT_TRUE(jpeg->bytes.starts_with("\xff\xd8\xff"));
  EXPECT_FALSE(jpeg->has_alpha);
  auto webp = fit_image(in.bytes, {16, 16}, "webp");
  ASSERT_TRUE(webp);
  EXPECT_EQ(webp->mime, "image/webp");
  EXPECT_EQ(test::decode(webp->bytes).width(), 16);
}

TEST(ImageFit, UnusableBytesAreRefused) {
  const ImageBytes in = test::png(test::reference_picture(64, 64, {40, 200, 40}));
  for (const std::string& bytes :
       {std::string("not an image"), in.bytes.substr(0, in.bytes.size() / 2), std::string()}) {
    auto out = fit_image(bytes, {64, 64}, "png");
    ASSERT_FALSE(out);
    EXPECT_NE(out.error().message.find("the upstream returned an unusable image"),
              std::string::npos);
  }
  auto bomb = fit_image(in.bytes, {64, 64}, "png", 100);
  EXPECT_FALSE(bomb);
}

}  // namespace
}  // namespace ig::providers
