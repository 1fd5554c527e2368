#include "billing/prices.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "billing/money.hpp"

namespace ig::billing {
namespace {

using core::Size;
using core::Tier;

constexpr std::int64_t kCredit = kMicrosPerCredit;

// A request of the gpt-image-2 family (any dialect but openai names it so).
core::GenerationRequest request(Tier tier, std::string quality = "", int n = 1) {
  core::GenerationRequest r;
  r.dialect = core::Dialect::kUnified;
  r.model = "gpt-image-2";
  r.tier = tier;
  r.quality = std::move(quality);
  r.n = n;
  return r;
}

// A request of another family: only the openai dialect serves other models.
core::GenerationRequest other_family(std::string model, Tier tier) {
  core::GenerationRequest r = request(tier);
  r.dialect = core::Dialect::kOpenAI;
  r.model = std::move(model);
  return r;
}

core::Result<PriceTable> from(std::string_view text) {
  const toml::table root = toml::parse(text);
  const toml::table* prices = root["prices"].as_table();
  return PriceTable::from_toml(prices != nullptr ? *prices : toml::table{});
}

std::int64_t quote(const PriceTable& t, const core::GenerationRequest& r) {
  auto q = t.quote(r);
  EXPECT_TRUE(q) << q.error().message;
  return q ? *q : -1;
}

// --- the shipped prices

TEST(Prices, DefaultsByTierQualityAndCount) {
  const PriceTable t = PriceTable::defaults();
  struct Case {
    Tier tier;
    const char* quality;
    std::int64_t micros;  // one image
  } cases[] = {
      {Tier::k1K, "low", 517'000},      {Tier::k1K, "medium", 4'700'000},
      {Tier::k1K, "high", 18'800'000},  {Tier::k2K, "low", 1'034'000},
      {Tier::k2K, "medium", 9'400'000}, {Tier::k2K, "high", 37'600'000},
      {Tier::k4K, "low", 1'551'000},    {Tier::k4K, "medium", 14'100'000},
      {Tier::k4K, "high", 56'400'000},
  };
  for (const Case& c : cases) {
    for (int n : {1, 3, 10}) {
      EXPECT_EQ(quote(t, request(c.tier, c.quality, n)), c.micros * n)
          << core::to_string(c.tier) << " " << c.quality << " n=" << n;
    }
  }
}

TEST(Prices, AutoOrNoQualityIsMediumAndWordsIgnoreCase) {
  const PriceTable t = PriceTable::defaults();
  EXPECT_EQ(quote(t, request(Tier::k2K, "")), 9'400'000);
  EXPECT_EQ(quote(t, request(Tier::k2K, "auto")), 9'400'000);
  EXPECT_EQ(quote(t, request(Tier::k2K, "AUTO")), 9'400'000);
  EXPECT_EQ(quote(t, request(Tier::k2K, "High")), 37'600'000);
}

TEST(Prices, ReferencesAreFreeByDefault) {
  const PriceTable t = PriceTable::defaults();
  core::GenerationRequest r = request(Tier::k1K);
  r.input_urls = {"https://a.example/1.png", "https://a.example/2.png"};
  EXPECT_EQ(quote(t, r), 4'700'000);
}

TEST(Prices, OtherFamiliesCostWhatGptImage2Costs) {
  const PriceTable t = PriceTable::defaults();
  EXPECT_EQ(core::model_family(other_family("gpt-image-1.5", Tier::k1K)), "gpt-image-1.5");
  EXPECT_EQ(quote(t, other_family("gpt-image-1.5", Tier::k1K)), 4'700'000);
  EXPECT_EQ(quote(t, other_family("gpt-image-1", Tier::k4K)), 14'100'000);
}

TEST(Prices, AnEmptySectionIsTheDefaults) {
  auto t = from("[prices]\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(quote(*t, request(Tier::k4K, "high", 2)), 112'800'000);
}

// --- exactness

TEST(Prices, AQuoteIsExactInMicros) {
  const PriceTable t = PriceTable::defaults();
  const auto q = quote(t, request(Tier::k4K, "high", 10));
  EXPECT_EQ(q, 564 * kCredit);  // 14.1 × 4 × 10, no float drift
  EXPECT_EQ(format_credits(q), "564");
  EXPECT_EQ(format_credits(quote(t, request(Tier::k1K, "low", 10))), "5.17");  // 4.7 × 0.11 × 10
  EXPECT_EQ(format_credits(quote(t, request(Tier::k4K, "low", 7))), "10.857");
}

TEST(Prices, RoundsOnceAtTheEnd) {
  auto t = from(R"(
[prices.quality]
low = 0.11
medium = 0.5
[prices.models."gpt-image-2"]
"1k" = 0.000001
)");
  ASSERT_TRUE(t) << t.error().message;
  // 0.11 micro-credit an image: rounding each image would make 5 images free.
  EXPECT_EQ(quote(*t, request(Tier::k1K, "low", 4)), 0);     // 0.44
  EXPECT_EQ(quote(*t, request(Tier::k1K, "low", 5)), 1);     // 0.55
  EXPECT_EQ(quote(*t, request(Tier::k1K, "medium", 1)), 1);  // 0.5, half up
}

// --- the operator's table

constexpr std::string_view kExample = R"(
[prices]
reference_image = 0.5
[prices.quality]
low = 0.11
medium = 1.0
high = 4.0
[prices.models."gpt-image-2"]
"1k" = 4.7
"2k" = 9.4
"4k" = 14.1
"1024x1536" = 5.0
[prices.models."*"]
"1k" = 4.7
)";

TEST(Prices, TheDocumentedExampleLoads) {
  auto t = from(kExample);
  ASSERT_TRUE(t) << t.error().message;
  core::GenerationRequest r = request(Tier::k2K);
  r.size = Size{1536, 1024};
  EXPECT_EQ(quote(*t, r), 9'400'000);
  r.input_urls = {"https://a.example/1.png", "https://a.example/2.png", "https://a.example/3.png"};
  EXPECT_EQ(quote(*t, r), 10'900'000);  // + 3 × 0.5
}

TEST(Prices, AnExactSizeBeatsItsTier) {
  auto t = from(kExample);
  ASSERT_TRUE(t) << t.error().message;
  core::GenerationRequest r = request(Tier::k2K, "high", 2);
  r.size = Size{1024, 1536};
  EXPECT_EQ(quote(*t, r), 40 * kCredit);  // 5.0 × 4 × 2
  r.input_urls = {"https://a.example/1.png"};
  EXPECT_EQ(quote(*t, r), 40'500'000);  // references are charged on top, unmultiplied
  r.size = Size{1536, 1024};            // the same pixels turned: not listed
  r.input_urls.clear();
  EXPECT_EQ(quote(*t, r), 75'200'000);
}

TEST(Prices, TiersNotGivenKeepTheirDefaults) {
  auto t = from(R"(
[prices.models."gpt-image-2"]
"1K" = 5
)");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(quote(*t, request(Tier::k1K)), 5 * kCredit);  // an integer is credits too
  EXPECT_EQ(quote(*t, request(Tier::k2K)), 9'400'000);
  EXPECT_EQ(quote(*t, request(Tier::k4K)), 14'100'000);
  EXPECT_EQ(quote(*t, other_family("gpt-image-1", Tier::k1K)), 4'700'000);  // `*` untouched
}

TEST(Prices, StarPricesEveryFamilyWithoutARow) {
  auto t = from(R"(
[prices.models."*"]
"1k" = 2
"4k" = 20
"1024x1024" = 1.5
[prices.models."gpt-image-1"]
"1k" = 1
)");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(quote(*t, other_family("gpt-image-1.5", Tier::k1K)), 2 * kCredit);
  EXPECT_EQ(quote(*t, other_family("gpt-image-1.5", Tier::k2K)), 9'400'000);  // default kept
  core::GenerationRequest square = other_family("gpt-image-1.5", Tier::k1K);
  square.size = Size{1024, 1024};
  EXPECT_EQ(quote(*t, square), 1'500'000);
  // A family with a row: its own tiers, `*` for the tiers it leaves out, no `*` exact sizes.
  EXPECT_EQ(quote(*t, other_family("gpt-image-1", Tier::k1K)), 1 * kCredit);
  EXPECT_EQ(quote(*t, other_family("gpt-image-1", Tier::k4K)), 20 * kCredit);
  square.model = "gpt-image-1";
  EXPECT_EQ(quote(*t, square), 1 * kCredit);
  // gpt-image-2 has its own row.
  EXPECT_EQ(quote(*t, request(Tier::k1K)), 4'700'000);
  EXPECT_EQ(quote(*t, request(Tier::k4K)), 14'100'000);
}

TEST(Prices, QualityMultipliersCanBeChanged) {
  auto t = from(R"(
[prices.quality]
high = 3
LOW = 0.25
)");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(quote(*t, request(Tier::k1K, "high")), 14'100'000);
  EXPECT_EQ(quote(*t, request(Tier::k1K, "low")), 1'175'000);
  EXPECT_EQ(quote(*t, request(Tier::k1K, "medium")), 4'700'000);
  EXPECT_EQ(quote(*t, request(Tier::k1K, "auto")), 4'700'000);
}

TEST(Prices, ZeroIsAPrice) {
  auto t = from(R"(
[prices]
reference_image = 0
[prices.models."gpt-image-2"]
"1k" = 0
)");
  ASSERT_TRUE(t) << t.error().message;
  core::GenerationRequest r = request(Tier::k1K, "high", 10);
  r.input_urls = {"https://a.example/1.png"};
  EXPECT_EQ(quote(*t, r), 0);
}

// --- errors in the table

void expect_error(std::string_view text, const std::string& message, const std::string& param) {
  auto t = from(text);
  ASSERT_FALSE(t) << text;
  EXPECT_EQ(t.error().code, core::ErrorCode::kInvalidRequest) << text;
  EXPECT_EQ(t.error().message, message) << text;
  EXPECT_EQ(t.error().param, param) << text;
}

TEST(PricesErrors, UnknownKeys) {
  expect_error("[prices.models.\"gpt-image-2\"]\n\"1k\" = 4.7\n\"8k\" = 30\n",
               "prices.models.\"gpt-image-2\".8k: unknown key", "prices.models.\"gpt-image-2\".8k");
  expect_error("[prices.models.\"*\"]\n\"1k\" = 4.7\n\"1024x\" = 3\n",
               "prices.models.\"*\".1024x: unknown key", "prices.models.\"*\".1024x");
  expect_error("[prices.models.\"*\"]\n\"1k\" = 4.7\n\"0x1024\" = 3\n",
               "prices.models.\"*\".0x1024: unknown key", "prices.models.\"*\".0x1024");
  expect_error("[prices.models.\"*\"]\n\"1k\" = 4.7\n\"1 k\" = 3\n",
               "prices.models.\"*\".\"1 k\": unknown key", "prices.models.\"*\".\"1 k\"");
  expect_error("[prices]\nreference = 0.5\n", "prices.reference: unknown key", "prices.reference");
  expect_error("[prices.quality]\nultra = 8\n", "prices.quality.ultra: unknown key",
               "prices.quality.ultra");
  // auto is medium, not a price of its own.
  expect_error("[prices.quality]\nauto = 1\n", "prices.quality.auto: unknown key",
               "prices.quality.auto");
}

TEST(PricesErrors, NegativePrices) {
  expect_error("[prices.models.\"gpt-image-2\"]\n\"1k\" = -1\n",
               "prices.models.\"gpt-image-2\".1k: must not be negative",
               "prices.models.\"gpt-image-2\".1k");
  expect_error("[prices.models.\"*\"]\n\"1k\" = 1\n\"1024x1024\" = -0.5\n",
               "prices.models.\"*\".1024x1024: must not be negative",
               "prices.models.\"*\".1024x1024");
  expect_error("[prices]\nreference_image = -0.1\n", "prices.reference_image: must not be negative",
               "prices.reference_image");
  expect_error("[prices.quality]\nlow = -0.11\n", "prices.quality.low: must not be negative",
               "prices.quality.low");
}

TEST(PricesErrors, PricesThatAreNotNumbers) {
  expect_error("[prices.models.\"gpt-image-2\"]\n\"2k\" = \"9.4\"\n",
               "prices.models.\"gpt-image-2\".2k: must be a number of credits",
               "prices.models.\"gpt-image-2\".2k");
  expect_error("[prices.models.\"gpt-image-2\"]\n\"2k\" = true\n",
               "prices.models.\"gpt-image-2\".2k: must be a number of credits",
               "prices.models.\"gpt-image-2\".2k");
  expect_error("[prices]\nreference_image = \"free\"\n",
               "prices.reference_image: must be a number of credits", "prices.reference_image");
  expect_error("[prices.quality]\nhigh = [4]\n",
               "prices.quality.high: must be a number (a multiplier)", "prices.quality.high");
  expect_error("[prices.models.\"gpt-image-2\"]\n\"4k\" = nan\n",
               "prices.models.\"gpt-image-2\".4k: must be a finite number",
               "prices.models.\"gpt-image-2\".4k");
  expect_error("[prices.quality]\nhigh = inf\n", "prices.quality.high: must be a finite number",
               "prices.quality.high");
  expect_error("[prices.models.\"gpt-image-2\"]\n\"4k\" = 10000000000000\n",
               "prices.models.\"gpt-image-2\".4k: is too large",
               "prices.models.\"gpt-image-2\".4k");
  expect_error("[prices]\nreference_image = 1e13\n", "prices.reference_image: is too large",
               "prices.reference_image");
}

TEST(PricesErrors, ARowWithoutATierPrice) {
  expect_error("[prices.models.\"gpt-image-1\"]\n\"1024x1024\" = 3\n",
               "prices.models.\"gpt-image-1\": has no tier price (\"1k\", \"2k\" or \"4k\")",
               "prices.models.\"gpt-image-1\"");
  expect_error("[prices.models.\"gpt-image-2\"]\n",
               "prices.models.\"gpt-image-2\": has no tier price (\"1k\", \"2k\" or \"4k\")",
               "prices.models.\"gpt-image-2\"");
}

TEST(PricesErrors, KeysGivenTwice) {
  for (const char* text : {"[prices.models.\"*\"]\n\"1k\" = 1\n\"1K\" = 2\n",
                           "[prices.models.\"*\"]\n\"1k\" = 1\n\"1024x1536\" = 2\n"
                           "\"1024X1536\" = 3\n",
                           "[prices.quality]\nlow = 0.1\nLOW = 0.2\n"}) {
    auto t = from(text);
    ASSERT_FALSE(t) << text;
    EXPECT_EQ(t.error().code, core::ErrorCode::kInvalidRequest);
    EXPECT_TRUE(t.error().message.ends_with(": is given twice")) << t.error().message;
  }
}

TEST(PricesErrors, SectionsOfTheWrongShape) {
  expect_error("[prices]\nquality = 4\n",
               "prices.quality: must be a table of multipliers ([prices.quality])",
               "prices.quality");
  expect_error("[prices]\nmodels = [\"gpt-image-2\"]\n",
               "prices.models: must be a table of model rows ([prices.models.\"gpt-image-2\"])",
               "prices.models");
  expect_error("[prices.models]\n\"gpt-image-2\" = 4.7\n",
               "prices.models.\"gpt-image-2\": must be a table of prices "
               "([prices.models.\"gpt-image-2\"])",
               "prices.models.\"gpt-image-2\"");
}

// --- errors in a quote

TEST(PricesErrors, RequestsThatCannotBePriced) {
  const PriceTable t = PriceTable::defaults();
  auto no_images = t.quote(request(Tier::k1K, "", 0));
  ASSERT_FALSE(no_images);
  EXPECT_EQ(no_images.error().code, core::ErrorCode::kInvalidRequest);
  EXPECT_EQ(no_images.error().param, "n");
  auto hd = t.quote(request(Tier::k1K, "hd"));
  ASSERT_FALSE(hd);
  EXPECT_EQ(hd.error().code, core::ErrorCode::kInvalidRequest);
  EXPECT_EQ(hd.error().message, "quality 'hd' has no price");
  EXPECT_EQ(hd.error().param, "quality");
}

TEST(PricesErrors, ATotalBeyondWhatALedgerCountsIsRefused) {
  auto t = from("[prices.models.\"gpt-image-2\"]\n\"4k\" = 9000000000000\n");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(quote(*t, request(Tier::k4K)), 9'000'000'000'000 * kCredit);  // the largest price
  auto q = t->quote(request(Tier::k4K, "high", 10));
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, core::ErrorCode::kInvalidRequest);
  EXPECT_NE(q.error().message.find("more credits than can be counted"), std::string::npos);
}

}  // namespace
}  // namespace ig::billing
