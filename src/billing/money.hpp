#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace ig::billing {

/// Money is held as integer micro-credits: 1 credit = 1,000,000. Sums are exact; only the
/// edges (configuration, CLI, JSON) speak decimal credits.
inline constexpr std::int64_t kMicrosPerCredit = 1'000'000;

/// "4.7" → 4'700'000. At most six decimals, an optional leading '-', no exponent, magnitude below
/// 9.2e12 credits; kInvalidRequest (naming `what`) otherwise.
core::Result<std::int64_t> parse_credits(std::string_view text, std::string_view what = "amount");

/// A double from JSON or TOML (4.7) → micro-credits, rounded to the nearest; kInvalidRequest
/// for NaN, infinities and magnitudes that do not fit.
core::Result<std::int64_t> credits_from_double(double credits, std::string_view what = "amount");

/// 4'700'000 → "4.7", 0 → "0", -1'500'000 → "-1.5": the shortest exact decimal.
std::string format_credits(std::int64_t micros);

/// The same value as a JSON number (4.7): exact for every amount a ledger holds in practice
/// (doubles carry 15 significant digits).
double credits_as_double(std::int64_t micros);

}  // namespace ig::billing
