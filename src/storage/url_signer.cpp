#include "storage/url_signer.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <charconv>
#include <optional>
#include <utility>

namespace ig::storage {
namespace {

constexpr std::size_t kSignatureHexLength = 64;  // SHA-256

std::string to_hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0x0f];
  }
  return out;
}

/// Parses the canonical decimal form only ("0", "17", never "017", "+17", " 17").
std::optional<std::int64_t> parse_expires(std::string_view s) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s.front() == '0')) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < 0) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

UrlSigner::UrlSigner(std::string secret) : secret_(std::move(secret)) {}

std::string UrlSigner::signature(std::string_view path, std::int64_t expires_unix) const {
  std::string message;
  message.reserve(path.size() + 21);
  message.append(path);
  message.push_back('\n');
  message.append(std::to_string(expires_unix));

  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // An empty secret is still a valid HMAC key; HMAC wants a non-null pointer for it.
  static const unsigned char kEmpty = 0;
  const void* key = secret_.empty() ? static_cast<const void*>(&kEmpty) : secret_.data();
  if (HMAC(EVP_sha256(), key, static_cast<int>(secret_.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
           &mac_len) == nullptr) {
    return std::string();  // never matches in verify(): the lengths differ
  }
  return to_hex(mac, mac_len);
}

std::string UrlSigner::signed_query(std::string_view path, std::int64_t expires_unix) const {
  std::string query = "expires=";
  query += std::to_string(expires_unix);
  query += "&signature=";
  query += signature(path, expires_unix);
  return query;
}

UrlSigner::Verdict UrlSigner::verify(std::string_view path, std::string_view expires,
                                     std::string_view signature_hex, std::int64_t now_unix) const {
  const std::optional<std::int64_t> expires_unix = parse_expires(expires);
  if (!expires_unix) {
    return Verdict::kBadSignature;
  }
  const std::string expected = signature(path, *expires_unix);
  // The length is public (always 64); only the content is compared in constant time.
  if (expected.size() != kSignatureHexLength || signature_hex.size() != kSignatureHexLength) {
    return Verdict::kBadSignature;
  }
  if (CRYPTO_memcmp(expected.data(), signature_hex.data(), kSignatureHexLength) != 0) {
    return Verdict::kBadSignature;
  }
  if (now_unix > *expires_unix) {
    return Verdict::kExpired;
  }
  return Verdict::kValid;
}

}  // namespace ig::storage
