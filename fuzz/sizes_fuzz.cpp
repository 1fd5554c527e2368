// The size parsers and rules: tiers ("1K"), ratios ("16:9"), pixel sizes ("1024x1536",
// "1024×1536") and, for an input "W,H" of any two ints, the nearest size gpt-image-2 takes and
// the size made from a reference image. Beyond not crashing, every size the rules make is one
// an upstream can be asked for.
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "api/dialects/common.hpp"
#include "api/dialects/generations.hpp"
#include "core/sizes.hpp"
#include "support.hpp"

namespace core = ig::core;
using ig::fuzz::require;

namespace {

constexpr core::Tier kTiers[] = {core::Tier::k1K, core::Tier::k2K, core::Tier::k4K};

/// Sides multiples of 16, edges 16..3840, at most kMaxPixels: what the budget rules promise.
void require_budget_size(core::Size s, std::string_view what) {
  require(s.width % 16 == 0 && s.height % 16 == 0, what);
  require(s.width >= core::kMinEdge && s.height >= core::kMinEdge, what);
  require(s.width <= core::kMaxEdge && s.height <= core::kMaxEdge, what);
  require(s.pixels() <= core::kMaxPixels, what);
}

void check_pixel_size(core::Size s) {
  const core::Size nearest = core::nearest_gpt_image_2_size(s);
  require(core::valid_gpt_image_2_size(nearest), "sizes: the nearest size is valid");
  if (core::valid_gpt_image_2_size(s)) {
    require(nearest == s, "sizes: a valid size is its own nearest");
  }
  (void)core::tier_for_size(s);
  if (s.width > 0 && s.height > 0) {
    (void)ig::api::generations::explicit_size_tier(s);
  }
}

std::optional<int> whole(std::string_view s) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  const std::string_view input = ig::fuzz::text(data, size);

  if (auto tier = core::parse_tier(input)) {
    const std::string_view name = core::to_string(*tier);
    require(input.size() == 2 && input[0] == name[0], "sizes: a tier reads back");
  }

  if (auto ratio = core::parse_ratio(input)) {
    require(ratio->w >= 1 && ratio->w <= 100 && ratio->h >= 1 && ratio->h <= 100,
            "sizes: ratio terms in 1..100");
    for (core::Tier tier : kTiers) {
      const core::Size budget = core::unified_budget_size(*ratio, tier);
      require_budget_size(budget, "sizes: unified_budget_size");
      if (auto table = core::unified_table_size(*ratio, tier)) {
        require(*table == budget, "sizes: the unified table is the budget rule");
      }
      if (auto table = core::generations_table_size(*ratio, tier)) {
        require(table->width > 0 && table->height > 0, "sizes: generations table");
      }
    }
  }

  if (auto pixels = ig::api::dialects::parse_pixel_size(input)) {
    require(pixels->width >= 0 && pixels->width <= 99'999 && pixels->height >= 0 &&
                pixels->height <= 99'999,
            "sizes: at most 5 digits a side");
    check_pixel_size(*pixels);
    auto generations = ig::api::generations::parse_pixel_size(input);
    require(generations.has_value() == (pixels->width > 0 && pixels->height > 0),
            "sizes: generations refuses only zero sides");
  }

  if (const auto comma = input.find(','); comma != std::string_view::npos) {
    const auto w = whole(input.substr(0, comma));
    const auto h = whole(input.substr(comma + 1));
    if (w && h) {
      check_pixel_size(core::Size{*w, *h});
      for (core::Tier tier : kTiers) {
        require_budget_size(core::size_from_reference(*w, *h, tier), "sizes: from a reference");
      }
    }
  }
  return 0;
}
