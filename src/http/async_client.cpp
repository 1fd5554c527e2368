#include "http/async_client.hpp"

#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http/detail/call.hpp"
#include "http/detail/tls.hpp"
#include "http/proxy.hpp"
#include "http/url.hpp"

namespace ig::http {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using detail::Attempt;
using detail::Call;
using detail::Clock;
using detail::Connection;
using detail::Plan;

namespace detail {

/// Shared by the client and its calls in flight. `config`, `tls` and the proxy settings are
/// fixed after construction; the pool is guarded by `mutex`.
struct ClientState {
  AsyncClientConfig config;
  ssl::context tls{ssl::context::tls_client};
  std::optional<Result<Proxy>> https_proxy;  // unset: no proxy for https://
  std::optional<Result<Proxy>> http_proxy;
  std::string no_proxy;

  mutable std::mutex mutex;
  std::map<std::string, std::vector<std::shared_ptr<Connection>>> idle;
  bool closed = false;  // the client is gone: connections are no longer pooled

  std::shared_ptr<Connection> take(const std::string& key);
  std::size_t idle_count() const;
};

}  // namespace detail

struct AsyncClient::State : detail::ClientState {};

using detail::ClientState;

namespace {

std::optional<Result<Proxy>> proxy_setting(const std::string& setting, const char* name) {
  if (setting.empty()) {
    return std::nullopt;
  }
  auto proxy = parse_proxy(setting);
  if (!proxy) {
    return Result<Proxy>(
        make_error(ErrorKind::kInvalidUrl, std::string(name) + ": " + proxy.error().message));
  }
  return proxy;
}

std::string host_port(const Target& target) {
  const bool v6 = target.host_is_ip && target.host.find(':') != std::string::npos;
  return (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port);
}

/// The route of a call: its target, proxy and pool key, and its deadline from now.
Result<Plan> make_plan(const ClientState& state, Request request, CallOptions options) {
  auto target = parse_target(request.url);
  if (!target) {
    return target.error();
  }
  Plan plan;
  plan.target = std::move(*target);
  plan.where = host_port(plan.target);
  if (options.use_proxy && !options.allow) {
    const auto& setting = plan.target.tls ? state.https_proxy : state.http_proxy;
    if (setting && !no_proxy_matches(state.no_proxy, plan.target.host, plan.target.port)) {
      if (!*setting) {
        return setting->error();
      }
      plan.proxy = **setting;
    }
  }
  if (options.reuse_connection && !options.allow && state.config.max_idle_per_origin > 0) {
    plan.pool_key = (plan.target.tls ? "https://" : "http://") + plan.where;
    if (plan.proxy) {
      plan.pool_key += " via " + plan.proxy->where + " " + plan.proxy->authorization;
    }
  }
  plan.deadline = Clock::now() + options.limits.total_timeout;
  plan.user_agent = state.config.user_agent;
  plan.request = std::move(request);
  plan.options = std::move(options);
  return plan;
}

/// Closes a pooled connection that idled for pool_idle_timeout, unless a call took it since.
void expire(const std::weak_ptr<ClientState>& weak_state,
            const std::weak_ptr<Connection>& weak_conn, std::uint64_t generation) {
  auto state = weak_state.lock();
  auto conn = weak_conn.lock();
  if (!state || !conn) {
    return;
  }
  {
    std::lock_guard lock(state->mutex);
    if (!conn->pooled || conn->generation != generation) {
      return;
    }
    auto& list = state->idle[conn->key];
    std::erase(list, conn);
    if (list.empty()) {
      state->idle.erase(conn->key);
    }
    conn->pooled = false;
    ++conn->generation;
  }
  conn->close();
}

/// Pools `conn` after a complete keep-alive exchange, or closes it. Runs on its strand.
void give_back(const std::shared_ptr<ClientState>& state, std::shared_ptr<Connection> conn) {
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(state->mutex);
    auto& list = state->idle[conn->key];
    if (state->closed || list.size() >= state->config.max_idle_per_origin) {
      if (list.empty()) {
        state->idle.erase(conn->key);
      }
      conn.reset();
    } else {
      conn->pooled = true;
      generation = ++conn->generation;
      list.push_back(conn);
    }
  }
  if (!conn) {
    return;
  }
  // A call that takes it runs on this strand too, so it cannot start before the timer is set.
  conn->idle_timer.expires_after(state->config.pool_idle_timeout);
  conn->idle_timer.async_wait([weak_state = std::weak_ptr(state), weak_conn = std::weak_ptr(conn),
                               generation](boost::system::error_code ec) {
    if (!ec) {
      expire(weak_state, weak_conn, generation);
    }
  });
}

void finish(const std::shared_ptr<ClientState>& state, const Call& call,
            const std::shared_ptr<Connection>& conn, const Attempt& attempt) {
  if (attempt.result && attempt.reusable && !call.cancelled && !conn->key.empty()) {
    give_back(state, conn);
    return;
  }
  conn->close();
}

asio::awaitable<Result<Response>> call_steps(std::shared_ptr<ClientState> state, Call& call,
                                             const Plan& plan, std::shared_ptr<Connection> pooled) {
  if (call.cancelled) {
    co_return detail::cancelled_error(plan, false);
  }
  bool stale_sent = false;
  if (pooled) {
    pooled->idle_timer.cancel();
    call.conn = pooled;
    Attempt attempt = co_await detail::exchange(call, *pooled, plan);
    call.conn.reset();
    if (attempt.result || !attempt.dead || call.cancelled) {
      finish(state, call, pooled, attempt);
      co_return std::move(attempt.result);
    }
    // The peer had closed the idle connection: once more on a fresh one. Whether the peer saw
    // any of the first try stays on record.
    stale_sent = attempt.result.error().sent;
    pooled->close();
  }
  auto opened = co_await detail::open_connection(call, plan, state->tls);
  call.conn.reset();
  if (!opened) {
    Error error = opened.error();
    error.sent = error.sent || stale_sent;
    co_return error;
  }
  auto conn = std::move(*opened);
  call.conn = conn;
  Attempt attempt = co_await detail::exchange(call, *conn, plan);
  call.conn.reset();
  finish(state, call, conn, attempt);
  if (!attempt.result) {
    Error error = attempt.result.error();
    error.sent = error.sent || stale_sent;
    co_return error;
  }
  co_return std::move(attempt.result);
}

/// The call on its strand. Spawned with no cancellation slot: cancellation arrives only as
/// Call::cancel(), posted to the strand, so asio never throws into this coroutine.
asio::awaitable<Result<Response>> run_call(std::shared_ptr<ClientState> state,
                                           std::shared_ptr<Call> call, Plan plan,
                                           std::shared_ptr<Connection> pooled) {
  std::optional<Result<Response>> out;
  try {
    out = co_await call_steps(state, *call, plan, std::move(pooled));
  } catch (const std::exception& e) {
    out = make_error(ErrorKind::kProtocol,
                     "unexpected error calling " + plan.where + ": " + e.what(), true);
  }
  if (call->conn) {
    call->conn->close();
    call->conn.reset();
  }
  call->resolving.reset();
  co_return std::move(*out);
}

}  // namespace

