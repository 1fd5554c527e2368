#include "providers/openai/openai_provider.hpp"

#include <chrono>
#include <utility>

#include <openssl/rand.h>

#include "core/fail_codes.hpp"
#include "core/sizes.hpp"
#include "http/async_client.hpp"
#include "providers/common/image_fit.hpp"

namespace ig::providers {

namespace asio = boost::asio;

namespace {

std::string random_boundary() {
  unsigned char raw[12];
  if (RAND_bytes(raw, sizeof(raw)) != 1) {
    return "imagegate-boundary-0123456789abcdef";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "imagegate-";
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

GenerateResult failure(GenerateError e) {
  GenerateResult r;
  r.http_status = e.http_status;
  r.error = std::move(e);
  return r;
}

/// A transport failure in the router's terms: anything after the request left may have been
/// acted on (and paid for) upstream.
GenerateError transport_error(const http::Error& e, std::string_view route) {
  GenerateError out;
  out.code = std::string(core::fail::kUpstreamError);
  out.message = "upstream " + std::string(route) + ": " + e.message;
  switch (e.kind) {
    case http::ErrorKind::kTls:
    case http::ErrorKind::kInvalidUrl:
      out.cls = FailureClass::kRouteFault;  // the operator's config, not a passing fault
      return out;
    case http::ErrorKind::kTooLarge:
      out.cls = FailureClass::kFailed;  // it answered: the work was done
      return out;
    case http::ErrorKind::kTimeout:
      if (e.sent) {
        out.cls = FailureClass::kUnknown;
        out.code = std::string(core::fail::kUpstreamUnknownOutcome);
        return out;
      }
      out.code = std::string(core::fail::kUpstreamTimeout);
      out.cls = FailureClass::kNoWork;
      return out;
    default:
      break;
  }
  if (e.sent) {
    out.cls = FailureClass::kUnknown;
    out.code = std::string(core::fail::kUpstreamUnknownOutcome);
    return out;
  }
  out.cls = FailureClass::kNoWork;
  return out;
}

}  // namespace

OpenAiProvider::OpenAiProvider(OpenAiSettings settings, std::shared_ptr<http::AsyncClient> client,
                               runtime::BlockingExecutor blocking)
    : settings_(std::move(settings)), client_(std::move(client)), blocking_(blocking) {}

asio::awaitable<GenerateResult> OpenAiProvider::generate(const GenerateJob& job) {
  const core::Size want = job.request.size;
  const core::Size upstream_size = core::nearest_gpt_image_2_size(want);
  http::Request request = job.references.empty()
                              ? openai::generation_request(settings_.endpoint, job, upstream_size)
                              : openai::edit_request(settings_.endpoint, job, upstream_size,
                                                     random_boundary());
  http::CallOptions options;
  options.limits.connect_timeout = settings_.common.connect_timeout;
  options.limits.total_timeout = settings_.common.timeout;
  // Ten 4K images as base64: far below this; a runaway answer is cut.
  options.limits.max_body_bytes = 512u * 1024 * 1024;
  auto response = co_await client_->send(std::move(request), options);
  if (!response) {
    co_return failure(transport_error(response.error(), settings_.name));
  }
  if (response->status < 200 || response->status > 299) {
    co_return failure(openai::read_error(response->status, response->body, *response,
                                         settings_.name, settings_.endpoint.api_key));
  }
  GenerateResult result;
  result.http_status = static_cast<int>(response->status);
  // Parsing, base64-decoding (up to hundreds of MB) and fitting the images is CPU work: not on
  // an I/O thread, and in one trip to the pool.
  const std::string& body = response->body;
  const std::string format(core::effective_output_format(job.request));
  struct Decoded {
    core::Result<openai::Images> images = core::make_error(core::ErrorCode::kInternal, "");
    std::vector<ImageBytes> fitted;
    std::optional<core::Error> unfit;  // the first image that could not be fitted
  };
  Decoded decoded = co_await runtime::offload(blocking_, [&body, want, &format] {
    Decoded d;
    d.images = openai::read_images(body);
    if (d.images) {
      for (auto& bytes : d.images->images) {
        auto fitted = fit_image(std::move(bytes), want, format);
        if (!fitted) {
          d.unfit = fitted.error();
          d.fitted.clear();
          break;
        }
        d.fitted.push_back(std::move(*fitted));
      }
    }
    return d;
  });
  response->body.clear();
  auto upstream_failed = [&](const core::Error& error) {
    GenerateError e;
    e.code = std::string(core::fail::kUpstreamError);
    e.message = "upstream " + settings_.name + ": " + error.message;
    e.cls = FailureClass::kFailed;
    e.http_status = result.http_status;
    return e;
  };
  if (!decoded.images) {
    co_return failure(upstream_failed(decoded.images.error()));
  }
  result.usage = decoded.images->usage;
  if (decoded.unfit) {
    // Paid for but unusable: the call succeeded (usage recorded), the task fails.
    result.error = upstream_failed(*decoded.unfit);
    co_return result;
  }
  result.images = std::move(decoded.fitted);
  co_return result;
}

core::Result<std::shared_ptr<Provider>> make_openai_provider(const ProviderSettings& s,
                                                             const ProviderContext& ctx) {
  auto bad = [&s](std::string_view key, std::string_view why) {
    return setting_error(s, key, why);
  };
  auto common = read_common(s);
  if (!common) {
    return common.error();
  }
  OpenAiSettings settings;
  settings.name = s.name;
  settings.common = *common;
  settings.endpoint.base_url = common->base_url;
  settings.endpoint.api_key = common->api_key;
  settings.endpoint.model = common->model;
  if (auto it = s.options.find("auth_header"); it != s.options.end()) {
    if (it->second != "authorization" && it->second != "api-key") {
      return bad("auth_header", "must be authorization or api-key");
    }
    settings.endpoint.auth_header = it->second;
  }
  if (auto it = s.options.find("api_version"); it != s.options.end()) {
    settings.endpoint.api_version = it->second;
  }
  if (auto it = s.options.find("moderation"); it != s.options.end()) {
    if (it->second != "low" && it->second != "auto") {
      return bad("moderation", "must be low or auto");
    }
    settings.endpoint.moderation = it->second;
  }
  if (auto st = check_keys(s, {"auth_header", "api_version", "moderation", "on_unknown"}); !st) {
    return st.error();
  }
  http::AsyncClientConfig cfg;
  cfg.extra_ca_file = common->extra_ca_file;
  cfg.user_agent = "imagegate";
  std::shared_ptr<http::AsyncClient> client;
  try {
    client = std::make_shared<http::AsyncClient>(ctx.io, cfg);
  } catch (const std::exception& e) {
    return bad("extra_ca_file", e.what());
  }
  return std::shared_ptr<Provider>(
      std::make_shared<OpenAiProvider>(std::move(settings), std::move(client), ctx.blocking));
}

}  // namespace ig::providers
