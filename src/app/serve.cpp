#include "app/serve.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <openssl/rand.h>

#include <spdlog/fmt/ranges.h>
#include <spdlog/async.h>
#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/detail/base64.hpp>

#include "api/admin.hpp"
#include "app/allocator.hpp"
#include "http/async_client.hpp"
#include "api/auth.hpp"
#include "api/dialect_dispatch.hpp"
#include "api/key_gate.hpp"
#include "api/metrics.hpp"
#include "api/router.hpp"
#include "api/server.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "media/fetcher.hpp"
#include "media/probe.hpp"
#include "providers/factory.hpp"
#include "providers/sandbox/sandbox_provider.hpp"
#include "runtime/time_slice.hpp"
#include "storage/fs_storage.hpp"
#include "storage/s3_storage.hpp"
#include "storage/secret.hpp"
#include "storage/url_signer.hpp"
#include "store/pg/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "tasks/callback_sender.hpp"
#include "tasks/dispatcher.hpp"
#include "tasks/input_source.hpp"
#include "tasks/janitor.hpp"
#include "tasks/task_events.hpp"
#include "tasks/task_service.hpp"
#include "tasks/upstream_router.hpp"

namespace ig::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

namespace {

// The open client connections of each I/O thread (the server balances new ones across them).
std::string connection_metrics(const api::Server& server) {
  std::string out =
      "# HELP imagegate_http_connections Open client connections, by I/O thread.\n"
      "# TYPE imagegate_http_connections gauge\n";
  const std::vector<std::size_t> open = server.open_connections();
  for (std::size_t i = 0; i < open.size(); ++i) {
    out += fmt::format("imagegate_http_connections{{io_thread=\"{}\"}} {}\n", i, open[i]);
  }
  return out;
}

// The server logs through a thread of its own: a request's access-log line is formatted and
// queued by the I/O thread, and written to stderr by the log thread, so a slow terminal, pipe
// or disk never holds a request. When the queue (8,192 lines) is full, the logging thread
// waits: lines are never dropped. Warnings and worse are flushed at once.
void init_logging(const std::string& level) {
  spdlog::init_thread_pool(8192, 1);
  auto sync = spdlog::default_logger();
  auto async = std::make_shared<spdlog::async_logger>(sync->name(), sync->sinks().begin(),
                                                      sync->sinks().end(), spdlog::thread_pool(),
                                                      spdlog::async_overflow_policy::block);
  async->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(async));
  spdlog::set_level(spdlog::level::from_str(level));
}

std::optional<asio::ip::tcp::endpoint> parse_listen(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) {
    return std::nullopt;
  }
  std::string host = s.substr(0, colon);
  const std::string port = s.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) {
    return std::nullopt;
  }
  int p = -1;
  try {
    p = std::stoi(port);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (p < 0 || p > 65535) {
    return std::nullopt;
  }
  return asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(p));
}

std::string lease_owner() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return std::string(host) + ":" + std::to_string(getpid()) + ":" +
         core::random_alnum(core::default_random(), 6);
}

/// The configured result storage; `s3` points into `storage` when it is a bucket.
struct OpenedResults {
  std::unique_ptr<storage::ResultStorage> storage;
  storage::S3ResultStorage* s3 = nullptr;
};

