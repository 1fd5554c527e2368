#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <toml++/toml.h>

#include "core/request.hpp"
#include "core/result.hpp"
#include "core/sizes.hpp"

namespace ig::billing {

namespace detail {
/// One model family's prices, in micro-credits.
struct PriceRow {
  std::array<std::optional<std::int64_t>, 3> by_tier;   // indexed by core::Tier
  std::map<std::pair<int, int>, std::int64_t> by_size;  // by {width, height}
};
}  // namespace detail

/// What a generation task costs, in micro-credits: a price per image by model family and
/// resolution tier (or exact pixel size), times a quality multiplier, times the image count,
/// plus a charge per reference image. Built once from the configuration; immutable afterwards,
/// so a const PriceTable may be shared between threads.
///
/// The operator's `[prices]` section (every key optional; what is not given keeps its default):
///
///     [prices]
///     reference_image = 0.5          # credits per reference image (image-to-image, edits), each
///     [prices.quality]               # multipliers, by quality word: low, medium, high
///     low = 0.11
///     medium = 1.0
///     high = 4.0
///     [prices.models."gpt-image-2"]  # credits per image, by tier ("1k" "2k" "4k", any case)
///     "1k" = 4.7
///     "2k" = 9.4
///     "4k" = 14.1
///     "1024x1536" = 5.0              # an exact pixel size (WxH) overrides its tier's price
///     [prices.models."*"]            # every other model family
///     "1k" = 4.7
///
/// Defaults: gpt-image-2 and `*` both 4.7 / 9.4 / 14.1 credits at 1K / 2K / 4K (EvoLink's price
/// list); quality low 0.11×, medium 1×, high 4× (Kie's and OpenAI's relative prices); no charge
/// for references. Prices are credits, integer or decimal, from 0 up to 9e12, held exactly to a
/// micro-credit; multipliers are numbers held exactly to a millionth (finer decimals are rounded
/// there, once). A family's row given in the file must name at least one tier; a tier it leaves
/// out is priced as the `*` row prices it. Exact sizes count only in the row that lists them.
class PriceTable {
 public:
  /// The shipped prices (above).
  static PriceTable defaults();

  /// The defaults overridden by a `[prices]` table. An unknown key, a price or multiplier that is
  /// negative or not a number, a key given twice (in another case or notation) and a model row
  /// without a tier price are kInvalidRequest, the message naming the key:
  /// `prices.models."gpt-image-2".8k: unknown key`; `param` is that key's path.
  static core::Result<PriceTable> from_toml(const toml::table& prices);

  /// Micro-credits for the whole task: (the price of req.size in core::model_family(req)'s row
  /// if listed, else of req.tier) × the quality multiplier × req.n, plus reference_image ×
  /// req.input_urls.size(). Computed exactly and rounded once, half up, to a whole micro-credit.
  /// "auto" and "" are medium; a {0,0} size (sized later from a reference) has its tier's price.
  /// A family without a row uses `*`. Quote once input_urls holds every reference (an `openai`
  /// edit's uploads included). An unknown quality word, n < 1 and a total beyond int64 are
  /// kInvalidRequest, as is a family no row prices, which cannot happen with defaults() or
  /// from_toml (they always give `*` every tier).
  core::Result<std::int64_t> quote(const core::GenerationRequest& req) const;

 private:
  PriceTable() = default;

  /// The per-image price of `family` at `size` or else `tier`, if any row gives one.
  std::optional<std::int64_t> image_price(const std::string& family, core::Size size,
                                          core::Tier tier) const;

  std::map<std::string, detail::PriceRow, std::less<>> models_;
  std::array<std::int64_t, 3> quality_millionths_{};  // low, medium, high
  std::int64_t reference_image_ = 0;                  // micros, each
};

}  // namespace ig::billing
