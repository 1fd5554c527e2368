#pragma once

#include <optional>
#include <string_view>

namespace ig::core {

/// Output size in pixels.
struct Size {
  int width = 0;
  int height = 0;
  friend bool operator==(const Size&, const Size&) = default;
  long long pixels() const { return static_cast<long long>(width) * height; }
};

/// Resolution tier of the seeds ("1K", "2K", "4K").
enum class Tier { k1K, k2K, k4K };

std::string_view to_string(Tier t);
/// Parses "1K"/"2K"/"4K", case-insensitively.
std::optional<Tier> parse_tier(std::string_view s);

/// A ratio "W:H" with small positive integers.
struct Ratio {
  int w = 1;
  int h = 1;
};
std::optional<Ratio> parse_ratio(std::string_view s);

/// The pixel budget of each tier, by which sizes are made (unified_budget_size) and explicit
/// sizes are tiered (tier_for_size): 1024², 2048², 3840×2160.
inline constexpr long long kTierBudget[] = {1024LL * 1024, 2048LL * 2048, 3840LL * 2160};

/// The tier of an explicit pixel size, one rule for every dialect so that one image is billed
/// (and asked of tiered upstreams) at one tier whatever API it came through. By pixel count:
/// up to 1.2 × the 1K budget (1,258,291 px) is 1K, up to 1.125 × the 2K budget (4,718,592 px,
/// i.e. 2304×2048) is 2K, anything larger 4K. The headroom is there because sides rounded to 16
/// put some of a tier's own sizes over its budget (1K 3:1 is 1776×592, 2K 2:1 is 2896×1456), so
/// every cell of seed 001's table maps back to its own tier (the largest 2K cell has 4.2 M px,
/// the smallest 4K cell, 3840×1280, 4.9 M); the 1K limit keeps 1536×1024 (1.5 MiP) at 2K, where
/// the `openai` and `unified` dialects have always put it. A dialect whose document prints sizes
/// by tier (seed 004's table) bills a printed size at its cell's tier and uses this rule for
/// every other size.
Tier tier_for_size(Size s);

/// Seed 001's limits for explicit sizes.
inline constexpr int kMinEdge = 16;
inline constexpr int kMaxEdge = 3840;
inline constexpr long long kMinPixels = 655'360;
inline constexpr long long kMaxPixels = 8'294'400;

/// Seed 001's (EvoLink) pixel table: the landscape/square cells of its table and their
/// portrait swaps (e.g. 2:3 = 3:2 swapped). Returns nullopt for ratios not in the table.
std::optional<Size> unified_table_size(Ratio ratio, Tier tier);

/// Seed 001's budget rule for any ratio: target 1 MP / 4 MP / 8.29 MP, sides multiples of 16,
/// edges at most 3840, scaled down proportionally to fit the budget. Equals the table above
/// for every ratio the table lists.
Size unified_budget_size(Ratio ratio, Tier tier);

/// Seed 004's (aivideoapi) pixel table for its 15 ratios ("1:1", "3:2", …, "9:21", as written,
/// not reduced). Where a 1K cell lists two sizes the first is returned (1K 3:1 = 1881×836).
/// Returns nullopt for ratios not in the table.
std::optional<Size> generations_table_size(Ratio ratio, Tier tier);

/// Size for an `auto` aspect ratio when references exist: the first reference's aspect ratio
/// (clamped to 3:1) at the tier's budget.
Size size_from_reference(int ref_width, int ref_height, Tier tier);

/// Whether gpt-image-2 takes `s` as an explicit size: sides multiples of 16, edges 16..3840,
/// ratio at most 3:1, kMinPixels..kMaxPixels pixels.
bool valid_gpt_image_2_size(Size s);

/// `s` itself when gpt-image-2 takes it; otherwise the valid size nearest in shape and pixel
/// count (the aspect clamped to 3:1, the pixels to the budget, each side a multiple of 16).
/// For a requested size the upstream cannot make: it is asked for this one and the result is
/// resized locally.
Size nearest_gpt_image_2_size(Size s);

}  // namespace ig::core
