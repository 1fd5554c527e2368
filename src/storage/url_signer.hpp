#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ig::storage {

/// Signs and checks expiring result URLs: the signature is the lower-case hex HMAC-SHA256 of
/// `path + "\n" + expires` under a server secret. A URL stays valid through the second
/// `expires`. Thread-safe (immutable).
class UrlSigner {
 public:
  explicit UrlSigner(std::string secret);

  /// Lower-case hex HMAC-SHA256 over path + "\n" + expires (64 characters).
  std::string signature(std::string_view path, std::int64_t expires_unix) const;
  /// "expires=<n>&signature=<hex>", ready to append after '?'.
  std::string signed_query(std::string_view path, std::int64_t expires_unix) const;

  enum class Verdict { kValid, kExpired, kBadSignature };
  /// Checks the signature first (constant time), then the expiry, so a tampered expired URL is
  /// kBadSignature. `expires` must be the canonical decimal the signer produced.
  Verdict verify(std::string_view path, std::string_view expires, std::string_view signature,
                 std::int64_t now_unix) const;

 private:
  std::string secret_;
};

}  // namespace ig::storage
