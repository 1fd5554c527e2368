#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "core/result.hpp"
#include "http/async_client.hpp"
#include "providers/factory.hpp"
#include "providers/provider.hpp"
#include "providers/relay/wire.hpp"

namespace ig::providers::relay {

/// One `[providers.<name>]` section of kind "relay", parsed once. A plain value.
struct RelayConfig {
  std::string name;
  Dialect dialect = Dialect::kJobs;
  CommonSettings common;  // base_url, api_key, model, timeout (create to terminal state), …
  std::chrono::milliseconds poll_interval{1000};       // first wait; ×1.5 after each poll
  std::chrono::milliseconds poll_max_interval{10'000};  // the longest wait between polls
  std::chrono::milliseconds request_timeout{60'000};   // one create or status call
  std::chrono::milliseconds download_timeout{300'000};  // one result download
  std::size_t download_max_bytes = 64u * 1024 * 1024;
  int download_attempts = 3;  // per result URL, for network errors, 408, 429 and 5xx
  std::chrono::seconds upload_url_ttl{3600};  // validity of the public URL of an upload
};

/// Reads a relay section: `dialect` (required), read_common()'s keys, poll_interval_ms,
/// poll_max_interval_ms, request_timeout_ms, download_timeout_ms, download_max_bytes,
/// download_attempts, upload_url_ttl_s; the router's keys are left to the router, any other key
/// is refused (check_keys). Errors name the section.
core::Result<RelayConfig> read_relay_config(const ProviderSettings& s);

/// How an error answer to a create call is classified: 429, 5xx, 408, 409 and Kie's 455 →
/// kNoWork (with `retry_after`, -1 when none); 401, 402, 403, 404, other 4xx and 3xx →
/// kRouteFault; 400, 413, 422 → kRejected as upstream_rejected with the upstream's message
/// (moderation_blocked when its code names a safety refusal). `status` is the HTTP status or
/// the envelope's code.
GenerateError create_failure(std::string_view provider, const WireError& e,
                             std::chrono::milliseconds retry_after);

/// A create call that got no answer: kRouteFault for TLS or URL errors (the operator's
/// config), kNoWork when nothing was sent, kUnknown (upstream_unknown_outcome) when it may have
/// reached the upstream.
GenerateError create_transport_failure(std::string_view provider, const http::Error& e);

/// An upstream task that ended failed: kRejected moderation_blocked for a safety refusal,
/// else kFailed upstream_error "upstream task <id> failed: <their message>".
GenerateError task_failure(std::string_view upstream_id, const TaskStatus& s);

/// Any of the four task dialects as the upstream: creates the task (or resumes the one named
/// by GenerateJob::resume_upstream_id), reports its id to the job's CallObserver before
/// polling, polls with backoff until a terminal state or `common.timeout` (the whole run, create
/// to terminal state), downloads the results through the AsyncClient and fits them to the
/// promised size and format. One task per generate(): retries and the concurrency limit belong
/// to the router. Cancelling the awaiting coroutine ends the run at its next wait or call
/// (kNoWork before the create was sent, kUnknown with the upstream id after). Thread-safe.
class RelayProvider final : public Provider {
 public:
  RelayProvider(RelayConfig cfg, std::shared_ptr<http::AsyncClient> client, ProviderContext ctx);

  std::string_view name() const override { return cfg_.name; }
  std::string_view kind() const override { return "relay"; }
  bool can_resume() const override { return true; }
  boost::asio::awaitable<GenerateResult> generate(GenerateJob job) override;

  const RelayConfig& config() const { return cfg_; }

 private:
  struct Run;

  using Step = std::optional<GenerateError>;  // nullopt: go on

  boost::asio::awaitable<http::Result<http::Response>> send(http::Request request,
                                                            http::CallLimits limits);
  Step resolve_inputs(Run& run) const;
  boost::asio::awaitable<Step> create(Run& run);
  boost::asio::awaitable<Step> accepted(Run& run);
  boost::asio::awaitable<Step> poll(Run& run);
  boost::asio::awaitable<Step> download(Run& run);
  boost::asio::awaitable<Step> download_one(Run& run, const std::string& url);
  boost::asio::awaitable<Step> fit(Run& run);
  http::Request api_request(const ApiCall& call) const;

  RelayConfig cfg_;
  ProviderContext ctx_;
  std::shared_ptr<http::AsyncClient> client_;
};

}  // namespace ig::providers::relay
