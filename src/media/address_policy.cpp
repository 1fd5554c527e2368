#include "media/address_policy.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <span>

namespace ig::media {

namespace {

using boost::asio::ip::address;
using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;

struct Block {
  std::array<std::uint8_t, 16> bytes;
  int prefix;
};

/// True when the first `prefix` bits of `a` and `net` agree.
bool prefix_match(std::span<const std::uint8_t> a, std::span<const std::uint8_t> net, int prefix) {
  int full = prefix / 8;
  for (int i = 0; i < full; ++i) {
    if (a[i] != net[i]) {
      return false;
    }
  }
  int rest = prefix % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (a[full] & mask) == (net[full] & mask);
}

// RFC 6890 special-purpose registries, plus multicast and the reserved 240/4.
constexpr std::array<Block, 15> kRefusedV4 = {{
    {{0, 0, 0, 0}, 8},
    {{10, 0, 0, 0}, 8},
    {{100, 64, 0, 0}, 10},
    {{127, 0, 0, 0}, 8},
    {{169, 254, 0, 0}, 16},
    {{172, 16, 0, 0}, 12},
    {{192, 0, 0, 0}, 24},
    {{192, 0, 2, 0}, 24},
    {{192, 88, 99, 0}, 24},
    {{192, 168, 0, 0}, 16},
    {{198, 18, 0, 0}, 15},
    {{198, 51, 100, 0}, 24},
    {{203, 0, 113, 0}, 24},
    {{224, 0, 0, 0}, 4},
    {{240, 0, 0, 0}, 4},
}};

// Special blocks inside 2000::/3 that are not globally reachable unicast. 2002::/16 and
// 64:ff9b::/96 are handled by unwrapping before this list is consulted.
constexpr std::array<Block, 4> kRefusedV6 = {{
    {{0x20, 0x01, 0x00, 0x00}, 23},  // IETF protocol assignments (Teredo, ORCHID, ...)
    {{0x20, 0x01, 0x0d, 0xb8}, 32},  // documentation
    {{0x3f, 0xff, 0x00, 0x00}, 20},  // documentation (RFC 9637)
    {{0x5f, 0x00, 0x00, 0x00}, 16},  // SRv6 SIDs
}};

constexpr Block kGlobalUnicast = {{0x20}, 3};
constexpr Block kSixToFour = {{0x20, 0x02}, 16};
constexpr Block kNat64 = {{0x00, 0x64, 0xff, 0x9b}, 96};
constexpr Block kNat64Local = {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48};
constexpr Block kV4Mapped = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96};
constexpr Block kV4Compatible = {{}, 96};

bool in_block(std::span<const std::uint8_t> a, const Block& b) {
  return prefix_match(a, b.bytes, b.prefix);
}

bool is_public_v4(const address_v4& a) {
  auto bytes = a.to_bytes();
  for (const auto& block : kRefusedV4) {
    if (in_block(bytes, block)) {
      return false;
    }
  }
  return true;
}

address_v4 v4_from(std::span<const std::uint8_t> b, std::size_t offset) {
  return address_v4(address_v4::bytes_type{b[offset], b[offset + 1], b[offset + 2], b[offset + 3]});
}

/// The IPv4 address embedded in a mapped, compatible, NAT64 or 6to4 address, if any.
std::optional<address_v4> embedded_v4(const address_v6& a) {
  auto b = a.to_bytes();
  if (in_block(b, kV4Mapped) || in_block(b, kV4Compatible) || in_block(b, kNat64)) {
    return v4_from(b, 12);
  }
  if (in_block(b, kSixToFour)) {
    return v4_from(b, 2);
  }
  return std::nullopt;
}

bool is_public_v6(const address_v6& a) {
  if (auto inner = embedded_v4(a)) {
    return is_public_v4(*inner);
  }
  auto b = a.to_bytes();
  if (!in_block(b, kGlobalUnicast) || in_block(b, kNat64Local)) {
    return false;
  }
  for (const auto& block : kRefusedV6) {
    if (in_block(b, block)) {
      return false;
    }
  }
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

constexpr std::uint64_t kTooBig = 1ull << 32;

/// One inet_aton part: `0x` hex, leading-zero octal or decimal. nullopt when not a number;
/// values past 32 bits saturate at kTooBig.
std::optional<std::uint64_t> parse_ipv4_number(std::string_view s) {
  if (s.empty()) {
    return std::nullopt;
  }
  int radix = 10;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    radix = 16;
    s.remove_prefix(2);
  } else if (s.size() >= 2 && s[0] == '0') {
    radix = 8;
    s.remove_prefix(1);
  }
  std::uint64_t value = 0;
  for (char c : s) {
    int d = hex_digit(c);
    if (d < 0 || d >= radix) {
      return std::nullopt;
    }
    value = std::min(value * radix + d, kTooBig);
  }
  return value;
}

}  // namespace

