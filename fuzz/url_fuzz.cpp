// The URL and address classifier: core::check_user_url (create-time check of input, mask and
// callback URLs) and media's address rules (numeric hosts as resolvers read them, CIDR blocks,
// public or not). The input is the URL, the host and the block at once. Beyond not crashing:
// an IPv4 address is public exactly when its IPv4-mapped, IPv4-compatible, NAT64 and 6to4
// forms are, and a block contains its own network address.
#include <cstddef>
#include <cstdint>

#include <boost/asio/ip/address.hpp>

#include "core/url_check.hpp"
#include "media/address_policy.hpp"
#include "support.hpp"

namespace ip = boost::asio::ip;
using ig::fuzz::require;

namespace {

void check_v4(const ip::address_v4& v4) {
  const bool is_public = ig::media::is_public_address(ip::address(v4));
  const auto b = v4.to_bytes();
  ip::address_v6::bytes_type mapped{};
  mapped[10] = 0xff;
  mapped[11] = 0xff;
  ip::address_v6::bytes_type nat64{0x00, 0x64, 0xff, 0x9b};
  ip::address_v6::bytes_type six_to_four{0x20, 0x02, b[0], b[1], b[2], b[3]};
  ip::address_v6::bytes_type compatible{};
  for (int i = 0; i < 4; ++i) {
    mapped[12 + i] = b[i];
    nat64[12 + i] = b[i];
    compatible[12 + i] = b[i];
  }
  for (const auto& wrapped : {mapped, nat64, six_to_four, compatible}) {
    require(ig::media::is_public_address(ip::address(ip::address_v6(wrapped))) == is_public,
            "url: an embedded IPv4 address decides as itself");
  }
  const ig::media::AddressPolicy policy;
  require(policy.allowed(ip::address(v4)) == is_public, "url: the default policy is public only");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  const std::string_view input = ig::fuzz::text(data, size);

  if (auto st = ig::core::check_user_url(input, "image_urls[0]"); st) {
    require(input.size() <= 2048, "url: at most 2048 characters");
    require(input.size() > 8 && (input[0] == 'h' || input[0] == 'H'), "url: https only");
  } else {
    require(st.error().code == ig::core::ErrorCode::kValidationFailed,
            "url: a refused URL is kValidationFailed");
  }

  bool numeric_but_invalid = false;
  if (auto v4 = ig::media::parse_ipv4_literal(input, &numeric_but_invalid)) {
    require(!numeric_but_invalid, "url: a parsed literal is valid");
    check_v4(*v4);
  }

  if (auto cidr = ig::media::parse_cidr(input)) {
    require(cidr->prefix >= 0 && cidr->prefix <= (cidr->net.is_v4() ? 32 : 128),
            "url: prefix in range");
    require(ig::media::cidr_contains(*cidr, cidr->net), "url: a block contains its network");
    const ig::media::AddressPolicy policy({*cidr});
    require(policy.allowed(cidr->net), "url: an allowance allows its own block");
    if (cidr->net.is_v4()) {
      check_v4(cidr->net.to_v4());
    }
  }
  return 0;
}
