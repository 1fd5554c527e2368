#include "core/sizes.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ig::core {
namespace {

int round16(double v) { return static_cast<int>(std::lround(v / 16.0)) * 16; }
int floor16(double v) { return static_cast<int>(std::floor(v / 16.0 + 1e-9)) * 16; }

// Landscape or square (r >= 1) size for a ratio, following seed 001's pixel budget rules:
// sides from the tier's target pixel count rounded to multiples of 16; an edge above 3840 or a
// product above 8,294,400 is scaled down proportionally (sides then floored to 16).
Size landscape_size(double r, Tier tier) {
  const double budget = static_cast<double>(kTierBudget[static_cast<int>(tier)]);
  double ideal_w = std::sqrt(budget * r);
  double ideal_h = std::sqrt(budget / r);
  if (ideal_w > kMaxEdge) {
    const double f = kMaxEdge / ideal_w;
    return Size{kMaxEdge, floor16(ideal_h * f)};
  }
  Size s{round16(ideal_w), round16(ideal_h)};
  if (s.pixels() > kMaxPixels) {
    const double f = std::sqrt(static_cast<double>(kMaxPixels) / static_cast<double>(s.pixels()));
    s = Size{floor16(s.width * f), floor16(s.height * f)};
  }
  return s;
}

Size oriented_size(double w, double h, Tier tier) {
  if (w >= h) {
    return landscape_size(w / h, tier);
  }
  Size s = landscape_size(h / w, tier);
  return Size{s.height, s.width};
}

}  // namespace

std::string_view to_string(Tier t) {
  switch (t) {
    case Tier::k1K: return "1K";
    case Tier::k2K: return "2K";
    case Tier::k4K: return "4K";
  }
  return "1K";
}

std::optional<Tier> parse_tier(std::string_view s) {
  if (s.size() != 2 || (s[1] != 'K' && s[1] != 'k')) {
    return std::nullopt;
  }
  switch (s[0]) {
    case '1': return Tier::k1K;
    case '2': return Tier::k2K;
    case '4': return Tier::k4K;
    default: return std::nullopt;
  }
}

Tier tier_for_size(Size s) {
  // The limits are divided, not the pixels multiplied: two int sides make up to 2^62 pixels.
  // Floor division keeps the comparison exact for a whole number of pixels.
  const long long pixels = s.pixels();
  if (pixels <= kTierBudget[0] * 6 / 5) {  // 1.2 × 1024²
    return Tier::k1K;
  }
  if (pixels <= kTierBudget[1] * 9 / 8) {  // 1.125 × 2048²
    return Tier::k2K;
  }
  return Tier::k4K;
}

std::optional<Ratio> parse_ratio(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 >= s.size()) {
    return std::nullopt;
  }
  Ratio r{};
  const char* first = s.data();
  auto [p1, e1] = std::from_chars(first, first + colon, r.w);
  auto [p2, e2] = std::from_chars(first + colon + 1, first + s.size(), r.h);
  if (e1 != std::errc{} || e2 != std::errc{} || p1 != first + colon || p2 != first + s.size() ||
      r.w <= 0 || r.h <= 0 || r.w > 100 || r.h > 100) {
    return std::nullopt;
  }
  return r;
}

std::optional<Size> unified_table_size(Ratio ratio, Tier tier) {
  static constexpr Ratio kLandscape[] = {{1, 1}, {2, 1}, {3, 1}, {3, 2},
                                         {4, 3}, {5, 4}, {16, 9}, {21, 9}};
  for (const Ratio& r : kLandscape) {
    if ((r.w == ratio.w && r.h == ratio.h) || (r.w == ratio.h && r.h == ratio.w)) {
      return unified_budget_size(ratio, tier);
    }
  }
  return std::nullopt;
}

