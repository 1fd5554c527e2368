#include "core/ids.hpp"

#include <regex>
#include <set>

#include <gtest/gtest.h>

namespace ig::core {
namespace {

TEST(Ids, UuidV7Format) {
  auto rnd = default_random();
  const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = uuid_v7(1795316848000, rnd);
    EXPECT_TRUE(std::regex_match(id, re)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);  // one millisecond: the random bits alone tell them apart
}

TEST(Ids, UuidV7StartsWithTheTimeAndSortsByIt) {
  auto rnd = default_random();
  // 1795316848000 ms = 0x01a201391580
  EXPECT_EQ(uuid_v7(1795316848000, rnd).substr(0, 13), "01a20139-1580");
  std::string prev;
  for (std::int64_t t = 1795316848000; t < 1795316848000 + 50; ++t) {
    auto id = uuid_v7(t, rnd);
    EXPECT_LT(prev, id);
    prev = id;
  }
}

TEST(Ids, InjectedRandomnessIsRepeatable) {
  std::uint64_t state = 42;
  RandomSource fixed = [&] { return state++; };
  auto a = uuid_v7(1795316848000, fixed);
  state = 42;
  EXPECT_EQ(uuid_v7(1795316848000, fixed), a);
  EXPECT_EQ(random_alnum(fixed, 8).size(), 8u);
}

TEST(Ids, UlidIsSortableByTime) {
  auto rnd = default_random();
  const std::regex re("^[0-9A-HJKMNP-TV-Z]{26}$");
  std::string prev;
  for (std::int64_t t = 1795316848000; t < 1795316848000 + 50; ++t) {
    auto id = ulid(t, rnd);
    EXPECT_TRUE(std::regex_match(id, re)) << id;
    EXPECT_LT(prev, id);
    prev = id;
  }
  // Known timestamp prefix: 1469918176385 ms is "01ARYZ6S41" in the ULID spec.
  EXPECT_EQ(ulid(1469918176385, rnd).substr(0, 10), "01ARYZ6S41");
}

}  // namespace
}  // namespace ig::core
