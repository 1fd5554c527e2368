// The config loader: TOML text → Config, through load_toml_text (no file is read). A text is
// loaded or refused with kInvalidRequest; a loaded one holds providers with a kind, routes
// naming providers, and a price table that quotes every request without overflow.
#include <cstddef>
#include <cstdint>

#include "app/config.hpp"
#include "core/error.hpp"
#include "support.hpp"

using ig::fuzz::require;

namespace {

void check_prices(const ig::billing::PriceTable& prices) {
  ig::core::GenerationRequest r;
  r.model = "gpt-image-2";
  for (const char* quality : {"", "low", "medium", "high"}) {
    for (ig::core::Tier tier : {ig::core::Tier::k1K, ig::core::Tier::k2K, ig::core::Tier::k4K}) {
      r.quality = quality;
      r.tier = tier;
      r.n = 10;
      r.size = {1024, 1024};
      r.input_urls.assign(16, "https://example.com/a.png");
      auto price = prices.quote(r);
      require(!price || *price >= 0, "config: a price is not negative");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  ig::app::Config config;
  auto st = ig::app::load_toml_text(config, ig::fuzz::text(data, size), "fuzz.toml");
  if (!st) {
    require(st.error().code == ig::core::ErrorCode::kInvalidRequest,
            "config: a bad file is kInvalidRequest");
    return 0;
  }
  for (const auto& provider : config.providers) {
    require(!provider.kind.empty() && provider.name != "sandbox", "config: provider sections");
  }
  for (const auto& [family, routes] : config.routing) {
    require(!routes.empty(), "config: a route names providers");
  }
  check_prices(config.prices);
  return 0;
}
