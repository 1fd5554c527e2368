#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "billing/ip_allowlist.hpp"
#include "billing/rate_limiter.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "runtime/offload.hpp"
#include "store/store.hpp"

namespace ig::api {

/// The per-key limits checked on every authenticated request, before any work: the IP
/// allowlist (403) and requests per minute (429 with Retry-After). The limits that need the
/// database (active tasks, spend, balance) are checked by the store in the create's own
/// transaction. Thread-safe; nothing here blocks an I/O thread.
///
/// Requests per minute are counted in memory (one process: the embedded store), or, after
/// share_rates(), in a token bucket per key in the store that every node shares. Then a node
/// takes tokens from the database ahead of need, up to a tenth of a second's worth of the
/// key's rate at once, and spends them within a second or lets them go; and it remembers a
/// refusal until the bucket holds a token again, so refused requests cost the database
/// nothing. Across nodes the limit is never exceeded; a node may refuse while another holds
/// tokens it has not spent, at most that tenth of a second's worth each. While the database
/// cannot be reached, each node counts in memory instead.
class KeyGate {
 public:
  /// Takes up to `want` tokens from `key_id`'s shared bucket (Store::take_rate_tokens);
  /// blocking, so it runs on the blocking pool.
  using TakeTokens = std::function<core::Result<store::RateGrant>(
      std::int64_t key_id, int rpm, int want, std::int64_t now_ms)>;

  /// `trusted_proxies`: peers whose X-Forwarded-For names the client.
  KeyGate(const core::Clock& clock, billing::CidrSet trusted_proxies);

  /// Counts requests per minute with `take` (run on `pool`) from now on. Call before serving.
  void share_rates(TakeTokens take, runtime::BlockingExecutor pool);

  /// kForbidden when the key has an allowlist that the client's address is not in;
  /// kRateLimited (retry_after_s set) when the key is over its requests per minute counted in
  /// memory. `x_forwarded_for`: every X-Forwarded-For line of the request, joined by ','.
  /// When counts_shared(key), the requests per minute are then checked by take_shared(key).
  core::Status admit(const store::ApiKey& key, const boost::asio::ip::address& peer,
                     std::string_view x_forwarded_for);

  /// True when `key` has a requests-per-minute limit counted in the shared store.
  bool counts_shared(const store::ApiKey& key) const {
    return take_ && key.limits.rpm > 0;
  }

  /// The shared requests-per-minute check: kRateLimited (retry_after_s set) when the key's
  /// bucket is empty. Suspends only when it takes tokens from the database.
  boost::asio::awaitable<core::Status> take_shared(const store::ApiKey& key);

 private:
  // What this node knows of a key's shared bucket.
  struct Lease {
    int rpm = 0;                       // the rate the rest was learnt under
    int tokens = 0;                    // taken from the database, not spent yet
    std::int64_t tokens_until_ms = 0;  // spend them before this, or let them go
    std::int64_t refused_until_ms = 0; // the bucket is empty until then
  };

  std::shared_ptr<const billing::CidrSet> allowlist(const store::ApiKey& key);
  core::Status refuse(const store::ApiKey& key, std::int64_t retry_after_s) const;
  core::Status admit_local(const store::ApiKey& key, std::int64_t now_ms);

  const core::Clock& clock_;
  billing::CidrSet trusted_;
  billing::RateLimiter rates_;
  TakeTokens take_;
  std::optional<runtime::BlockingExecutor> pool_;
  std::mutex lease_mu_;
  std::unordered_map<std::int64_t, Lease> leases_;
  std::atomic<std::int64_t> last_take_error_log_ms_{0};
  // Parsed allowlists by key id, re-parsed when the key's list changes.
  struct Parsed {
    std::vector<std::string> source;
    std::shared_ptr<const billing::CidrSet> set;
  };
  std::mutex mu_;
  std::unordered_map<std::int64_t, Parsed> allowlists_;
};

}  // namespace ig::api
