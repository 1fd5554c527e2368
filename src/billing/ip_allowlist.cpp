#include "billing/ip_allowlist.hpp"

#include <algorithm>
#include <charconv>

namespace ig::billing {
namespace {

using boost::asio::ip::address;
using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;

// The longest IPv6 text: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".
constexpr std::size_t kMaxAddressText = 45;

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

bool is_address_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

/// `a` as 16 bytes, IPv4 as its IPv4-mapped IPv6 form.
std::array<std::uint8_t, 16> v6_bytes(const address& a) {
  if (a.is_v6()) {
    return a.to_v6().to_bytes();
  }
  std::array<std::uint8_t, 16> out{};
  out[10] = 0xff;
  out[11] = 0xff;
  const auto v4 = a.to_v4().to_bytes();
  std::copy(v4.begin(), v4.end(), out.begin() + 12);
  return out;
}

/// Clears every bit of `bytes` past the first `prefix`.
void clear_host_bits(std::array<std::uint8_t, 16>& bytes, int prefix) {
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(prefix - 8 * i, 0, 8);
    bytes[i] &= static_cast<std::uint8_t>(0xFF00 >> keep);
  }
}

bool prefix_match(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& net,
                  int prefix) {
  const int full = prefix / 8;
  if (!std::equal(a.begin(), a.begin() + full, net.begin())) {
    return false;
  }
  const int rest = prefix % 8;
  if (rest == 0) {
    return true;
  }
  const auto mask = static_cast<std::uint8_t>(0xFF00 >> rest);
  return (a[full] & mask) == net[full];
}

/// "/8" → 8: one to three digits, nothing else, at most `max`.
std::optional<int> parse_prefix(std::string_view text, int max) {
  if (text.empty() || text.size() > 3) {
    return std::nullopt;
  }
  int prefix = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), prefix);
  if (ec != std::errc{} || end != text.data() + text.size() || prefix < 0 || prefix > max) {
    return std::nullopt;
  }
  return prefix;
}

core::Error bad_entry(std::string_view entry) {
  return core::make_error(core::ErrorCode::kInvalidRequest,
                          "\"" + std::string(entry) +
                              "\" is not an IP address or CIDR block (such as 10.0.0.0/8 or "
                              "2001:db8::/32)");
}

}  // namespace

std::optional<address> parse_ip(std::string_view text) {
  // Checked before Asio sees it: a '%' zone id would make it call if_nametoindex, and the
  // character set leaves only what inet_pton judges.
  if (text.empty() || text.size() > kMaxAddressText ||
      !std::all_of(text.begin(), text.end(), is_address_char)) {
    return std::nullopt;
  }
  // NUL-terminated on the stack: no allocation per X-Forwarded-For hop.
  std::array<char, kMaxAddressText + 1> buf{};
  std::copy(text.begin(), text.end(), buf.begin());
  boost::system::error_code ec;
  if (text.find(':') != std::string_view::npos) {
    auto v6 = boost::asio::ip::make_address_v6(buf.data(), ec);
    return ec ? std::nullopt : std::optional<address>(v6);
  }
  auto v4 = boost::asio::ip::make_address_v4(buf.data(), ec);
  return ec ? std::nullopt : std::optional<address>(v4);
}

core::Result<CidrSet> CidrSet::parse(const std::vector<std::string>& cidrs) {
  CidrSet set;
  for (const std::string& entry : cidrs) {
    const std::string_view text = trim(entry);
    const auto slash = text.find('/');
    const auto net = parse_ip(text.substr(0, slash));
    if (!net) {
      return bad_entry(entry);
    }
    const int max_prefix = net->is_v4() ? 32 : 128;
    int prefix = max_prefix;
    if (slash != std::string_view::npos) {
      const auto parsed = parse_prefix(text.substr(slash + 1), max_prefix);
      if (!parsed) {
        return bad_entry(entry);
      }
      prefix = *parsed;
    }
    Block block{v6_bytes(*net), prefix + (128 - max_prefix), net->is_v4()};
    clear_host_bits(block.net, block.prefix);
    if (std::find(set.blocks_.begin(), set.blocks_.end(), block) == set.blocks_.end()) {
      set.blocks_.push_back(block);
    }
  }
  return set;
}

bool CidrSet::contains(const address& a) const {
  const auto bytes = v6_bytes(a);
  return std::any_of(blocks_.begin(), blocks_.end(),
                     [&](const Block& b) { return prefix_match(bytes, b.net, b.prefix); });
}

std::vector<std::string> CidrSet::to_strings() const {
  std::vector<std::string> out;
  out.reserve(blocks_.size());
  for (const Block& b : blocks_) {
    if (b.v4) {
      const address_v4 net(address_v4::bytes_type{b.net[12], b.net[13], b.net[14], b.net[15]});
      out.push_back(net.to_string() + "/" + std::to_string(b.prefix - 96));
      continue;
    }
    out.push_back(address_v6(b.net).to_string() + "/" + std::to_string(b.prefix));
  }
  return out;
}

}  // namespace ig::billing