core::Result<OpenedResults> open_results(const Config& config, const core::Clock& clock) {
  if (config.result_storage != "s3") {
    return OpenedResults{
        std::make_unique<storage::FsResultStorage>(config.data_dir / "results", clock), nullptr};
  }
  const auto refuse = [](std::string why) {
    return core::make_error(core::ErrorCode::kInvalidRequest, std::move(why));
  };
  if (config.s3_bucket.empty()) {
    return refuse("s3.bucket is required when results.storage = \"s3\"");
  }
  if (!config.s3_endpoint.empty() && !config.s3_endpoint.starts_with("http://") &&
      !config.s3_endpoint.starts_with("https://")) {
    return refuse("s3.endpoint: expected an http:// or https:// URL, got '" + config.s3_endpoint +
                  "'");
  }
  auto credentials = storage::load_s3_credentials(
      config.s3_access_key_env, config.s3_secret_key_env, config.s3_credentials_file);
  if (!credentials) {
    return credentials.error();
  }
  storage::S3Settings settings{config.s3_endpoint, config.s3_bucket,   config.s3_region,
                               config.s3_path_style, std::move(*credentials),
                               ms(config.s3_timeout_ms)};
  auto s3 = std::make_unique<storage::S3ResultStorage>(std::move(settings), clock);
  const std::string where = config.s3_endpoint.empty() ? "AWS " + config.s3_region
                                                       : config.s3_endpoint;
  // Not fatal: every node must be able to start while S3 is briefly away; reads and writes
  // fail cleanly until it is back.
  if (auto probe = s3->client().list_objects("", "", 1); !probe) {
    spdlog::warn("results: s3 bucket {} at {} is not reachable now: {}", config.s3_bucket, where,
                 probe.error().message);
  }
  spdlog::info("results in s3 bucket {} at {} ({}, served {})", config.s3_bucket, where,
               config.s3_path_style ? "path-style" : "virtual-hosted", config.s3_serve);
  auto* raw = s3.get();
  return OpenedResults{std::move(s3), raw};
}

}  // namespace

core::Result<std::unique_ptr<store::Store>> open_store(const Config& config) {
  if (!config.store_url.empty()) {
    if (!config.store_url.starts_with("postgres://") &&
        !config.store_url.starts_with("postgresql://")) {
      return core::make_error(core::ErrorCode::kInvalidRequest,
                              "store.url: expected postgres://user:password@host:port/database");
    }
    store::PgOptions opts;
    opts.url = config.store_url;
    opts.pool_size = config.store_pool_size;
    auto pg = store::PgStore::open(opts);
    if (!pg) {
      // The URL holds a password: name the setting, not its value.
      return core::make_error(pg.error().code,
                              pg.error().message + " (the PostgreSQL of store.url)");
    }
    spdlog::info("store: PostgreSQL, up to {} connections", config.store_pool_size);
    return std::unique_ptr<store::Store>(std::move(*pg));
  }
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return core::make_error(
        core::ErrorCode::kInternal,
        "cannot create data dir " + config.data_dir.string() + ": " + ec.message());
  }
  store::SqliteOptions opts;
  opts.path = config.data_dir / "imagegate.db";
  opts.synchronous = config.sqlite_synchronous;
  opts.task_cache = static_cast<std::size_t>(config.sqlite_task_cache);
  auto sqlite = store::SqliteStore::open(opts);
  if (!sqlite) {
    return sqlite.error();
  }
  return std::unique_ptr<store::Store>(std::move(*sqlite));
}

namespace {

/// Builds every configured provider with its kind's factory, the built-in sandbox, and the
/// router over them; checks that every route names a provider. Errors are start-up errors.
core::Result<std::unique_ptr<tasks::UpstreamRouter>> build_router(
    const Config& config, const providers::ProviderContext& ctx,
    std::shared_ptr<providers::Provider> sandbox) {
  std::map<std::string, tasks::RouteSpec> routes;
  tasks::RouteSettings sandbox_route;
  sandbox_route.concurrency = std::max(1, config.concurrency);
  sandbox_route.max_retries = 0;
  routes["sandbox"] = tasks::RouteSpec{std::move(sandbox), sandbox_route};
  for (const auto& section : config.providers) {
    providers::ProviderSettings settings{section.name, section.kind, section.options};
    const auto& kinds = providers::factories();
    auto factory = kinds.find(section.kind);
    if (factory == kinds.end()) {
      return core::make_error(core::ErrorCode::kInvalidRequest,
                              "providers." + section.name + ".kind: unknown kind '" + section.kind +
                                  "' (openai or relay)");
    }
    auto provider = factory->second(settings, ctx);
    if (!provider) {
      return provider.error();
    }
    // The factory has read and checked the section (the key included); the route reads only
    // its own keys.
    auto route = tasks::read_route_settings(settings);
    if (!route) {
      return route.error();
    }
    routes[section.name] = tasks::RouteSpec{std::move(*provider), *route};
    spdlog::info("provider {} ({}) at {}", section.name, section.kind,
                 settings.options.at("base_url"));
  }
  if (config.routing.empty() && !config.providers.empty()) {
    // Without routes every task would still go to the sandbox: fake images in place of the
    // operator's upstream, silently.
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "providers." + config.providers.front().name +
                                " is configured but [routing] is missing; add for example "
                                "[routing] \"gpt-image-2\" = [\"" +
                                config.providers.front().name + "\"]");
  }
  for (const auto& [family, names] : config.routing) {
    for (const auto& name : names) {
      if (!routes.contains(name)) {
        return core::make_error(core::ErrorCode::kInvalidRequest,
                                "routing." + family + ": no provider is called " + name);
      }
    }
    spdlog::info("route {} -> {}", family, fmt::join(names, ", "));
  }
  return std::make_unique<tasks::UpstreamRouter>(std::move(routes), config.routing);
}

}  // namespace

