#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "runtime/offload.hpp"
#include "store/store.hpp"

namespace ig::api {

/// Lower-case hex SHA-256 of a key; the only form in which keys are stored.
std::string hash_key(std::string_view key);

/// A freshly drawn API key: the secret (shown once), its prefix and hash (stored).
struct NewKeySecret {
  std::string key;     // "sk-" + 43 URL-safe base64 characters (256 random bits)
  std::string prefix;  // its first 10 characters
  std::string hash;    // hash_key(key)
};
/// kInternal when the system has no randomness to give.
core::Result<NewKeySecret> new_key_secret();

/// Bearer-token authentication with short-lived caches of answers (known keys, and a bounded
/// set of unknown ones), so neither a hot key nor a flood of wrong ones costs a database read
/// per request; a disabled key stops working within `ttl` (at once on the node that disabled
/// it, through forget()). Thread-safe.
class Authenticator {
 public:
  Authenticator(store::Store& store, runtime::BlockingExecutor pool, const core::Clock& clock,
                std::chrono::milliseconds ttl);

  /// The active key named by an `Authorization: Bearer sk-…` header value; otherwise
  /// kUnauthorized with a message that says what is wrong, or kUnavailable when the key store
  /// cannot be read.
  boost::asio::awaitable<core::Result<store::ApiKey>> authenticate(std::string_view header);

  /// authenticate()'s answer when it needs no store read (a malformed value, a key this node
  /// knows, or one it remembers as unknown), without a coroutine; nullopt: call authenticate().
  std::optional<core::Result<store::ApiKey>> known(std::string_view header);

  /// Forgets every cached answer for the key (disabled, rotated or its limits changed on this
  /// node): the next request reads the store.
  void forget(std::int64_t key_id);

 private:
  /// The answer remembered for a key's hash (a cached key, or a key remembered as unknown).
  std::optional<core::Result<store::ApiKey>> cached(const std::string& hash, std::int64_t now);

  struct Entry {
    store::ApiKey key;
    std::int64_t expires_ms = 0;
  };
  store::Store& store_;
  runtime::BlockingExecutor pool_;
  const core::Clock& clock_;
  std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> cache_;
  // Hashes of keys the store does not know, until when that answer is reused. Bounded.
  static constexpr std::size_t kMaxUnknown = 10'000;
  std::unordered_map<std::string, std::int64_t> unknown_;
};

}  // namespace ig::api
