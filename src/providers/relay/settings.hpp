#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "core/result.hpp"
#include "providers/factory.hpp"
#include "providers/relay/wire.hpp"

namespace ig::providers::relay {

/// One `[providers.<name>]` section of kind "relay", parsed once. A plain value.
struct RelayConfig {
  std::string name;
  Dialect dialect = Dialect::kJobs;
  /// base_url, api_key, model (the base name: jobs and tasks append -text-to-image or
  /// -image-to-image), connect_timeout, and timeout: the whole run, create to terminal state.
  CommonSettings common;
  std::chrono::milliseconds poll_interval{1000};        // first wait; ×1.5 after each poll
  std::chrono::milliseconds poll_max_interval{10'000};  // the longest wait between polls
  std::chrono::milliseconds request_timeout{60'000};    // one create or status call
  std::chrono::milliseconds download_timeout{300'000};  // one result download
  std::size_t download_max_bytes = 64u * 1024 * 1024;
  int download_attempts = 3;  // per result URL, for network errors, 408, 429 and 5xx
  std::chrono::seconds upload_url_ttl{3600};  // validity of the public URL of an upload
};

/// Reads a relay section: `dialect` (required), read_common()'s keys, poll_interval_ms,
/// poll_max_interval_ms, request_timeout_ms, download_timeout_ms, download_max_bytes,
/// download_attempts, upload_url_ttl_s; the router's keys are left to the router, any other key
/// is refused (check_keys). Errors name the section. Thread-safe.
core::Result<RelayConfig> read_relay_config(const ProviderSettings& s);

}  // namespace ig::providers::relay
