#include "billing/prices.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <string_view>

#include "billing/money.hpp"

namespace ig::billing {
namespace {

constexpr std::string_view kAnyModel = "*";
constexpr std::string_view kQualityWords[] = {"low", "medium", "high"};
constexpr std::size_t kMedium = 1;

// The shipped per-image prices at 1K, 2K and 4K (EvoLink's list for gpt-image-2).
constexpr std::int64_t kDefaultTierMicros[] = {4'700'000, 9'400'000, 14'100'000};
// low ≈ 0.11×, medium 1×, high ≈ 4×, in millionths.
constexpr std::int64_t kDefaultQualityMillionths[] = {110'000, 1'000'000, 4'000'000};

core::Error bad(const std::string& path, std::string_view why) {
  return core::make_error(core::ErrorCode::kInvalidRequest, path + ": " + std::string(why), path);
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::string quoted(std::string_view key) {
  std::string out = "\"";
  for (char c : key) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

// A key as TOML would print it in a dotted path: bare when it can be, quoted otherwise.
std::string path_key(std::string_view key) {
  if (key.empty()) {
    return quoted(key);
  }
  for (char c : key) {
    const bool bare = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
    if (!bare) {
      return quoted(key);
    }
  }
  return std::string(key);
}

// A non-negative TOML number (integer or float) → millionths of it. Prices and multipliers are
// both held this way; credits_from_double does the scaling and its range check.
core::Result<std::int64_t> millionths(const toml::node& node, const std::string& path,
                                      std::string_view what) {
  double value = 0;
  if (auto i = node.value_exact<std::int64_t>()) {
    if (*i < 0) {
      return bad(path, "must not be negative");
    }
    value = static_cast<double>(*i);
  } else if (auto d = node.value_exact<double>()) {
    value = *d;
  } else {
    return bad(path, "must be " + std::string(what));
  }
  if (!std::isfinite(value)) {
    return bad(path, "must be a finite number");
  }
  if (value < 0) {
    return bad(path, "must not be negative");
  }
  auto scaled = credits_from_double(value, path);
  if (!scaled) {
    return bad(path, "is too large");
  }
  return *scaled;
}

// "1024x1536" (or "1024X1536") → {1024, 1536}; both sides positive.
std::optional<std::pair<int, int>> parse_wxh(std::string_view s) {
  const auto x = s.find_first_of("xX");
  if (x == std::string_view::npos) {
    return std::nullopt;
  }
  int w = 0;
  int h = 0;
  const char* end = s.data() + s.size();
  auto [pw, ew] = std::from_chars(s.data(), s.data() + x, w);
  auto [ph, eh] = std::from_chars(s.data() + x + 1, end, h);
  if (ew != std::errc{} || eh != std::errc{} || pw != s.data() + x || ph != end || w <= 0 ||
      h <= 0) {
    return std::nullopt;
  }
  return std::pair{w, h};
}

// One [prices.models."<family>"] table over `row` (the family's defaults, or empty).
core::Status read_row(std::string_view family, const toml::node& node, detail::PriceRow& row) {
  const std::string row_path = "prices.models." + quoted(family);
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return bad(row_path, "must be a table of prices ([prices.models." + quoted(family) + "])");
  }
  std::array<bool, 3> tier_given{};
  for (const auto& [key, value] : *table) {
    const std::string path = row_path + "." + path_key(key.str());
    auto micros = millionths(value, path, "a number of credits");
    if (const auto tier = core::parse_tier(key.str())) {
      const auto i = static_cast<std::size_t>(*tier);
      if (tier_given[i]) {
        return bad(path, "is given twice");
      }
      if (!micros) {
        return micros.error();
      }
      tier_given[i] = true;
      row.by_tier[i] = *micros;
      continue;
    }
    const auto size = parse_wxh(key.str());
    if (!size) {
      return bad(path, "unknown key");
    }
    if (!micros) {
      return micros.error();
    }
    if (!row.by_size.emplace(*size, *micros).second) {
      return bad(path, "is given twice");
    }
  }
  if (tier_given == std::array<bool, 3>{}) {
    return bad(row_path, "has no tier price (\"1k\", \"2k\" or \"4k\")");
  }
  return core::ok_status();
}

// "low", "medium", "high" (any case) → 0, 1, 2.
std::optional<std::size_t> quality_word(std::string_view word) {
  const std::string lower = ascii_lower(word);
  for (std::size_t i = 0; i < std::size(kQualityWords); ++i) {
    if (lower == kQualityWords[i]) {
      return i;
    }
  }
  return std::nullopt;
}

// A request's quality: a quality word, or "auto" or none, which are medium.
std::optional<std::size_t> quality_index(std::string_view quality) {
  if (quality.empty() || ascii_lower(quality) == "auto") {
    return kMedium;
  }
  return quality_word(quality);
}

core::Status read_quality(const toml::table& table, std::array<std::int64_t, 3>& out) {
  std::set<std::size_t> seen;
  for (const auto& [key, node] : table) {
    const std::string path = "prices.quality." + path_key(key.str());
    const std::optional<std::size_t> index = quality_word(key.str());
    if (!index) {
      return bad(path, "unknown key");
    }
    if (!seen.insert(*index).second) {
      return bad(path, "is given twice");
    }
    auto m = millionths(node, path, "a number (a multiplier)");
    if (!m) {
      return m.error();
    }
    out[*index] = *m;
  }
  return core::ok_status();
}

}  // namespace

PriceTable PriceTable::defaults() {
  PriceTable t;
  detail::PriceRow row;
  for (int i = 0; i < 3; ++i) {
    row.by_tier[i] = kDefaultTierMicros[i];
    t.quality_millionths_[i] = kDefaultQualityMillionths[i];
  }
  t.models_.emplace("gpt-image-2", row);
  t.models_.emplace(kAnyModel, row);
  return t;
}

core::Result<PriceTable> PriceTable::from_toml(const toml::table& prices) {
  PriceTable t = defaults();
  for (const auto& [key, node] : prices) {
    const std::string path = "prices." + path_key(key.str());
    if (key.str() == "reference_image") {
      auto micros = millionths(node, path, "a number of credits");
      if (!micros) {
        return micros.error();
      }
      t.reference_image_ = *micros;
      continue;
    }
    if (key.str() == "quality") {
      const toml::table* table = node.as_table();
      if (table == nullptr) {
        return bad(path, "must be a table of multipliers ([prices.quality])");
      }
      if (auto st = read_quality(*table, t.quality_millionths_); !st) {
        return st.error();
      }
      continue;
    }
    if (key.str() != "models") {
      return bad(path, "unknown key");
    }
    const toml::table* models = node.as_table();
    if (models == nullptr) {
      return bad(path, "must be a table of model rows ([prices.models.\"gpt-image-2\"])");
    }
    for (const auto& [family, row] : *models) {
      // A family with a default row starts from it: what is not given keeps its price.
      if (auto st = read_row(family.str(), row, t.models_[std::string(family.str())]); !st) {
        return st.error();
      }
    }
  }
  return t;
}

std::optional<std::int64_t> PriceTable::image_price(const std::string& family, core::Size size,
                                                    core::Tier tier) const {
  const auto i = static_cast<std::size_t>(tier);
  const auto any = models_.find(kAnyModel);
  auto row = models_.find(family);
  if (row == models_.end()) {
    row = any;
  }
  if (row != models_.end()) {
    const auto& by_size = row->second.by_size;
    if (auto exact = by_size.find({size.width, size.height}); exact != by_size.end()) {
      return exact->second;
    }
    if (row->second.by_tier[i]) {
      return row->second.by_tier[i];
    }
  }
  if (any != models_.end()) {
    return any->second.by_tier[i];
  }
  return std::nullopt;
}

core::Result<std::int64_t> PriceTable::quote(const core::GenerationRequest& req) const {
  if (req.n < 1) {
    return core::make_error(core::ErrorCode::kInvalidRequest, "n must be at least 1", "n");
  }
  const std::optional<std::size_t> quality = quality_index(req.quality);
  if (!quality) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "quality '" + req.quality + "' has no price", "quality");
  }
  const std::string family = core::model_family(req);
  const std::optional<std::int64_t> price = image_price(family, req.size, req.tier);
  if (!price) {
    return core::make_error(
        core::ErrorCode::kInvalidRequest,
        "model family " + family + " has no price at " + std::string(core::to_string(req.tier)),
        "model");
  }
  // Everything in millionths of a micro-credit, so that the only rounding is the last division.
  using Wide = unsigned __int128;
  constexpr Wide kScale = kMicrosPerCredit;
  Wide images = 0;
  Wide references = 0;
  Wide total = 0;
  const bool overflow =
      __builtin_mul_overflow(static_cast<Wide>(*price),
                             static_cast<Wide>(quality_millionths_[*quality]), &images) ||
      __builtin_mul_overflow(images, static_cast<Wide>(req.n), &images) ||
      __builtin_mul_overflow(static_cast<Wide>(reference_image_) * kScale,
                             static_cast<Wide>(req.input_urls.size()), &references) ||
      __builtin_add_overflow(images, references, &total);
  const Wide micros = overflow ? 0 : (total + kScale / 2) / kScale;
  if (overflow || micros > static_cast<Wide>(std::numeric_limits<std::int64_t>::max())) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "the task would cost more credits than can be counted", "n");
  }
  return static_cast<std::int64_t>(micros);
}

}  // namespace ig::billing
