// Requests-per-minute buckets of PgStore (see store.hpp): one row per key in the unlogged
// table rate_buckets, taken from by one statement, so that the row lock orders every node's
// takes and none can spend a token twice.

#include <algorithm>

#include "store/pg/ops.hpp"
#include "store/pg/pg_store.hpp"

namespace ig::store {
namespace {

using pg::Params;

// A token is 60000 units; a bucket of rpm tokens refills rpm units a millisecond, so it goes
// from empty to full in a minute (billing::RateLimiter counts the same way). The refill
// counts at most a minute of elapsed time, which fills any bucket and keeps the product far
// from overflowing. SET reads the row as it was before the update.
#define IG_RATE_AVAILABLE                                                               \
  "LEAST($2::bigint * 60000, "                                                          \
  "LEAST(b.units, $2::bigint * 60000) + LEAST(GREATEST($4::bigint - b.at_ms, 0), 60000) " \
  "* $2::bigint)"
constexpr char kTake[] =
    "INSERT INTO rate_buckets AS b (key_id, units, at_ms, granted) "
    "VALUES ($1, ($2::bigint - LEAST($3::bigint, $2::bigint)) * 60000, $4, "
    "LEAST($3::bigint, $2::bigint)) "
    "ON CONFLICT (key_id) DO UPDATE SET "
    "granted = LEAST($3::bigint, " IG_RATE_AVAILABLE " / 60000), "
    "units = " IG_RATE_AVAILABLE " - LEAST($3::bigint, " IG_RATE_AVAILABLE " / 60000) * 60000, "
    "at_ms = GREATEST(b.at_ms, $4::bigint) "
    "RETURNING granted, units";
#undef IG_RATE_AVAILABLE

constexpr std::int64_t kUnitsPerToken = 60'000;

}  // namespace

core::Result<RateGrant> PgStore::take_rate_tokens(std::int64_t key_id, int rpm, int want,
                                                  std::int64_t now_ms) {
  if (rpm <= 0 || want <= 0) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "store: a rate take needs rpm > 0 and want > 0");
  }
  return pg::with_connection<RateGrant>(
      *pool_, "take_rate_tokens", [&](pg::Connection& c) -> core::Result<RateGrant> {
        auto rows = c.exec(kTake, Params(key_id, rpm, want, now_ms), "take_rate_tokens");
        if (!rows.ok()) {
          return rows.error();
        }
        RateGrant g;
        g.granted = static_cast<int>((*rows)[0].int64(0));
        if (g.granted == 0) {
          // Whole milliseconds until the bucket holds a token again, rounded up.
          const std::int64_t missing = kUnitsPerToken - std::max<std::int64_t>((*rows)[0].int64(1), 0);
          g.retry_after_ms = std::max<std::int64_t>(1, (missing + rpm - 1) / rpm);
        }
        return g;
      });
}

}  // namespace ig::store
