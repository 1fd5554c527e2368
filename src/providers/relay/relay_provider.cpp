#include "providers/relay/relay_provider.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include "core/codec.hpp"
#include "core/fail_codes.hpp"
#include "http/url.hpp"
#include "providers/common/image_fit.hpp"
#include "providers/openai/openai_wire.hpp"
#include "runtime/offload.hpp"

namespace ig::providers::relay {

namespace asio = boost::asio;
namespace fail = core::fail;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kApiBodyCap = 4u * 1024 * 1024;  // a create or status answer
constexpr int kMaxHardPollErrors = 3;                  // 4xx or unreadable status answers in a row
constexpr int kMaxRedirects = 3;                       // a result URL may redirect to its CDN

/// Retry-After (or retry-after-ms) of an answer; -1 ms when none.
milliseconds retry_after(const http::Response& r) {
  return openai::retry_after(r).value_or(milliseconds(-1));
}

milliseconds remaining(Clock::time_point deadline) {
  return std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
}

std::string seconds_text(milliseconds ms) {
  return std::to_string((ms.count() + 999) / 1000) + " s";
}

asio::awaitable<bool> is_cancelled() {
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none;
}

/// Waits `d`; false when the awaiting coroutine was cancelled.
asio::awaitable<bool> sleep_for(milliseconds d) {
  if (co_await is_cancelled()) {
    co_return false;
  }
  if (d.count() <= 0) {
    co_return true;
  }
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

/// The fitted images of one run; runs on the blocking pool and never throws.
struct FitWork {
  std::vector<std::string> bodies;
  core::Size size;
  std::string format;
};

GenerateResult fit_all(FitWork& work) {
  GenerateResult out;
  try {
    for (std::size_t i = 0; i < work.bodies.size(); ++i) {
      auto image = fit_image(std::move(work.bodies[i]), work.size, work.format);
      if (!image) {
        out.images.clear();
        out.error = make_failure(fail::kUpstreamError,
                                 "result " + std::to_string(i + 1) + ": " + image.error().message,
                                 FailureClass::kFailed);
        return out;
      }
      out.images.push_back(std::move(*image));
    }
  } catch (const std::exception&) {  // std::bad_alloc: fit_image catches the rest
    out.images.clear();
    out.error =
        make_failure(fail::kUpstreamError, "out of memory while fitting the upstream images",
                     FailureClass::kFailed);
  }
  return out;
}

}  // namespace

// --- one run

struct RelayProvider::Run {
  explicit Run(const GenerateJob& j) : job(j) {}

