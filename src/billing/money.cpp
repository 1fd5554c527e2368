#include "billing/money.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace ig::billing {
namespace {

constexpr std::int64_t kMaxCredits = 9'000'000'000'000;  // * 1e6 still fits in int64

core::Error bad(std::string_view what, std::string why) {
  return core::make_error(core::ErrorCode::kInvalidRequest,
                          std::string(what) + " " + std::move(why), std::string(what));
}

}  // namespace

core::Result<std::int64_t> parse_credits(std::string_view text, std::string_view what) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  const auto dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  const auto digits = [](std::string_view d) {
    for (char c : d) {
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  };
  if ((whole.empty() && frac.empty()) || !digits(whole) || !digits(frac) ||
      (dot != std::string_view::npos && frac.empty())) {
    return bad(what, "must be a decimal number of credits, such as 10 or 4.7");
  }
  if (frac.size() > 6) {
    return bad(what, "has more than six decimals (credits are counted in millionths)");
  }
  std::int64_t units = 0;
  if (!whole.empty()) {
    auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), units);
    if (ec != std::errc() || units > kMaxCredits) {
      return bad(what, "is too large");
    }
  }
  std::int64_t micros = units * kMicrosPerCredit;
  std::int64_t scale = kMicrosPerCredit / 10;
  for (char c : frac) {
    micros += (c - '0') * scale;
    scale /= 10;
  }
  return negative ? -micros : micros;
}

core::Result<std::int64_t> credits_from_double(double credits, std::string_view what) {
  if (!std::isfinite(credits) || std::fabs(credits) > static_cast<double>(kMaxCredits)) {
    return bad(what, "must be a finite number of credits");
  }
  return static_cast<std::int64_t>(std::llround(credits * static_cast<double>(kMicrosPerCredit)));
}

std::string format_credits(std::int64_t micros) {
  std::string out;
  // |INT64_MIN| does not fit in int64: work in unsigned.
  std::uint64_t magnitude = micros < 0 ? 0 - static_cast<std::uint64_t>(micros)
                                       : static_cast<std::uint64_t>(micros);
  if (micros < 0) {
    out += '-';
  }
  out += std::to_string(magnitude / kMicrosPerCredit);
  std::uint64_t frac = magnitude % kMicrosPerCredit;
  if (frac != 0) {
    std::string digits = std::to_string(frac);
    digits.insert(0, 6 - digits.size(), '0');
    while (digits.back() == '0') {
      digits.pop_back();
    }
    out += '.';
    out += digits;
  }
  return out;
}

double credits_as_double(std::int64_t micros) {
  return static_cast<double>(micros) / static_cast<double>(kMicrosPerCredit);
}

}  // namespace ig::billing