std::optional<Size> generations_table_size(Ratio ratio, Tier tier) {
  struct Row {
    Ratio ratio;
    Size by_tier[3];  // 1K, 2K, 4K
  };
  static constexpr Row kRows[] = {
      {{1, 1}, {{1024, 1024}, {2048, 2048}, {2880, 2880}}},
      {{3, 2}, {{1536, 1024}, {2048, 1360}, {3520, 2336}}},
      {{2, 3}, {{1024, 1536}, {1360, 2048}, {2336, 3520}}},
      {{4, 3}, {{1024, 768}, {2048, 1536}, {3312, 2480}}},
      {{3, 4}, {{768, 1024}, {1536, 2048}, {2480, 3312}}},
      {{5, 4}, {{1280, 1024}, {2560, 2048}, {3216, 2576}}},
      {{4, 5}, {{1024, 1280}, {2048, 2560}, {2576, 3216}}},
      {{16, 9}, {{1536, 864}, {2048, 1152}, {3840, 2160}}},
      {{9, 16}, {{864, 1536}, {1152, 2048}, {2160, 3840}}},
      {{2, 1}, {{2048, 1024}, {2688, 1344}, {3840, 1920}}},
      {{1, 2}, {{1024, 2048}, {1344, 2688}, {1920, 3840}}},
      {{3, 1}, {{1881, 836}, {3072, 1024}, {3840, 1280}}},
      {{1, 3}, {{887, 1774}, {1024, 3072}, {1280, 3840}}},
      {{21, 9}, {{2016, 864}, {2688, 1152}, {3840, 1648}}},
      {{9, 21}, {{864, 2016}, {1152, 2688}, {1648, 3840}}},
  };
  for (const Row& row : kRows) {
    if (row.ratio.w == ratio.w && row.ratio.h == ratio.h) {
      return row.by_tier[static_cast<int>(tier)];
    }
  }
  return std::nullopt;
}

Size unified_budget_size(Ratio ratio, Tier tier) { return oriented_size(ratio.w, ratio.h, tier); }

Size size_from_reference(int ref_width, int ref_height, Tier tier) {
  double w = std::max(ref_width, 1);
  double h = std::max(ref_height, 1);
  w = std::min(w, 3.0 * h);
  h = std::min(h, 3.0 * w);
  return oriented_size(w, h, tier);
}

bool valid_gpt_image_2_size(Size s) {
  const int lo = std::min(s.width, s.height);
  const int hi = std::max(s.width, s.height);
  return lo >= kMinEdge && hi <= kMaxEdge && s.width % 16 == 0 && s.height % 16 == 0 &&
         hi <= 3 * lo && s.pixels() >= kMinPixels && s.pixels() <= kMaxPixels;
}

Size nearest_gpt_image_2_size(Size s) {
  if (valid_gpt_image_2_size(s)) {
    return s;
  }
  if (s.width < 1 || s.height < 1) {
    return Size{1024, 1024};
  }
  double ratio = static_cast<double>(s.width) / s.height;
  ratio = std::clamp(ratio, 1.0 / 3.0, 3.0);
  const double pixels = std::clamp(static_cast<double>(s.pixels()),
                                   static_cast<double>(kMinPixels), static_cast<double>(kMaxPixels));
  double w = std::sqrt(pixels * ratio);
  double h = std::sqrt(pixels / ratio);
  if (w > kMaxEdge) {
    w = kMaxEdge;
    h = w / ratio;
  }
  if (h > kMaxEdge) {
    h = kMaxEdge;
    w = h * ratio;
  }
  auto to16 = [](double v) { return std::max(16, static_cast<int>(std::lround(v / 16.0)) * 16); };
  Size out{std::min(to16(w), kMaxEdge), std::min(to16(h), kMaxEdge)};
  // Rounding may leave the budget or the ratio by one step: walk back inside, keeping shape.
  for (int guard = 0; guard < 512 && !valid_gpt_image_2_size(out); ++guard) {
    const bool wide = out.width >= out.height;
    int& big = wide ? out.width : out.height;
    int& small = wide ? out.height : out.width;
    if (out.pixels() > kMaxPixels || big > 3 * small) {
      big -= 16;
    } else if (out.pixels() < kMinPixels) {
      if (small + 16 <= kMaxEdge && big <= 3 * (small + 16)) {
        small += 16;
      } else {
        big += 16;
      }
    } else {
      small += 16;
    }
  }
  return out;
}

}  // namespace ig::core
