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
#include "providers/relay/failures.hpp"
#include "providers/relay/settings.hpp"
#include "providers/relay/wire.hpp"

namespace ig::providers::relay {

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
  boost::asio::awaitable<GenerateResult> generate(const GenerateJob& job) override;

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