  const GenerateJob& job;  // the caller's, alive for the whole call
  Clock::time_point deadline;
  std::vector<std::string> image_urls;  // what the upstream fetches
  std::string mask_url;
  std::string upstream_id;
  bool resumed = false;
  unsigned last_status = 0;
  TaskStatus done;
  std::vector<std::string> bodies;  // downloaded results
  std::vector<ImageBytes> images;
};

RelayProvider::RelayProvider(RelayConfig cfg, std::shared_ptr<http::AsyncClient> client,
                             ProviderContext ctx)
    : cfg_(std::move(cfg)), ctx_(std::move(ctx)), client_(std::move(client)) {}

http::Request RelayProvider::api_request(const ApiCall& call) const {
  http::Request req;
  req.method = call.method;
  req.url = join_url(cfg_.common.base_url, call.path);
  req.body = call.body;
  if (!cfg_.common.api_key.empty()) {
    req.headers.emplace_back("Authorization", "Bearer " + cfg_.common.api_key);
  }
  req.headers.emplace_back("Accept", "application/json");
  if (!call.body.empty()) {
    req.headers.emplace_back("Content-Type", "application/json");
  }
  return req;
}

asio::awaitable<http::Result<http::Response>> RelayProvider::send(http::Request request,
                                                                  http::CallLimits limits) {
  // A cancellation that came while no operation was pending is not seen by the next one.
  if (co_await is_cancelled()) {
    co_return http::make_error(http::ErrorKind::kCancelled, "cancelled");
  }
  http::CallOptions options;
  options.limits = limits;
  options.limits.connect_timeout = cfg_.common.connect_timeout;
  co_return co_await client_->send(std::move(request), std::move(options));
}

std::optional<GenerateError> RelayProvider::resolve_inputs(Run& run) const {
  auto public_url = [&](const std::string& input, std::string& out) {
    if (!input.starts_with(core::kUploadPrefix)) {
      out = input;
      return true;
    }
    const std::string_view key = std::string_view(input).substr(core::kUploadPrefix.size());
    out = ctx_.public_url ? ctx_.public_url(key, cfg_.upload_url_ttl) : std::string();
    return !out.empty();
  };
  const auto no_public_url = make_failure(
      fail::kUpstreamError, "relay cannot pass uploaded images without server.public_url",
      FailureClass::kRouteFault);
  for (const std::string& input : run.job.request.input_urls) {
    std::string url;
    if (!public_url(input, url)) {
      return no_public_url;
    }
    run.image_urls.push_back(std::move(url));
  }
  if (!run.job.request.mask_url.empty()) {
    if (cfg_.dialect != Dialect::kUnified) {
      return make_failure(fail::kUpstreamError,
                          "the " + std::string(to_string(cfg_.dialect)) + " upstream takes no mask",
                          FailureClass::kRouteFault);
    }
    if (!public_url(run.job.request.mask_url, run.mask_url)) {
      return no_public_url;
    }
  }
  return std::nullopt;
}

asio::awaitable<RelayProvider::Step> RelayProvider::create(Run& run) {
  const CreateParams params =
      relay_params(cfg_.dialect, run.job.request, run.image_urls, run.mask_url, cfg_.common.model);
  const ApiCall call = create_call(cfg_.dialect, params);
  http::CallLimits limits;
  limits.total_timeout = std::min(cfg_.request_timeout, remaining(run.deadline));
  limits.max_body_bytes = kApiBodyCap;
  auto r = co_await send(api_request(call), limits);
  if (!r) {
    if (r.error().kind == http::ErrorKind::kCancelled && !r.error().sent) {
      co_return make_failure("cancelled", "cancelled before the upstream call",
                             FailureClass::kNoWork);
    }
    co_return create_transport_failure(cfg_.name, r.error());
  }
  run.last_status = r->status;
  auto id = read_created(cfg_.dialect, r->status, r->body);
  if (!id) {
    co_return create_failure(cfg_.name, id.error(), retry_after(*r));
  }
  run.upstream_id = std::move(*id);
  co_return std::nullopt;
}

asio::awaitable<RelayProvider::Step> RelayProvider::accepted(Run& run) {
  if (run.job.observer == nullptr) {
    co_return std::nullopt;
  }
  bool ours = false;
  std::string why;
  try {
    ours = co_await run.job.observer->upstream_accepted(run.upstream_id);
  } catch (const std::exception& e) {
    why = e.what();
  }
  if (!why.empty()) {
    co_return make_failure(fail::kUpstreamUnknownOutcome,
                           "upstream task " + quote_upstream(run.upstream_id) +
                               " was created but could not be recorded: " + quote_upstream(why),
                           FailureClass::kUnknown);
  }
  if (!ours) {
    co_return make_failure(fail::kUpstreamError,
                           "the task is no longer ours; upstream task " +
                               quote_upstream(run.upstream_id) + " is left alone",
                           FailureClass::kFailed);
  }
  co_return std::nullopt;
}

asio::awaitable<RelayProvider::Step> RelayProvider::poll(Run& run) {
  const std::string id = quote_upstream(run.upstream_id);
  // A resumed task may have ended long ago: asked at once.
  milliseconds delay = run.resumed ? milliseconds(0) : cfg_.poll_interval;
  std::string last_state = "unknown";
  std::string last_problem;
  int hard_errors = 0;
  const GenerateError cancelled =
      make_failure(fail::kUpstreamUnknownOutcome, "cancelled while upstream task " + id + " runs",
                   FailureClass::kUnknown);
  for (;;) {
    if (!co_await sleep_for(std::min(delay, remaining(run.deadline)))) {
      co_return cancelled;
    }
    if (remaining(run.deadline).count() <= 0) {
      std::string message = "upstream task " + id + " did not finish within " +
                            seconds_text(cfg_.common.timeout) +
                            " (last state: " + quote_upstream(last_state) + ")";
      if (!last_problem.empty()) {
        message += "; last error: " + last_problem;
      }
      co_return make_failure(fail::kUpstreamTimeout, std::move(message), FailureClass::kUnknown);
    }
    delay = delay.count() == 0
                ? cfg_.poll_interval
                : std::min(milliseconds(delay.count() * 3 / 2), cfg_.poll_max_interval);
    http::CallLimits limits;
    limits.total_timeout = std::min(cfg_.request_timeout, remaining(run.deadline));
    limits.max_body_bytes = kApiBodyCap;
    auto r = co_await send(api_request(status_call(cfg_.dialect, run.upstream_id)), limits);
    if (!r) {
      if (r.error().kind == http::ErrorKind::kCancelled) {
        co_return cancelled;
      }
      last_problem = quote_upstream(r.error().message);
      continue;  // the network: until the deadline
    }
    run.last_status = r->status;
    auto s = read_status(cfg_.dialect, r->status, r->body);
    if (!s) {
      last_problem = quote_upstream(s.error().message);
      if (transient_status(s.error().status)) {
        hard_errors = 0;
        delay = std::max(delay, retry_after(*r));
        continue;
      }
      if (++hard_errors >= kMaxHardPollErrors) {
        co_return make_failure(fail::kUpstreamError,
                               "polling upstream task " + id + " failed: " + last_problem,
                               FailureClass::kFailed, static_cast<int>(r->status));
      }
      continue;
    }
    hard_errors = 0;
    last_state = s->state;
    if (s->phase == Phase::kFailed) {
      co_return task_failure(run.upstream_id, *s);
    }
    if (s->phase == Phase::kSucceeded) {
      run.done = std::move(*s);
      co_return std::nullopt;
    }
  }
}

asio::awaitable<RelayProvider::Step> RelayProvider::download_one(Run& run, const std::string& url) {
  const std::string what =
      "downloading a result of upstream task " + quote_upstream(run.upstream_id);
  // Relative URLs are on the server that answered the status call.
  const std::string status_url =
      join_url(cfg_.common.base_url, status_call(cfg_.dialect, run.upstream_id).path);
  std::string problem;
  for (int attempt = 1; attempt <= cfg_.download_attempts; ++attempt) {
    if (attempt > 1 && !co_await sleep_for(milliseconds(1000 * (attempt - 1)))) {
      break;
    }
    auto target = http::resolve_location(status_url, url);
    if (!target) {
      co_return make_failure(fail::kUpstreamError,
                             what + ": " + quote_upstream(target.error().message),
                             FailureClass::kFailed);
    }
    std::string current = std::move(*target);
    bool retry = false;
    for (int hop = 0; hop <= kMaxRedirects; ++hop) {
      http::Request req;
      req.url = current;  // no Authorization: result URLs are signed, often on a CDN
      http::CallLimits limits;
      limits.total_timeout = cfg_.download_timeout;
      limits.max_body_bytes = cfg_.download_max_bytes;
      auto r = co_await send(std::move(req), limits);
      if (!r) {
        if (r.error().kind == http::ErrorKind::kCancelled) {
          co_return make_failure(fail::kUpstreamUnknownOutcome, what + ": cancelled",
                                 FailureClass::kUnknown);
        }
        problem = quote_upstream(r.error().message);
        retry = r.error().kind != http::ErrorKind::kTooLarge &&
                r.error().kind != http::ErrorKind::kInvalidUrl;
        break;
      }
      run.last_status = r->status;
      if (r->status >= 200 && r->status < 300) {
        run.bodies.push_back(std::move(r->body));
        co_return std::nullopt;
      }
      if (http::is_redirect(r->status) && hop < kMaxRedirects) {
        auto next = http::resolve_location(current, r->header("Location"));
        if (!next) {
          problem = "HTTP " + std::to_string(r->status) + " without a usable Location";
          break;
        }
        current = std::move(*next);
        continue;
      }
      problem = "HTTP " + std::to_string(r->status);
      retry = transient_status(r->status);
      break;
    }
    if (!retry) {
      break;
    }
  }
  if (co_await is_cancelled()) {
    co_return make_failure(fail::kUpstreamUnknownOutcome, what + ": cancelled",
                           FailureClass::kUnknown);
  }
  co_return make_failure(fail::kUpstreamError, what + " failed: " + problem, FailureClass::kFailed);
}

asio::awaitable<RelayProvider::Step> RelayProvider::download(Run& run) {
  const std::size_t want = static_cast<std::size_t>(std::max(run.job.request.n, 1));
  const auto& urls = run.done.urls;
  if (urls.size() < want) {
    co_return make_failure(fail::kUpstreamError,
                           "upstream task " + quote_upstream(run.upstream_id) + " succeeded with " +
                               std::to_string(urls.size()) + " result URL(s); " +
                               std::to_string(want) + " expected",
                           FailureClass::kFailed);
  }
  for (std::size_t i = 0; i < want; ++i) {
    if (auto failed = co_await download_one(run, urls[i])) {
      co_return failed;
    }
  }
  co_return std::nullopt;
}

asio::awaitable<RelayProvider::Step> RelayProvider::fit(Run& run) {
  // The pool task owns its input: the awaiter may go away while the pool works. offload's
  // callable holds only a raw pointer (g++ 12 destroys a coroutine lambda's captures twice,
  // GCC PR 100611; see sandbox_provider.cpp).
  auto* owned = new FitWork{std::move(run.bodies), run.job.request.size,
                            std::string(core::effective_output_format(run.job.request))};
  auto work = [owned]() {
    const std::unique_ptr<FitWork> own(owned);
    return fit_all(*own);
  };
  GenerateResult fitted = co_await runtime::offload(ctx_.blocking, work);
  if (fitted.error) {
    fitted.error->message =
        "upstream task " + quote_upstream(run.upstream_id) + ": " + fitted.error->message;
    co_return std::move(fitted.error);
  }
  run.images = std::move(fitted.images);
  co_return std::nullopt;
}

asio::awaitable<GenerateResult> RelayProvider::generate(const GenerateJob& job) {
  // Cancellation is read from each operation's error code, never thrown.
  co_await asio::this_coro::throw_if_cancelled(false);
  Run run{job};
  run.deadline = Clock::now() + cfg_.common.timeout;
  GenerateResult result;
  auto finish = [&](Step error) {
    result.error = std::move(error);
    result.upstream_id = run.upstream_id;
    result.http_status = static_cast<int>(run.last_status);
    if (result.error) {
      // An upstream that echoes our key (or part of one) in its message: masked.
      result.error->message = openai::mask_secrets(result.error->message, cfg_.common.api_key);
      result.error->http_status = result.error->http_status != 0
                                      ? result.error->http_status
                                      : static_cast<int>(run.last_status);
    }
    return std::move(result);
  };
  if (run.job.request.n > 1 && cfg_.dialect != Dialect::kUnified) {
    co_return finish(make_failure(
        fail::kUpstreamError,
        "the " + std::string(to_string(cfg_.dialect)) + " upstream makes one image per task",
        FailureClass::kRouteFault));
  }
  if (!run.job.resume_upstream_id.empty()) {
    run.upstream_id = run.job.resume_upstream_id;
    run.resumed = true;
  } else {
    if (auto bad_inputs = resolve_inputs(run)) {
      co_return finish(std::move(bad_inputs));
    }
    if (auto failed = co_await create(run)) {
      co_return finish(std::move(failed));
    }
    if (auto failed = co_await accepted(run)) {
      co_return finish(std::move(failed));
    }
  }
  if (auto failed = co_await poll(run)) {
    co_return finish(std::move(failed));
  }
  if (auto failed = co_await download(run)) {
    co_return finish(std::move(failed));
  }
  if (auto failed = co_await fit(run)) {
    co_return finish(std::move(failed));
  }
  result.images = std::move(run.images);
  co_return finish(std::nullopt);
}

}  // namespace ig::providers::relay

namespace ig::providers {

core::Result<std::shared_ptr<Provider>> make_relay_provider(const ProviderSettings& s,
                                                            const ProviderContext& ctx) {
  auto cfg = relay::read_relay_config(s);
  if (!cfg) {
    return cfg.error();
  }
  try {
    http::AsyncClientConfig client_cfg;
    client_cfg.extra_ca_file = cfg->common.extra_ca_file;
    auto client = std::make_shared<http::AsyncClient>(ctx.io, client_cfg);
    return std::shared_ptr<Provider>(
        std::make_shared<relay::RelayProvider>(std::move(*cfg), std::move(client), ctx));
  } catch (const std::exception& e) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "providers." + s.name + ": " + e.what());
  }
}

}  // namespace ig::providers