std::shared_ptr<Connection> ClientState::take(const std::string& key) {
  std::lock_guard lock(mutex);
  auto it = idle.find(key);
  if (it == idle.end()) {
    return nullptr;
  }
  auto conn = std::move(it->second.back());
  it->second.pop_back();
  if (it->second.empty()) {
    idle.erase(it);
  }
  conn->pooled = false;
  ++conn->generation;
  return conn;
}

std::size_t ClientState::idle_count() const {
  std::lock_guard lock(mutex);
  std::size_t n = 0;
  for (const auto& [key, list] : idle) {
    n += list.size();
  }
  return n;
}

AsyncClient::AsyncClient(asio::any_io_executor io, AsyncClientConfig config)
    : io_(std::move(io)), state_(std::make_shared<State>()) {
  state_->config = std::move(config);
  auto& c = state_->config;
  detail::configure_client_context(state_->tls);
  if (!c.extra_ca_file.empty()) {
    detail::load_extra_ca(state_->tls, c.extra_ca_file);
  }
  if (c.proxy_from_environment) {
    const ProxyEnvironment env = proxy_environment();
    c.https_proxy = c.https_proxy.empty() ? env.https_proxy : c.https_proxy;
    c.http_proxy = c.http_proxy.empty() ? env.http_proxy : c.http_proxy;
    c.no_proxy = c.no_proxy.empty() ? env.no_proxy : c.no_proxy;
  }
  state_->https_proxy = proxy_setting(c.https_proxy, "HTTPS_PROXY");
  state_->http_proxy = proxy_setting(c.http_proxy, "HTTP_PROXY");
  state_->no_proxy = c.no_proxy;
}

AsyncClient::~AsyncClient() {
  std::map<std::string, std::vector<std::shared_ptr<Connection>>> idle;
  {
    std::lock_guard lock(state_->mutex);
    state_->closed = true;
    idle.swap(state_->idle);
    for (auto& [key, list] : idle) {
      for (auto& conn : list) {
        conn->pooled = false;
        ++conn->generation;
      }
    }
  }
  // Dropping them closes them; their idle timers hold only weak references.
}

std::size_t AsyncClient::idle_connections() const {
  return state_->idle_count();
}

asio::awaitable<Result<Response>> AsyncClient::send(Request request, CallOptions options) {
  auto cancellation = co_await asio::this_coro::cancellation_state;
  auto plan = make_plan(*state_, std::move(request), std::move(options));
  if (!plan) {
    co_return plan.error();
  }
  if (cancellation.cancelled() != asio::cancellation_type::none) {
    co_return detail::cancelled_error(*plan, false);
  }
  std::shared_ptr<Connection> pooled;
  if (!plan->pool_key.empty()) {
    pooled = state_->take(plan->pool_key);
  }
  // A pooled connection's I/O objects live on the strand it was opened on.
  asio::any_io_executor strand = pooled ? pooled->strand : asio::make_strand(io_);
  auto call = std::make_shared<Call>(strand);
  // Our own handler on the awaiter's slot instead of co_spawn's forwarding (which in Boost
  // 1.81 can reach a child that already finished and terminate the process): it only posts a
  // cancel to the call's strand, which closes the socket; the call then ends with kCancelled.
  auto slot = cancellation.slot();
  if (slot.is_connected()) {
    slot.assign(
        [call](asio::cancellation_type) { asio::post(call->strand, [call] { call->cancel(); }); });
  }
  auto result = co_await asio::co_spawn(
      strand, run_call(state_, call, std::move(*plan), std::move(pooled)),
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  if (slot.is_connected()) {
    slot.clear();
  }
  co_return result;
}

}  // namespace ig::http
