#include "api/key_gate.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "billing/client_address.hpp"

namespace ig::api {

KeyGate::KeyGate(const core::Clock& clock, billing::CidrSet trusted_proxies)
    : clock_(clock), trusted_(std::move(trusted_proxies)) {}

std::shared_ptr<const billing::CidrSet> KeyGate::allowlist(const store::ApiKey& key) {
  std::lock_guard lock(mu_);
  if (allowlists_.size() > 100'000) {
    allowlists_.clear();  // bounded: lists are parsed again on their key's next request
  }
  auto& p = allowlists_[key.id];
  if (!p.set || p.source != key.limits.ip_allowlist) {
    p.source = key.limits.ip_allowlist;
    auto parsed = billing::CidrSet::parse(p.source);
    if (parsed.ok()) {
      p.set = std::make_shared<const billing::CidrSet>(std::move(*parsed));
    } else {
      // Lists are checked when they are set; one that is not valid admits nobody rather
      // than everybody.
      spdlog::error("key {}: its IP allowlist is not valid: {}", key.id, parsed.error().message);
      p.set = std::make_shared<const billing::CidrSet>();
    }
  }
  return p.set;
}

void KeyGate::share_rates(TakeTokens take, runtime::BlockingExecutor pool) {
  take_ = std::move(take);
  pool_.emplace(pool);
}

core::Status KeyGate::refuse(const store::ApiKey& key, std::int64_t retry_after_s) const {
  auto e = core::make_error(core::ErrorCode::kRateLimited,
                            "too many requests: this API key allows " +
                                std::to_string(key.limits.rpm) + " a minute; retry after " +
                                std::to_string(retry_after_s) + " s");
  e.retry_after_s = retry_after_s;
  return e;
}

core::Status KeyGate::admit_local(const store::ApiKey& key, std::int64_t now_ms) {
  const auto d = rates_.take(key.id, key.limits.rpm, now_ms);
  return d.allowed ? core::ok_status() : refuse(key, d.retry_after_s);
}

core::Status KeyGate::admit(const store::ApiKey& key, const boost::asio::ip::address& peer,
                            std::string_view x_forwarded_for) {
  if (!key.limits.ip_allowlist.empty()) {
    const auto set = allowlist(key);
    const auto client = billing::client_address(peer, x_forwarded_for, trusted_);
    if (!set->contains(client)) {
      return core::make_error(core::ErrorCode::kForbidden,
                              "this API key does not accept requests from " + client.to_string());
    }
  }
  if (key.limits.rpm > 0 && !counts_shared(key)) {
    return admit_local(key, clock_.now_ms());
  }
  return core::ok_status();
}

boost::asio::awaitable<core::Status> KeyGate::take_shared(const store::ApiKey& key) {
  const int rpm = key.limits.rpm;
  const std::int64_t now = clock_.now_ms();
  std::int64_t refused_for_ms = 0;
  {
    std::lock_guard lock(lease_mu_);
    if (leases_.size() > 100'000) {
      leases_.clear();  // bounded: what is dropped is learnt again from the database
    }
    Lease& l = leases_[key.id];
    if (l.rpm != rpm) {
      l = Lease{rpm};  // a changed limit: what was learnt under the old one no longer holds
    }
    if (now < l.refused_until_ms) {
      refused_for_ms = l.refused_until_ms - now;
    } else if (l.tokens > 0 && now < l.tokens_until_ms) {
      --l.tokens;
      co_return core::ok_status();
    } else {
      l.tokens = 0;
    }
  }
  if (refused_for_ms > 0) {
    co_return refuse(key, std::max<std::int64_t>(1, (refused_for_ms + 999) / 1000));
  }
  // A tenth of a second's worth at the key's rate, at least one token and at most 64.
  const int want = std::clamp(rpm / 600, 1, 64);
  auto grant = co_await runtime::offload(*pool_, [this, id = key.id, rpm, want, now] {
    return take_(id, rpm, want, now);
  });
  if (!grant.ok()) {
    // The database is away (every request that needs it fails meanwhile); count on this node.
    std::int64_t last = last_take_error_log_ms_.load(std::memory_order_relaxed);
    if (now - last >= 10'000 &&
        last_take_error_log_ms_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
      spdlog::warn("rate limits: the shared buckets cannot be read ({}); counting on this node",
                   grant.error().message);
    }
    co_return admit_local(key, now);
  }
  {
    std::lock_guard lock(lease_mu_);
    Lease& l = leases_[key.id];
    if (l.rpm == rpm) {
      if (grant->granted > 0) {
        l.tokens += grant->granted - 1;
        l.tokens_until_ms = now + 1000;
      } else {
        l.refused_until_ms = std::max(l.refused_until_ms, now + grant->retry_after_ms);
      }
    }
  }
  if (grant->granted > 0) {
    co_return core::ok_status();
  }
  co_return refuse(key, std::max<std::int64_t>(1, (grant->retry_after_ms + 999) / 1000));
}

}  // namespace ig::api
