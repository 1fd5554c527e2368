#pragma once

#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "core/result.hpp"
#include "providers/provider.hpp"
#include "runtime/offload.hpp"

namespace ig::providers {

/// One `[providers.<name>]` section as written: every key's value as text (arrays joined by
/// ','). A plain value.
struct ProviderSettings {
  std::string name;
  std::string kind;
  std::map<std::string, std::string> options;  // every key but `kind`
};

/// What the process gives every provider it builds. Outlives the providers.
struct ProviderContext {
  boost::asio::any_io_executor io;   // the I/O threads: network calls run on strands of it
  runtime::BlockingExecutor blocking;  // decoding, resizing, encoding
  /// A URL the upstream can download an image of ours from (an upload of a multipart edit,
  /// stored under `key` in result storage), valid for `ttl`. Empty when the gateway has no
  /// public address; a relay then refuses uploads.
  std::function<std::string(std::string_view key, std::chrono::seconds ttl)> public_url;
  /// Reads an object from result storage (uploads named "upload:<key>"); blocking.
  std::function<core::Result<std::string>(std::string_view key)> read_object;
};

/// The settings every upstream kind shares, read from ProviderSettings by read_common().
struct CommonSettings {
  std::string base_url;                        // the SDK convention: paths are appended
  std::string api_key;                         // from api_key_env or api_key_file; never logged
  std::string model = "gpt-image-2";           // model name sent upstream
  std::chrono::milliseconds timeout{600'000};  // one upstream call
  std::chrono::milliseconds connect_timeout{10'000};
  std::string extra_ca_file;                   // PEM trusted besides the system store
};

/// Reads base_url (required, http:// or https://), api_key_env / api_key_file (exactly one;
/// the variable or file must exist and be non-empty: the error names the provider and the
/// variable or file, never the key), model, timeout_ms, connect_timeout_ms, extra_ca_file.
/// (`concurrency` is the router's: tasks::read_route_settings.) Keys it reads are removed from
/// `unused` (when given), so that the caller can refuse unknown keys.
core::Result<CommonSettings> read_common(const ProviderSettings& s,
                                         std::vector<std::string>* unused = nullptr);

/// A start-up error about a provider section, naming providers.<name>[.<key>].
core::Error setting_error(const ProviderSettings& s, std::string_view key, std::string_view why);

/// An integer option in [min, max], or `fallback` when absent; the error names
/// providers.<name>.<key>.
core::Result<std::int64_t> read_int(const ProviderSettings& s, std::string_view key,
                                    std::int64_t fallback, std::int64_t min, std::int64_t max);

/// The keys the router reads from every section (retries, breaker, unknown-outcome policy).
inline constexpr std::string_view kRouteKeys[] = {"max_retries",      "retry_base_ms",
                                                  "retry_max_ms",     "breaker_failures",
                                                  "breaker_cooldown_ms", "on_unknown"};

/// Refuses a key that is neither read_common's, a route key, nor one of `kind_keys`: a typo in
/// a provider section is a start-up error, not a silently ignored setting.
core::Status check_keys(const ProviderSettings& s,
                        std::initializer_list<std::string_view> kind_keys);

/// Builds one provider from its section; errors are start-up errors naming the section.
using ProviderFactory = std::function<core::Result<std::shared_ptr<Provider>>(
    const ProviderSettings&, const ProviderContext&)>;

/// The factories by kind: "openai", "relay" (and "sandbox", built by the caller).
/// Thread-safe after start-up.
const std::map<std::string, ProviderFactory, std::less<>>& factories();

/// Relay: any of the four task dialects as the upstream (src/providers/relay/).
core::Result<std::shared_ptr<Provider>> make_relay_provider(const ProviderSettings& s,
                                                            const ProviderContext& ctx);
/// OpenAI's Images API and OpenAI-compatible servers (src/providers/openai/).
core::Result<std::shared_ptr<Provider>> make_openai_provider(const ProviderSettings& s,
                                                             const ProviderContext& ctx);

}  // namespace ig::providers
