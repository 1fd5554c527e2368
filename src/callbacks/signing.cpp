#include "callbacks/signing.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <optional>

namespace ig::callbacks {
namespace {

constexpr std::string_view kSecretPrefix = "whsec_";
constexpr std::size_t kNewSecretBytes = 32;
constexpr std::size_t kMinKeyBytes = 24;
constexpr std::size_t kMaxKeyBytes = 64;
constexpr int kMessageIdChars = 27;

using Digest = std::array<unsigned char, 32>;

Digest hmac_sha256(std::string_view key, std::string_view msg) {
  Digest md{};
  unsigned int len = 0;
  // An empty key still needs a non-null pointer: OpenSSL reads a null key as "no key given".
  const char* key_data = key.empty() ? "" : key.data();
  HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md.data(), &len);
  return md;
}

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') {
    return c - 'A';
  }
  if (c >= 'a' && c <= 'z') {
    return c - 'a' + 26;
  }
  if (c >= '0' && c <= '9') {
    return c - '0' + 52;
  }
  if (c == '+') {
    return 62;
  }
  if (c == '/') {
    return 63;
  }
  return -1;
}

// Standard alphabet; padding optional but, when present, complete. OpenSSL's EVP_DecodeBlock
// skips whitespace and counts padding as zero bytes, so it cannot say how long the key is.
std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 == 0 && !text.empty()) {
    std::size_t pad = 0;
    while (pad < 2 && text.size() > pad && text[text.size() - 1 - pad] == '=') {
      ++pad;
    }
    text.remove_suffix(pad);
  }
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = base64_value(c);
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::optional<std::int64_t> parse_timestamp(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return v;
}

std::string signed_content(std::string_view msg_id, std::int64_t timestamp_s,
                           std::string_view body) {
  std::string content;
  const std::string ts = std::to_string(timestamp_s);
  content.reserve(msg_id.size() + ts.size() + body.size() + 2);
  content.append(msg_id).append(".").append(ts).append(".").append(body);
  return content;
}

}  // namespace

core::Result<std::string> new_webhook_secret() {
  std::array<unsigned char, kNewSecretBytes> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    return core::make_error(core::ErrorCode::kInternal,
                            "no randomness available for a webhook secret");
  }
  std::string secret(kSecretPrefix);
  secret += base64(raw.data(), raw.size());
  OPENSSL_cleanse(raw.data(), raw.size());
  return secret;
}

core::Result<std::string> secret_key_bytes(std::string_view whsec) {
  if (whsec.starts_with(kSecretPrefix)) {
    whsec.remove_prefix(kSecretPrefix.size());
  }
  auto key = decode_base64(whsec);
  if (!key) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "the webhook secret is not \"whsec_\" followed by base64", "secret");
  }
  if (key->size() < kMinKeyBytes || key->size() > kMaxKeyBytes) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "the webhook secret must hold 24 to 64 bytes, this one holds " +
                                std::to_string(key->size()),
                            "secret");
  }
  return std::move(*key);
}

std::string sign(std::string_view key_bytes, std::string_view msg_id, std::int64_t timestamp_s,
                 std::string_view body) {
  const Digest md = hmac_sha256(key_bytes, signed_content(msg_id, timestamp_s, body));
  return "v1," + base64(md.data(), md.size());
}

bool verify(std::string_view whsec, std::string_view msg_id, std::string_view timestamp,
            std::string_view body, std::string_view signature_header, std::int64_t now_s,
            std::int64_t tolerance_s) {
  auto key = secret_key_bytes(whsec);
  if (!key) {
    return false;
  }
  auto ts = parse_timestamp(timestamp);
  // Both sides are >= 0 (digits only; a clock's seconds), so the differences cannot overflow.
  if (!ts || now_s < 0 || now_s - *ts > tolerance_s || *ts - now_s > tolerance_s) {
    return false;
  }
  const std::string expected = sign(*key, msg_id, *ts, body).substr(3);  // past "v1,"
  bool matched = false;
  std::string_view rest = signature_header;
  while (!rest.empty()) {
    const std::size_t space = rest.find(' ');
    const std::string_view entry = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    const std::size_t comma = entry.find(',');
    if (comma == std::string_view::npos || entry.substr(0, comma) != "v1") {
      continue;
    }
    const std::string_view sig = entry.substr(comma + 1);
    // Length is public (every v1 signature is 44 characters); the bytes are compared in
    // constant time, and every entry is looked at so timing does not say which one matched.
    if (sig.size() == expected.size() &&
        CRYPTO_memcmp(sig.data(), expected.data(), expected.size()) == 0) {
      matched = true;
    }
  }
  return matched;
}

std::string new_message_id(const core::RandomSource& rnd) {
  static constexpr char kBase62[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string id = "msg_";
  id.reserve(4 + kMessageIdChars);
  int left = kMessageIdChars;
  while (left > 0) {
    std::uint64_t v = rnd();
    for (int i = 0; i < 8 && left > 0; ++i, v >>= 8) {
      const auto b = static_cast<unsigned>(v & 0xFF);
      if (b >= 248) {  // 248 = 4 * 62: drop the rest so every character is equally likely
        continue;
      }
      id.push_back(kBase62[b % 62]);
      --left;
    }
  }
  return id;
}

std::string new_message_id() {
  return new_message_id(core::default_random());
}

std::string hiapi_signature(std::string_view key_bytes, std::int64_t timestamp_s,
                            std::string_view body) {
  std::string content = std::to_string(timestamp_s);
  content.append(".").append(body);
  const Digest md = hmac_sha256(key_bytes, content);
  return core::to_hex(md.data(), md.size());
}

SignedHeaders webhook_headers(std::string_view key_bytes, std::string_view msg_id,
                              std::int64_t timestamp_s, std::string_view body, bool hiapi) {
  const std::string ts = std::to_string(timestamp_s);
  SignedHeaders out;
  out.headers.reserve(hiapi ? 5 : 3);
  out.headers.emplace_back("webhook-id", std::string(msg_id));
  out.headers.emplace_back("webhook-timestamp", ts);
  out.headers.emplace_back("webhook-signature", sign(key_bytes, msg_id, timestamp_s, body));
  if (hiapi) {
    out.headers.emplace_back("X-HiAPI-Timestamp", ts);
    out.headers.emplace_back("X-HiAPI-Signature", hiapi_signature(key_bytes, timestamp_s, body));
  }
  return out;
}

}  // namespace ig::callbacks