int serve(const Config& config) {
  init_logging(config.log_level);
  media::init_vips("imagegate");
  auto endpoint = parse_listen(config.listen);
  if (!endpoint) {
    spdlog::critical("invalid listen address '{}': expected HOST:PORT", config.listen);
    return 2;
  }
  auto opened = open_store(config);
  if (!opened) {
    spdlog::critical("{}", opened.error().message);
    return 1;
  }
  std::unique_ptr<store::Store> store = std::move(*opened);

  core::SystemClock clock;
  const unsigned io_threads = config.io_threads > 0
                                  ? static_cast<unsigned>(config.io_threads)
                                  : std::max(1u, std::thread::hardware_concurrency());
  // One context per I/O thread, each run by that thread alone. The first also runs the
  // dispatcher, callbacks, janitor and signals; every one accepts connections from the
  // listening socket, so a request is served start to end on one thread, with no lock or
  // wake-up shared with the others.
  asio::io_context ioc(1);
  std::vector<std::unique_ptr<asio::io_context>> more_iocs;
  std::vector<asio::io_context*> iocs{&ioc};
  for (unsigned i = 1; i < io_threads; ++i) {
    iocs.push_back(more_iocs.emplace_back(std::make_unique<asio::io_context>(1)).get());
  }
  const auto stop_all = [&iocs] {
    for (auto* c : iocs) {
      c->stop();
    }
  };
  asio::thread_pool pool(static_cast<std::size_t>(config.blocking_threads));

  auto opened_results = open_results(config, clock);
  if (!opened_results) {
    spdlog::critical("{}", opened_results.error().message);
    return 2;
  }
  storage::ResultStorage& results = *opened_results->storage;
  // serve = "presigned": URLs handed out are the bucket's own, expiring with ours.
  std::function<std::string(std::string_view, std::int64_t)> object_url;
  if (opened_results->s3 != nullptr && config.s3_serve == "presigned") {
    object_url = [s3 = opened_results->s3, ttl = config.result_ttl_s](std::string_view key,
                                                                      std::int64_t expires_s) {
      return s3->presigned_url(key, expires_s, ttl);
    };
  }
  auto secret = storage::load_or_create_secret(config.signing_key_file.empty()
                                                   ? config.data_dir / "url-signing.key"
                                                   : config.signing_key_file);
  if (!secret) {
    spdlog::critical("{}", secret.error().message);
    return 1;
  }
  storage::UrlSigner signer(*secret);

  media::FetchConfig fetch;
  fetch.max_bytes = static_cast<std::size_t>(config.input_max_bytes);
  fetch.connect_timeout = ms(config.connect_timeout_ms);
  fetch.total_timeout = ms(config.fetch_timeout_ms);
  fetch.max_redirects = config.max_redirects;
  fetch.extra_ca_file = config.extra_ca_file;
  for (const auto& c : config.unsafe_allow_cidrs) {
    auto cidr = media::parse_cidr(c);
    if (!cidr) {
      spdlog::critical("media.unsafe_allow_cidrs: '{}' is not a CIDR", c);
      return 2;
    }
    spdlog::warn("SSRF protection relaxed for {} (media.unsafe_allow_cidrs): tests only", c);
    fetch.unsafe_allow.push_back(*cidr);
  }
  media::Fetcher fetcher(ioc.get_executor(), fetch);
  tasks::MediaInputSource inputs(fetcher, results, pool.get_executor(), config.input_max_pixels,
                                 static_cast<std::size_t>(config.input_max_bytes));

  providers::SandboxConfig sandbox;
  sandbox.latency = ms(config.sandbox_latency_ms);
  sandbox.failure_rate = config.sandbox_failure_rate;
  // Upstreams may download images uploaded to us (multipart edits) from result storage
  // through a signed URL; the base is known once the listener is bound.
  std::string public_base;
  providers::ProviderContext provider_ctx{ioc.get_executor(), pool.get_executor(), {}, {}};
  provider_ctx.public_url = [&public_base, &signer, &clock, &object_url](
                                std::string_view key, std::chrono::seconds ttl) {
    const std::string path = "/files/" + std::string(key);
    const std::int64_t expires = clock.now_ms() / 1000 + ttl.count();
    if (object_url) {
      return object_url(key, expires);
    }
    return public_base + path + "?" + signer.signed_query(path, expires);
  };
  provider_ctx.read_object = [&results](std::string_view key) {
    return results.read(key, 0, std::numeric_limits<std::uint64_t>::max());
  };
  auto built =
      build_router(config, provider_ctx,
                   std::make_shared<providers::SandboxProvider>(sandbox, pool.get_executor()));
  if (!built) {
    spdlog::critical("{}", built.error().message);
    return 2;
  }
  tasks::UpstreamRouter& upstreams = **built;

  tasks::DispatcherConfig dcfg;
  dcfg.concurrency = config.concurrency;
  dcfg.lease = ms(config.lease_ms);
  dcfg.poll = ms(config.poll_ms);
  dcfg.max_attempts = config.max_attempts;
  dcfg.owner = lease_owner();
  tasks::Dispatcher dispatcher(ioc, pool.get_executor(), *store, upstreams, inputs, results, clock,
                               dcfg);
  // Callbacks: their own client (no proxy, the input fetcher's address rules, the test CA
  // when one is configured), bodies rendered by the router once it exists.
  http::AsyncClientConfig callback_client_config;
  callback_client_config.extra_ca_file = config.extra_ca_file;
  callback_client_config.proxy_from_environment = false;
  std::unique_ptr<http::AsyncClient> callback_client;
  try {
    callback_client =
        std::make_unique<http::AsyncClient>(ioc.get_executor(), std::move(callback_client_config));
  } catch (const std::exception& e) {
    spdlog::critical("callbacks: {}", e.what());
    return 2;
  }
  std::unique_ptr<api::Router> router;
  tasks::CallbackSenderConfig ccfg;
  ccfg.concurrency = config.callback_concurrency;
  ccfg.timeout = ms(config.callback_timeout_ms);
  // A delivery cut by a crash is sent again once its lease ends: no longer than an attempt
  // can take, plus room to record it.
  ccfg.lease = ccfg.timeout + std::chrono::seconds(20);
  for (auto s : config.callback_extra_retries_s) {
    ccfg.retries.push_back(std::chrono::seconds(s));
  }
  tasks::CallbackSender callbacks(
      ioc, pool.get_executor(), *store, *callback_client, media::AddressPolicy(fetch.unsafe_allow),
      [&router](const core::Task& t) {
        return api::task_in_own_dialect(t, router->result_urls(t), router->urls_expire_at_s(t))
            .body();
      },
      clock, ccfg);
  tasks::TaskService task_service(
      *store, results, pool.get_executor(), clock, core::default_random(),
      [&dispatcher] { dispatcher.wake(); },
      [&dispatcher](std::int64_t row) { dispatcher.abandon(row); },
      config.input_max_pixels);
  tasks::TaskEvents task_events;
  dispatcher.set_events(&task_events);
  // The one "task ended" signal: the callback sender finds the task's outbox row at once.
  task_events.on_end([&callbacks](std::string_view) { callbacks.wake(); });
  task_service.set_events(&task_events);
  task_service.set_starter(&dispatcher);
  task_service.set_prices(&config.prices);
  task_service.set_callback_policy(media::AddressPolicy(fetch.unsafe_allow));
  tasks::Janitor janitor(ioc.get_executor(), pool.get_executor(), results, clock,
                         std::chrono::seconds(config.result_ttl_s),
                         std::chrono::seconds(config.janitor_interval_s));

  api::Metrics metrics;
  api::Authenticator auth(*store, pool.get_executor(), clock, ms(config.key_cache_ms));
  auto trusted = billing::CidrSet::parse(config.trusted_proxies);
  if (!trusted) {
    spdlog::critical("auth.trusted_proxies: {}", trusted.error().message);
    return 2;
  }
  api::KeyGate gate(clock, std::move(*trusted));
  if (store->shared_by_nodes()) {
    // Several nodes may serve one key: its requests per minute are counted in the store.
    gate.share_rates(
        [&store](std::int64_t key_id, int rpm, int want, std::int64_t now_ms) {
          return store->take_rate_tokens(key_id, rpm, want, now_ms);
        },
        pool.get_executor());
  }
  std::unique_ptr<api::AdminApi> admin;
  if (!config.admin_token.empty()) {
    if (config.admin_token.size() < 16) {
      spdlog::critical("admin.token must be at least 16 characters");
      return 2;
    }
    admin = std::make_unique<api::AdminApi>(config.admin_token, *store, auth, pool.get_executor(),
                                            clock);
    admin->set_on_redeliver([&callbacks] { callbacks.wake(); });
  }
  if (!config.console_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(config.console_dir, ec)) {
      spdlog::critical("console.dir {} is not a directory", config.console_dir.string());
      return 2;
    }
    spdlog::info("console served from {} (console.dir), read on every request",
                 config.console_dir.string());
  }
  api::ServerLimits limits;
  limits.max_header_bytes = static_cast<std::size_t>(config.max_header_bytes);
  limits.max_body_bytes = static_cast<std::size_t>(config.max_body_bytes);
  limits.max_upload_bytes = static_cast<std::size_t>(config.max_upload_bytes);
  limits.upload_memory_bytes = static_cast<std::size_t>(config.upload_memory_bytes);
  limits.idle_timeout = ms(config.idle_timeout_ms);
  limits.request_timeout = ms(config.request_timeout_ms);
  limits.min_body_bytes_per_s = static_cast<std::size_t>(config.min_body_rate);
  limits.max_connections = static_cast<std::size_t>(config.max_connections);

  api::Server server(
      iocs, limits,
      [&router](api::Request& req, api::RequestInfo& info) { return router->handle(req, info); },
      [&router](std::string_view target, const core::Error& e) {
        return router->render_error(target, e);
      },
      metrics);
  server.set_upload_gate(
      [&router](const api::Request::header_type& h) { return router->check_upload(h); });
  if (auto st = server.listen(*endpoint); !st) {
    spdlog::critical("{}", st.error().message);
    return 1;
  }
  const auto bound = server.local_endpoint();
  std::string host = bound.address().to_string();
  if (bound.address().is_unspecified()) {
    host = "127.0.0.1";
  }
  if (bound.address().is_v6()) {
    host = "[" + host + "]";
  }
  public_base = config.public_url.empty() ? "http://" + host + ":" + std::to_string(bound.port())
                                          : config.public_url;
  router = std::make_unique<api::Router>(api::RouterDeps{
      task_service, auth, results, signer, *store, metrics, pool.get_executor(), clock, public_base,
      config.result_ttl_s, [&server] { return !server.draining(); }, ms(config.sync_timeout_ms),
      [&upstreams, &server] { return upstreams.metrics() + connection_metrics(server); }, &gate,
      admin.get(),
      static_cast<std::size_t>(config.answer_memory_bytes), config.console_dir, object_url});
  if (admin) {
    admin->set_links(api::AdminLinks{
        &task_service, [&upstreams] { return upstreams.status(); },
        [&router](std::string_view key, std::int64_t expires_s) {
          return router->file_url(key, expires_s);
        },
        config.result_ttl_s});
  }

  if (!config.port_file.empty()) {
    std::ofstream(config.port_file) << bound.port() << "\n";
  }
  server.start();
  dispatcher.start();
  callbacks.start();
  janitor.start();
  spdlog::info("imagegate listening on http://{}:{} (data dir {}, {} I/O threads, malloc: {})",
               host, bound.port(), config.data_dir.string(), io_threads, allocator_in_use());

  // First SIGTERM/SIGINT: drain within drain_timeout_ms in all. In-flight requests may finish
  // until the deadline (the dispatcher keeps running tasks meanwhile, so a waiting synchronous
  // request can get its image); there the server cancels the handlers still running (their
  // requests are answered 503) and waits until they have ended, so nothing torn down below is
  // still in use by a request. Then running tasks are cancelled and their leases handed back.
  // A second signal stops at once; leases left behind expire and other processes take the
  // tasks.
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  std::function<void(boost::system::error_code, int)> on_signal;
  std::atomic<bool> draining{false};
  on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec) {
      return;
    }
    if (draining) {
      spdlog::warn("signal {} received again: stopping now", sig);
      stop_all();
      return;
    }
    draining = true;
    signals.async_wait(on_signal);
    spdlog::info("signal {} received: draining", sig);
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          const auto until = std::chrono::steady_clock::now() + ms(config.drain_timeout_ms);
          co_await server.drain(ms(config.drain_timeout_ms));
          const auto left =
              std::chrono::duration_cast<ms>(until - std::chrono::steady_clock::now());
          co_await dispatcher.stop(std::max(left, ms(1000)));
          // Deliveries cut short are sent again by the next start (same webhook-id).
          co_await callbacks.stop(ms(1000));
          janitor.stop();
          signals.cancel();
          spdlog::info("drained; bye");
          stop_all();
        },
        [&stop_all](std::exception_ptr e) {
          if (e) {
            spdlog::error("shutdown failed; stopping now");
            stop_all();
          }
        });
  };
  signals.async_wait(on_signal);

  // The I/O threads keep to short time slices: one woken by a request is then picked sooner
  // when the cores are busy (with 300 µs, the in-flight recordInfo p99 of bench/'s in-flight
  // step went from 5.0 ms to 3.3 ms), and one that never waits gives its core to a waiting
  // thread after each slice instead of at the kernel's next tick (that step's p99, in 1 s
  // windows, went from medians of 6.8–7.7 ms to 2.5–3.8 ms). Asked by each I/O thread for
  // itself, after every other thread was started, so that none inherits it.
  const auto slice = std::chrono::microseconds(config.io_slice_us);
  std::vector<std::thread> threads;
  for (auto& c : more_iocs) {
    threads.emplace_back([&c, slice, n = threads.size() + 1] {
      const std::string name = "ig-io-" + std::to_string(n);
      pthread_setname_np(pthread_self(), name.c_str());
      if (slice.count() > 0) {
        runtime::request_time_slice(slice);
      }
      // Kept running between connections (and after drain closed its listener) until stop_all.
      auto guard = asio::make_work_guard(*c);
      runtime::run_in_slices(*c, slice);
    });
  }
  if (slice.count() > 0) {
    const auto granted = runtime::request_time_slice(slice);
    if (granted.count() > 0) {
      spdlog::info("I/O threads run in time slices of {} µs (server.io_slice_us) and give "
                   "their core back after as long busy",
                   std::chrono::duration_cast<std::chrono::microseconds>(granted).count());
    } else {
      spdlog::info("I/O threads give their core back after {} µs busy (server.io_slice_us); "
                   "the kernel keeps its own slice for them: that needs Linux 6.12 or later, "
                   "and sched_setattr(2) allowed",
                   config.io_slice_us);
    }
  }
  runtime::run_in_slices(ioc, slice);
  for (auto& t : threads) {
    t.join();
  }
  pool.join();
  return 0;
}

}  // namespace ig::app