bool is_public_address(const address& a) {
  if (a.is_v4()) {
    return is_public_v4(a.to_v4());
  }
  return is_public_v6(a.to_v6());
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  std::string_view addr_text = text.substr(0, slash);
  if (addr_text.empty() || addr_text.find('%') != std::string_view::npos) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto net = boost::asio::ip::make_address(addr_text, ec);
  if (ec) {
    return std::nullopt;
  }
  const int max_prefix = net.is_v4() ? 32 : 128;
  if (slash == std::string_view::npos) {
    return Cidr{net, max_prefix};
  }
  std::string_view prefix_text = text.substr(slash + 1);
  if (prefix_text.empty() || prefix_text.size() > 3) {
    return std::nullopt;
  }
  int prefix = -1;
  auto [end, err] =
      std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), prefix);
  if (err != std::errc{} || end != prefix_text.data() + prefix_text.size() || prefix < 0 ||
      prefix > max_prefix) {
    return std::nullopt;
  }
  return Cidr{net, prefix};
}

bool cidr_contains(const Cidr& cidr, const address& a) {
  if (cidr.net.is_v4()) {
    address_v4 v4;
    if (a.is_v4()) {
      v4 = a.to_v4();
    } else if (a.to_v6().is_v4_mapped()) {
      v4 = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
    } else {
      return false;
    }
    return prefix_match(v4.to_bytes(), cidr.net.to_v4().to_bytes(), cidr.prefix);
  }
  if (!a.is_v6()) {
    return false;
  }
  return prefix_match(a.to_v6().to_bytes(), cidr.net.to_v6().to_bytes(), cidr.prefix);
}

std::optional<address_v4> parse_ipv4_literal(std::string_view host, bool* numeric_but_invalid) {
  bool scratch = false;
  bool& invalid = numeric_but_invalid != nullptr ? *numeric_but_invalid : scratch;
  invalid = false;
  // A single trailing dot names the same host ("127.1." == "127.1").
  if (host.size() > 1 && host.back() == '.') {
    host.remove_suffix(1);
  }
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    auto dot = host.find('.', start);
    parts.push_back(host.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  const std::string_view last_part = parts.back();
  const bool all_digits =
      !last_part.empty() && last_part.find_first_not_of("0123456789") == std::string_view::npos;
  if (!all_digits && !parse_ipv4_number(last_part)) {
    return std::nullopt;  // an ordinary host name
  }
  invalid = true;
  if (parts.size() > 4) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    auto n = parse_ipv4_number(parts[i]);
    if (!n || *n > 255) {
      return std::nullopt;
    }
    value = (value << 8) | *n;
  }
  auto last_value = parse_ipv4_number(last_part);
  if (!last_value) {
    return std::nullopt;
  }
  auto last = *last_value;
  const int last_bits = 8 * static_cast<int>(5 - parts.size());
  if (last >= (1ull << last_bits)) {
    return std::nullopt;
  }
  value = (value << last_bits) | last;
  invalid = false;
  return address_v4(static_cast<address_v4::uint_type>(value));
}

AddressPolicy::AddressPolicy(std::vector<Cidr> unsafe_allow)
    : unsafe_allow_(std::move(unsafe_allow)) {}

bool AddressPolicy::allowed(const address& a) const {
  if (is_public_address(a)) {
    return true;
  }
  for (const auto& cidr : unsafe_allow_) {
    if (cidr_contains(cidr, a)) {
      return true;
    }
  }
  return false;
}

}  // namespace ig::media
