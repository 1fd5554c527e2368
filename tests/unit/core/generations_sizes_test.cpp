#include "core/sizes.hpp"

#include <algorithm>
#include <iterator>

#include <gtest/gtest.h>

namespace ig::core {
namespace {

struct Row {
  const char* ratio;
  Size k1;  // the first size where the 1K cell lists two
  Size k2;
  Size k4;
};

// Every cell of seed 004's "Size & Resolution" table, in its order.
constexpr Row kSeed004[] = {
    {"1:1", {1024, 1024}, {2048, 2048}, {2880, 2880}},
    {"3:2", {1536, 1024}, {2048, 1360}, {3520, 2336}},
    {"2:3", {1024, 1536}, {1360, 2048}, {2336, 3520}},
    {"4:3", {1024, 768}, {2048, 1536}, {3312, 2480}},
    {"3:4", {768, 1024}, {1536, 2048}, {2480, 3312}},
    {"5:4", {1280, 1024}, {2560, 2048}, {3216, 2576}},
    {"4:5", {1024, 1280}, {2048, 2560}, {2576, 3216}},
    {"16:9", {1536, 864}, {2048, 1152}, {3840, 2160}},
    {"9:16", {864, 1536}, {1152, 2048}, {2160, 3840}},
    {"2:1", {2048, 1024}, {2688, 1344}, {3840, 1920}},
    {"1:2", {1024, 2048}, {1344, 2688}, {1920, 3840}},
    {"3:1", {1881, 836}, {3072, 1024}, {3840, 1280}},
    {"1:3", {887, 1774}, {1024, 3072}, {1280, 3840}},
    {"21:9", {2016, 864}, {2688, 1152}, {3840, 1648}},
    {"9:21", {864, 2016}, {1152, 2688}, {1648, 3840}},
};

TEST(GenerationsSizes, EveryCellOfSeed004Table) {
  ASSERT_EQ(std::size(kSeed004), 15u);
  for (const Row& row : kSeed004) {
    auto ratio = parse_ratio(row.ratio);
    ASSERT_TRUE(ratio) << row.ratio;
    EXPECT_EQ(generations_table_size(*ratio, Tier::k1K), row.k1) << row.ratio << " 1k";
    EXPECT_EQ(generations_table_size(*ratio, Tier::k2K), row.k2) << row.ratio << " 2k";
    EXPECT_EQ(generations_table_size(*ratio, Tier::k4K), row.k4) << row.ratio << " 4k";
  }
}

TEST(GenerationsSizes, TwoSizeCellsGiveTheFirst) {
  EXPECT_EQ(generations_table_size({1, 1}, Tier::k1K), (Size{1024, 1024}));  // not 1254×1254
  EXPECT_EQ(generations_table_size({3, 1}, Tier::k1K), (Size{1881, 836}));   // not 1536×512
  EXPECT_EQ(generations_table_size({2, 1}, Tier::k1K), (Size{2048, 1024}));  // not 1774×887
  EXPECT_EQ(generations_table_size({21, 9}, Tier::k1K), (Size{2016, 864}));  // not 1915×821
}

TEST(GenerationsSizes, DiffersFromSeed001WhereTheDocumentsDisagree) {
  // Each dialect keeps its own document's numbers (seeds/README.md).
  EXPECT_EQ(generations_table_size({3, 2}, Tier::k1K), (Size{1536, 1024}));
  EXPECT_EQ(unified_table_size({3, 2}, Tier::k1K), (Size{1248, 832}));
}

TEST(GenerationsSizes, RatiosOutsideTheTable) {
  EXPECT_FALSE(generations_table_size({7, 5}, Tier::k1K));
  EXPECT_FALSE(generations_table_size({1, 4}, Tier::k4K));
  // The table's ratios are matched as written, not reduced.
  EXPECT_FALSE(generations_table_size({2, 2}, Tier::k1K));
  EXPECT_FALSE(generations_table_size({32, 18}, Tier::k2K));
}

TEST(GenerationsSizes, TwoAndFourKCellsStayWithinSeed001Limits) {
  for (const Row& row : kSeed004) {
    for (const Size& s : {row.k2, row.k4}) {
      EXPECT_EQ(s.width % 16, 0) << row.ratio;
      EXPECT_EQ(s.height % 16, 0) << row.ratio;
      EXPECT_LE(std::max(s.width, s.height), kMaxEdge) << row.ratio;
      EXPECT_LE(s.pixels(), kMaxPixels) << row.ratio;
      EXPECT_GE(s.pixels(), kMinPixels) << row.ratio;
    }
  }
}

}  // namespace
}  // namespace ig::core
