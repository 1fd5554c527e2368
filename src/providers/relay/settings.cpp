#include "providers/relay/settings.hpp"

#include <cstdint>
#include <string_view>
#include <utility>

#include "core/codec.hpp"

namespace ig::providers::relay {

using std::chrono::milliseconds;

namespace {

core::Error bad(const ProviderSettings& s, std::string_view key, std::string_view why) {
  return setting_error(s, key, why);
}

}  // namespace

core::Result<RelayConfig> read_relay_config(const ProviderSettings& s) {
  if (auto known = check_keys(s, {"dialect", "poll_interval_ms", "poll_max_interval_ms",
                                  "request_timeout_ms", "download_timeout_ms", "download_max_bytes",
                                  "download_attempts", "upload_url_ttl_s"});
      !known) {
    return known.error();
  }
  RelayConfig c;
  c.name = s.name;
  auto dialect_it = s.options.find("dialect");
  if (dialect_it == s.options.end()) {
    return bad(s, "dialect", "is required: jobs, tasks, generations or unified");
  }
  auto dialect = parse_dialect(dialect_it->second);
  if (!dialect) {
    return bad(s, "dialect",
               "must be jobs, tasks, generations or unified, not '" +
                   core::echo_text(dialect_it->second, 40) + "'");
  }
  c.dialect = *dialect;
  auto common = read_common(s);
  if (!common) {
    return common.error();
  }
  c.common = std::move(*common);
  constexpr std::int64_t kDay = 86'400'000;
  auto poll = read_int(s, "poll_interval_ms", c.poll_interval.count(), 10, kDay);
  auto poll_max = read_int(s, "poll_max_interval_ms", c.poll_max_interval.count(), 10, kDay);
  auto request = read_int(s, "request_timeout_ms", c.request_timeout.count(), 100, kDay);
  auto download = read_int(s, "download_timeout_ms", c.download_timeout.count(), 100, kDay);
  auto max_bytes =
      read_int(s, "download_max_bytes", static_cast<std::int64_t>(c.download_max_bytes), 1024,
               std::int64_t{4} * 1024 * 1024 * 1024);
  auto attempts = read_int(s, "download_attempts", c.download_attempts, 1, 100);
  auto ttl = read_int(s, "upload_url_ttl_s", c.upload_url_ttl.count(), 60, 7 * 86'400);
  for (auto* r : {&poll, &poll_max, &request, &download, &max_bytes, &attempts, &ttl}) {
    if (!*r) {
      return r->error();
    }
  }
  c.poll_interval = milliseconds(*poll);
  c.poll_max_interval = milliseconds(*poll_max);
  if (c.poll_max_interval < c.poll_interval) {
    return bad(s, "poll_max_interval_ms", "must not be less than poll_interval_ms");
  }
  c.request_timeout = milliseconds(*request);
  c.download_timeout = milliseconds(*download);
  c.download_max_bytes = static_cast<std::size_t>(*max_bytes);
  c.download_attempts = static_cast<int>(*attempts);
  c.upload_url_ttl = std::chrono::seconds(*ttl);
  return c;
}

}  // namespace ig::providers::relay
