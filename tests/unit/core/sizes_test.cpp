#include "core/sizes.hpp"

#include <algorithm>

#include <gtest/gtest.h>

namespace ig::core {
namespace {

struct Cell {
  const char* ratio;
  Tier tier;
  int w;
  int h;
};

// Every cell of seed 001's table (landscape/square as printed; portrait = swapped).
constexpr Cell kSeed001[] = {
    {"1:1", Tier::k1K, 1024, 1024},  {"1:1", Tier::k2K, 2048, 2048},
    {"1:1", Tier::k4K, 2880, 2880},  {"2:1", Tier::k1K, 1456, 720},
    {"2:1", Tier::k2K, 2896, 1456},  {"2:1", Tier::k4K, 3840, 1920},
    {"3:1", Tier::k1K, 1776, 592},   {"3:1", Tier::k2K, 3552, 1184},
    {"3:1", Tier::k4K, 3840, 1280},  {"3:2", Tier::k1K, 1248, 832},
    {"3:2", Tier::k2K, 2512, 1680},  {"3:2", Tier::k4K, 3520, 2352},
    {"4:3", Tier::k1K, 1184, 880},   {"4:3", Tier::k2K, 2368, 1776},
    {"4:3", Tier::k4K, 3312, 2480},  {"5:4", Tier::k1K, 1152, 912},
    {"5:4", Tier::k2K, 2288, 1824},  {"5:4", Tier::k4K, 3216, 2576},
    {"16:9", Tier::k1K, 1360, 768},  {"16:9", Tier::k2K, 2736, 1536},
    {"16:9", Tier::k4K, 3840, 2160}, {"21:9", Tier::k1K, 1568, 672},
    {"21:9", Tier::k2K, 3136, 1344}, {"21:9", Tier::k4K, 3840, 1632},
};

TEST(Sizes, EveryCellOfSeed001TableAndItsPortraitSwap) {
  for (const Cell& c : kSeed001) {
    auto ratio = parse_ratio(c.ratio);
    ASSERT_TRUE(ratio) << c.ratio;
    auto s = unified_table_size(*ratio, c.tier);
    ASSERT_TRUE(s) << c.ratio;
    EXPECT_EQ(*s, (Size{c.w, c.h})) << c.ratio << " " << to_string(c.tier);
    auto portrait = unified_table_size(Ratio{ratio->h, ratio->w}, c.tier);
    ASSERT_TRUE(portrait);
    EXPECT_EQ(*portrait, (Size{c.h, c.w})) << c.ratio << " swapped " << to_string(c.tier);
  }
}

TEST(Sizes, EveryTableSizeKeepsSeed001Limits) {
  for (const Cell& c : kSeed001) {
    auto s = *unified_table_size(*parse_ratio(c.ratio), c.tier);
    EXPECT_EQ(s.width % 16, 0);
    EXPECT_EQ(s.height % 16, 0);
    EXPECT_LE(s.width, kMaxEdge);
    EXPECT_LE(s.height, kMaxEdge);
    EXPECT_LE(s.pixels(), kMaxPixels);
    EXPECT_GE(s.pixels(), kMinPixels);
  }
}

TEST(Sizes, TierForSizeBoundaries) {
  EXPECT_EQ(tier_for_size({1024, 640}), Tier::k1K);   // the smallest explicit size
  EXPECT_EQ(tier_for_size({1024, 1024}), Tier::k1K);  // the 1K budget
  EXPECT_EQ(tier_for_size({1258291, 1}), Tier::k1K);  // 1.2 × 1024², rounded down
  EXPECT_EQ(tier_for_size({1258292, 1}), Tier::k2K);
  EXPECT_EQ(tier_for_size({1120, 1120}), Tier::k1K);  // 1,254,400 px
  EXPECT_EQ(tier_for_size({1136, 1120}), Tier::k2K);  // 1,272,320 px
  EXPECT_EQ(tier_for_size({1536, 1024}), Tier::k2K);  // 1.5 MiP
  EXPECT_EQ(tier_for_size({1024, 1536}), Tier::k2K);
  EXPECT_EQ(tier_for_size({2048, 2048}), Tier::k2K);  // the 2K budget
  EXPECT_EQ(tier_for_size({2304, 2048}), Tier::k2K);  // 1.125 × 2048² exactly
  EXPECT_EQ(tier_for_size({4718593, 1}), Tier::k4K);
  EXPECT_EQ(tier_for_size({2320, 2048}), Tier::k4K);
  EXPECT_EQ(tier_for_size({3840, 1280}), Tier::k4K);  // the smallest 4K cell of seed 001
  EXPECT_EQ(tier_for_size({3840, 2160}), Tier::k4K);
  EXPECT_EQ(tier_for_size({0, 0}), Tier::k1K);  // not sized yet
  // Found by fuzz_sizes: the pixel count times 5 overflowed (and read as 2K) for huge sides.
  EXPECT_EQ(tier_for_size({2147483647, 2147483647}), Tier::k4K);
  EXPECT_EQ(tier_for_size({2147483647, 1}), Tier::k4K);
}

// An explicit size that a ratio at some tier would have produced is billed at that tier.
TEST(Sizes, EveryCellOfSeed001TableMapsBackToItsTier) {
  for (const Cell& c : kSeed001) {
    EXPECT_EQ(tier_for_size({c.w, c.h}), c.tier) << c.ratio << " " << to_string(c.tier);
    EXPECT_EQ(tier_for_size({c.h, c.w}), c.tier) << c.ratio << " swapped " << to_string(c.tier);
  }
  for (Tier t : {Tier::k1K, Tier::k2K, Tier::k4K}) {
    for (Size ref : {Size{5000, 100}, Size{1920, 1080}, Size{1001, 333}, Size{700, 1000}}) {
      EXPECT_EQ(tier_for_size(size_from_reference(ref.width, ref.height, t)), t)
          << ref.width << "x" << ref.height << " " << to_string(t);
    }
  }
}

TEST(Sizes, RatiosOutsideTheTableAreNotTableSizes) {
  EXPECT_FALSE(unified_table_size({7, 5}, Tier::k1K));
  EXPECT_FALSE(unified_table_size({1, 4}, Tier::k1K));
}

TEST(Sizes, ParseRatio) {
  EXPECT_TRUE(parse_ratio("16:9"));
  EXPECT_FALSE(parse_ratio("16:"));
  EXPECT_FALSE(parse_ratio(":9"));
  EXPECT_FALSE(parse_ratio("16x9"));
  EXPECT_FALSE(parse_ratio("0:1"));
  EXPECT_FALSE(parse_ratio("-1:1"));
  EXPECT_FALSE(parse_ratio("1:1:1"));
  EXPECT_FALSE(parse_ratio("auto"));
  EXPECT_FALSE(parse_ratio(""));
}

TEST(Sizes, ParseTierIsCaseInsensitive) {
  EXPECT_EQ(parse_tier("1K"), Tier::k1K);
  EXPECT_EQ(parse_tier("2k"), Tier::k2K);
  EXPECT_EQ(parse_tier("4K"), Tier::k4K);
  EXPECT_FALSE(parse_tier("3K"));
  EXPECT_FALSE(parse_tier("8K"));
  EXPECT_FALSE(parse_tier("1KK"));
  EXPECT_FALSE(parse_tier(""));
}

TEST(Sizes, SizeFromReferenceFollowsItsShape) {
  EXPECT_EQ(size_from_reference(800, 800, Tier::k1K), (Size{1024, 1024}));
  EXPECT_EQ(size_from_reference(1920, 1080, Tier::k1K), (Size{1360, 768}));
  EXPECT_EQ(size_from_reference(1080, 1920, Tier::k1K), (Size{768, 1360}));
  // Narrower than 3:1 is clamped to 3:1.
  EXPECT_EQ(size_from_reference(5000, 100, Tier::k1K), (Size{1776, 592}));
  auto odd = size_from_reference(1001, 333, Tier::k1K);
  EXPECT_EQ(odd.width % 16, 0);
  EXPECT_EQ(odd.height % 16, 0);
}

TEST(Sizes, GptImage2ValidSizes) {
  EXPECT_TRUE(valid_gpt_image_2_size({1024, 1024}));
  EXPECT_TRUE(valid_gpt_image_2_size({3840, 2160}));
  EXPECT_TRUE(valid_gpt_image_2_size({1536, 512}));
  EXPECT_FALSE(valid_gpt_image_2_size({1254, 1254}));  // not multiples of 16
  EXPECT_FALSE(valid_gpt_image_2_size({512, 512}));    // too few pixels
  EXPECT_FALSE(valid_gpt_image_2_size({3840, 3840}));  // too many
  EXPECT_FALSE(valid_gpt_image_2_size({3200, 1024 / 4}));
}

// Every size a dialect can promise maps to one gpt-image-2 takes, close in shape.
TEST(Sizes, NearestGptImage2SizeIsValidAndCloseInShape) {
  EXPECT_EQ(nearest_gpt_image_2_size({1024, 1024}), (Size{1024, 1024}));
  EXPECT_EQ(nearest_gpt_image_2_size({1254, 1254}), (Size{1248, 1248}));
  for (Size s : {Size{1254, 1254}, Size{1881, 836}, Size{887, 1774}, Size{1448, 1086},
                 Size{1672, 941}, Size{512, 512}, Size{16, 16}, Size{3840, 3840},
                 Size{2880, 2880}, Size{3840, 1280}, Size{1915, 821}, Size{100, 4000},
                 Size{1, 1}}) {
    const Size n = nearest_gpt_image_2_size(s);
    EXPECT_TRUE(valid_gpt_image_2_size(n)) << s.width << "x" << s.height << " -> " << n.width
                                           << "x" << n.height;
    const double want = std::clamp(static_cast<double>(s.width) / s.height, 1.0 / 3, 3.0);
    const double got = static_cast<double>(n.width) / n.height;
    EXPECT_NEAR(got / want, 1.0, 0.08) << s.width << "x" << s.height;
  }
}

}  // namespace
}  // namespace ig::core
