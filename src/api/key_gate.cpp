#include "api/key_gate.hpp"

#include <spdlog/spdlog.h>

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
  if (key.limits.rpm > 0) {
    const auto d = rates_.take(key.id, key.limits.rpm, clock_.now_ms());
    if (!d.allowed) {
      auto e = core::make_error(core::ErrorCode::kRateLimited,
                                "too many requests: this API key allows " +
                                    std::to_string(key.limits.rpm) +
                                    " a minute; retry after " + std::to_string(d.retry_after_s) +
                                    " s");
      e.retry_after_s = d.retry_after_s;
      return e;
    }
  }
  return core::ok_status();
}

}  // namespace ig::api
