#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

#include "billing/ip_allowlist.hpp"
#include "billing/rate_limiter.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "store/store.hpp"

namespace ig::api {

/// The per-key limits that are checked in memory on every authenticated request, before any
/// work: the IP allowlist (403) and requests per minute (429 with Retry-After). The limits that
/// need the database (active tasks, spend, balance) are checked by the store in the create's
/// own transaction. Thread-safe; nothing here blocks.
class KeyGate {
 public:
  /// `trusted_proxies`: peers whose X-Forwarded-For names the client.
  KeyGate(const core::Clock& clock, billing::CidrSet trusted_proxies);

  /// kForbidden when the key has an allowlist that the client's address is not in;
  /// kRateLimited (retry_after_s set) when the key is over its requests per minute.
  /// `x_forwarded_for`: every X-Forwarded-For line of the request, joined by ','.
  core::Status admit(const store::ApiKey& key, const boost::asio::ip::address& peer,
                     std::string_view x_forwarded_for);

 private:
  std::shared_ptr<const billing::CidrSet> allowlist(const store::ApiKey& key);

  const core::Clock& clock_;
  billing::CidrSet trusted_;
  billing::RateLimiter rates_;
  // Parsed allowlists by key id, re-parsed when the key's list changes.
  struct Parsed {
    std::vector<std::string> source;
    std::shared_ptr<const billing::CidrSet> set;
  };
  std::mutex mu_;
  std::unordered_map<std::int64_t, Parsed> allowlists_;
};

}  // namespace ig::api
