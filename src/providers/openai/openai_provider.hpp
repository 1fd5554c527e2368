#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "providers/factory.hpp"
#include "providers/openai/openai_wire.hpp"
#include "providers/provider.hpp"
#include "runtime/offload.hpp"

namespace ig::http {
class AsyncClient;
}

namespace ig::providers {

/// Settings of one `kind = "openai"` section, read once by make_openai_provider().
struct OpenAiSettings {
  std::string name;
  CommonSettings common;
  openai::Endpoint endpoint;
};

/// OpenAI's Images API (and OpenAI-compatible servers, Azure OpenAI through `auth_header` and
/// `api_version`) as an upstream: text-to-image through /images/generations, image-to-image and
/// masks through /images/edits. The size sent is always one gpt-image-2 takes (the nearest valid
/// one when the client's is not); every image that comes back is checked and fitted to exactly
/// the promised size and format. One call per generate(): retries belong to the router.
/// Thread-safe.
class OpenAiProvider final : public Provider {
 public:
  OpenAiProvider(OpenAiSettings settings, std::shared_ptr<http::AsyncClient> client,
                 runtime::BlockingExecutor blocking);

  std::string_view name() const override { return settings_.name; }
  std::string_view kind() const override { return "openai"; }
  boost::asio::awaitable<GenerateResult> generate(const GenerateJob& job) override;

 private:
  OpenAiSettings settings_;
  std::shared_ptr<http::AsyncClient> client_;
  runtime::BlockingExecutor blocking_;
};

}  // namespace ig::providers
