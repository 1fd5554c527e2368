#include "billing/money.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace ig::billing {
namespace {

TEST(Money, ParsesDecimalCredits) {
  EXPECT_EQ(*parse_credits("4.7"), 4'700'000);
  EXPECT_EQ(*parse_credits("10"), 10'000'000);
  EXPECT_EQ(*parse_credits("0.000001"), 1);
  EXPECT_EQ(*parse_credits(".5"), 500'000);
  EXPECT_EQ(*parse_credits("-1.25"), -1'250'000);
  EXPECT_EQ(*parse_credits("+3"), 3'000'000);
}

TEST(Money, RefusesWhatIsNotAnAmount) {
  for (const char* bad : {"", "-", ".", "1.", "abc", "1e3", "1.0000001", "1,5", " 1", "1 ",
                          "99999999999999999999", "--1"}) {
    auto r = parse_credits(bad, "credits");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, core::ErrorCode::kInvalidRequest) << bad;
    EXPECT_NE(r.error().message.find("credits"), std::string::npos) << bad;
  }
}

TEST(Money, FormatsTheShortestExactDecimal) {
  EXPECT_EQ(format_credits(4'700'000), "4.7");
  EXPECT_EQ(format_credits(0), "0");
  EXPECT_EQ(format_credits(1), "0.000001");
  EXPECT_EQ(format_credits(-1'500'000), "-1.5");
  EXPECT_EQ(format_credits(14'100'000), "14.1");
  EXPECT_EQ(format_credits(std::numeric_limits<std::int64_t>::min()), "-9223372036854.775808");
}

TEST(Money, RoundTripsThroughText) {
  for (std::int64_t v : {0LL, 1LL, 999'999LL, 4'700'000LL, -123'456'789LL, 9'000'000'000'000LL}) {
    EXPECT_EQ(*parse_credits(format_credits(v)), v) << v;
  }
}

TEST(Money, ConvertsDoubles) {
  EXPECT_EQ(*credits_from_double(4.7), 4'700'000);
  EXPECT_EQ(*credits_from_double(0.11), 110'000);
  EXPECT_FALSE(credits_from_double(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(credits_from_double(std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(credits_from_double(1e20));
  EXPECT_DOUBLE_EQ(credits_as_double(4'700'000), 4.7);
}

}  // namespace
}  // namespace ig::billing
