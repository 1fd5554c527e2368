#include "api/auth.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/core/string.hpp>

#include <memory>

#include "core/ids.hpp"

namespace ig::api {

namespace {

// Every authenticated request hashes its key. EVP_sha256() makes OpenSSL 3 look the
// algorithm up on each use, and EVP_Digest allocates a context each time: together over half
// the cost of the hash. The algorithm is fetched once, and each thread keeps one context.
const EVP_MD* sha256() {
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return fetched != nullptr ? fetched : EVP_sha256();
}

struct ContextDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

std::string hash_key(std::string_view key) {
  thread_local const std::unique_ptr<EVP_MD_CTX, ContextDeleter> ctx(EVP_MD_CTX_new());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), key.data(), key.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) {
    // Out of memory in OpenSSL: the one-shot form, which fails the same way or succeeds.
    len = 0;
    EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr);
  }
  return core::to_hex(md, len);
}

core::Result<NewKeySecret> new_key_secret() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    return core::make_error(core::ErrorCode::kInternal, "no randomness available for a key");
  }
  std::string encoded(boost::beast::detail::base64::encoded_size(sizeof(raw)), '\0');
  encoded.resize(boost::beast::detail::base64::encode(encoded.data(), raw, sizeof(raw)));
  // URL- and shell-safe alphabet, no padding.
  for (char& c : encoded) {
    c = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  while (!encoded.empty() && encoded.back() == '=') {
    encoded.pop_back();
  }
  NewKeySecret out;
  out.key = "sk-" + encoded;
  out.prefix = out.key.substr(0, 10);
  out.hash = hash_key(out.key);
  return out;
}

void Authenticator::forget(std::int64_t key_id) {
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [key_id](const auto& kv) { return kv.second.key.id == key_id; });
}

Authenticator::Authenticator(store::Store& store, runtime::BlockingExecutor pool,
                             const core::Clock& clock, std::chrono::milliseconds ttl)
    : store_(store), pool_(pool), clock_(clock), ttl_(ttl) {}

namespace {

core::Error unauthorized(std::string msg) {
  return core::make_error(core::ErrorCode::kUnauthorized, std::move(msg));
}

// The key of an `Authorization: Bearer sk-…` value, or what is wrong with the value.
core::Result<std::string_view> bearer_token(std::string_view header) {
  if (header.empty()) {
    return unauthorized("missing API key: send Authorization: Bearer <key>");
  }
  constexpr std::string_view kBearer = "bearer ";
  if (header.size() <= kBearer.size() ||
      !boost::beast::iequals(header.substr(0, kBearer.size()), kBearer)) {
    return unauthorized("Authorization header must be: Bearer <key>");
  }
  std::string_view token = header.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') {
    token.remove_prefix(1);
  }
  while (!token.empty() && token.back() == ' ') {
    token.remove_suffix(1);
  }
  if (token.size() < 3 || token.substr(0, 3) != "sk-") {
    return unauthorized("invalid API key: keys start with sk-");
  }
  return token;
}

}  // namespace

std::optional<core::Result<store::ApiKey>> Authenticator::cached(const std::string& hash,
                                                                  std::int64_t now) {
  std::lock_guard lock(mu_);
  if (auto it = cache_.find(hash); it != cache_.end() && it->second.expires_ms > now) {
    return it->second.key;
  }
  if (auto it = unknown_.find(hash); it != unknown_.end() && it->second > now) {
    return unauthorized("invalid API key");
  }
  return std::nullopt;
}

std::optional<core::Result<store::ApiKey>> Authenticator::known(std::string_view header) {
  auto token = bearer_token(header);
  if (!token) {
    return token.error();
  }
  return cached(hash_key(*token), clock_.now_ms());
}

boost::asio::awaitable<core::Result<store::ApiKey>> Authenticator::authenticate(
    std::string_view header) {
  auto token = bearer_token(header);
  if (!token) {
    co_return token.error();
  }
  std::string hash = hash_key(*token);
  const std::int64_t now = clock_.now_ms();
  if (auto answer = cached(hash, now)) {
    co_return std::move(*answer);
  }
  {
    std::lock_guard lock(mu_);
    unknown_.erase(hash);  // remembered as unknown once, and expired since
  }
  auto found = co_await runtime::run_here_or_offload(
      store_.inline_point_reads(), pool_, [&] { return store_.find_key_by_hash(hash); });
  if (!found) {
    // The key may well be valid: a client must not be told otherwise (and drop it).
    co_return core::make_error(core::ErrorCode::kUnavailable, "the key store is unavailable");
  }
  auto& key = *found;
  if (!key) {
    // Remembered for a while, so a client retrying a wrong key (or someone trying many) costs
    // no read each time. A key created later cannot be among them: a new key's secret is 256
    // fresh random bits.
    std::lock_guard lock(mu_);
    if (unknown_.size() >= kMaxUnknown) {
      unknown_.erase(unknown_.begin());
    }
    unknown_[hash] = now + ttl_.count();
    co_return unauthorized("invalid API key");
  }
  if (key->disabled) {
    co_return unauthorized("this API key is disabled");
  }
  {
    std::lock_guard lock(mu_);
    if (cache_.size() > 100'000) {
      cache_.clear();
    }
    cache_[hash] = Entry{*key, now + ttl_.count()};
  }
  co_return std::move(*key);
}

}  // namespace ig::api
