#include "media/mask.hpp"

#include <gtest/gtest.h>

namespace ig::media {
namespace {

TEST(Mask, PngWithAlphaOfTheReferenceSizeIsUsable) {
  EXPECT_EQ(check_mask("image/png", true, 640, 480, 640, 480), std::nullopt);
}

TEST(Mask, SeedMessagesWordForWord) {
  EXPECT_EQ(check_mask("image/png", false, 640, 480, 640, 480),
            "Invalid mask image format - mask image missing alpha channel");
  EXPECT_EQ(check_mask("image/jpeg", false, 640, 480, 640, 480),
            "Invalid mask image format - mask image missing alpha channel");
  EXPECT_EQ(check_mask("image/webp", true, 640, 480, 640, 480),
            "Invalid mask image format - mask image missing alpha channel");
  EXPECT_EQ(check_mask("image/png", true, 640, 481, 640, 480),
            "Invalid mask image format - mask size does not match image size");
  EXPECT_EQ(check_mask("image/png", true, 480, 640, 640, 480),
            "Invalid mask image format - mask size does not match image size");
}

}  // namespace
}  // namespace ig::media
