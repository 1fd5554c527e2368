#include "tasks/callback_sender.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "callbacks/signing.hpp"
#include "http/async_client.hpp"
#include "tasks/log_failure.hpp"

namespace ig::tasks {

namespace asio = boost::asio;
using asio::use_awaitable;

CallbackSender::CallbackSender(asio::io_context& ioc, runtime::BlockingExecutor pool,
                               store::Store& store, http::AsyncClient& client,
                               media::AddressPolicy policy, Render render,
                               const core::Clock& clock, CallbackSenderConfig config)
    : ioc_(ioc),
      pool_(pool),
      store_(store),
      client_(client),
      policy_(std::move(policy)),
      render_(std::move(render)),
      clock_(clock),
      config_(std::move(config)),
      strand_(asio::make_strand(ioc)),
      timer_(strand_) {}

void CallbackSender::start() {
  loop_done_ = false;
  asio::co_spawn(strand_, loop(), [this](std::exception_ptr e) {
    loop_done_ = true;
    log_failure(e, "callback sender ended");
  });
}

void CallbackSender::wake() {
  asio::post(strand_, [this] {
    wake_pending_ = true;
    timer_.cancel();
  });
}

asio::awaitable<void> CallbackSender::loop() {
  while (!stopping_) {
    wake_pending_ = false;
    const int free = config_.concurrency - in_flight_.load();
    std::size_t claimed = 0;
    const std::int64_t now = clock_.now_ms();
    // A read first: most task ends have no callback, and a claim is a write transaction.
    auto next = co_await runtime::offload(pool_, [this] { return store_.next_callback_due(); });
    const bool due = !next || (*next && **next <= now);  // a failed read: try the claim
    if (free > 0 && due) {
      auto due = co_await runtime::offload(pool_, [&] {
        return store_.claim_callbacks(free, now, now + config_.lease.count());
      });
      if (!due) {
        spdlog::error("claiming callbacks failed: {}", due.error().message);
      } else {
        claimed = due->size();
        for (auto& d : *due) {
          ++in_flight_;
          // Each delivery on its own strand: a slow receiver delays nothing else.
          asio::co_spawn(asio::make_strand(ioc_), deliver(std::move(d)),
                         [this](std::exception_ptr e) {
                           log_failure(e, "a callback delivery ended by an exception");
                           --in_flight_;
                           wake();
                         });
        }
      }
    }
    if (stopping_) {
      break;
    }
    if (claimed > 0) {
      continue;  // more may be due; or, with the claimed ones leased, when the next one is
    }
    if (wake_pending_) {
      continue;
    }
    // Sleep until the next retry is due, a wake-up, or the poll (other processes' rows).
    auto wait = config_.poll;
    if (next && *next) {
      const auto until =
          std::chrono::milliseconds(std::max<std::int64_t>(0, **next - clock_.now_ms()));
      wait = std::min(wait, until + std::chrono::milliseconds(1));
    }
    if (free <= 0) {
      wait = config_.poll;  // every slot busy: a finishing delivery wakes us
    }
    timer_.expires_after(wait);
    auto [ec] = co_await timer_.async_wait(asio::as_tuple(use_awaitable));
    (void)ec;
  }
}

asio::awaitable<std::string> CallbackSender::signing_key(const store::CallbackDelivery& d) {
  if (d.account_id == 0) {
    co_return std::string();
  }
  std::string secret = d.webhook_secret;
  if (secret.empty()) {
    // First callback of an account created before secrets: make one (a race with another
    // process keeps whichever was stored first).
    auto candidate = callbacks::new_webhook_secret();
    if (!candidate) {
      co_return std::string();
    }
    const std::int64_t account = d.account_id;
    auto stored = co_await runtime::offload(
        pool_, [&] { return store_.webhook_secret(account, *candidate); });
    if (!stored || !*stored) {
      co_return std::string();
    }
    secret = **stored;
  }
  auto key = callbacks::secret_key_bytes(secret);
  co_return key ? *key : std::string();
}

asio::awaitable<void> CallbackSender::deliver(store::CallbackDelivery d) {
  const std::string task_id = d.task_id;
  auto task = co_await runtime::offload(pool_, [&] { return store_.get_task(task_id); });
  if (!task || !*task) {
    // Left leased: the lease runs out and the next claim tries again.
    spdlog::error("task={} callback: the task could not be read", task_id);
    co_return;
  }
  const std::string body = render_(**task);
  const std::string key = co_await signing_key(d);
  const std::int64_t started = clock_.now_ms();

  http::Request req;
  req.method = "POST";
  req.url = d.url;
  req.headers.emplace_back("Content-Type", "application/json");
  if (!key.empty()) {
    auto signed_headers = callbacks::webhook_headers(
        key, d.msg_id, started / 1000, body, (*task)->request.dialect == core::Dialect::kTasks);
    for (auto& h : signed_headers.headers) {
      req.headers.push_back(std::move(h));
    }
  } else {
    req.headers.emplace_back("webhook-id", d.msg_id);
    req.headers.emplace_back("webhook-timestamp", std::to_string(started / 1000));
  }
  req.body = body;
  http::CallOptions options;
  options.limits.total_timeout = config_.timeout;
  options.limits.connect_timeout = std::min(config_.timeout, std::chrono::milliseconds(5'000));
  options.limits.max_body_bytes = 64 * 1024;  // the answer is not read beyond its status
  options.allow = [this](const asio::ip::address& a) { return policy_.allowed(a); };
  options.reuse_connection = false;  // every attempt checks the address it connects to
  options.use_proxy = false;
  auto res = co_await client_.send(std::move(req), options);

  store::CallbackAttempt attempt;
  attempt.started_ms = started;
  attempt.latency_ms = std::max<std::int64_t>(0, clock_.now_ms() - started);
  std::string state;
  if (res) {
    attempt.http_status = static_cast<int>(res->status);
    if (res->status >= 200 && res->status <= 299) {
      state = "delivered";
    } else if (res->status == 410) {
      attempt.error = "410 Gone: the receiver asked for no more deliveries";
      state = "failed";
    } else {
      attempt.error = res->status >= 300 && res->status <= 399
                          ? "HTTP " + std::to_string(res->status) + " (redirects are not followed)"
                          : "HTTP " + std::to_string(res->status);
    }
  } else if (res.error().status >= 200 && res.error().status <= 299) {
    // The receiver said 2xx; what it sent after its header (too much, or not all) does not
    // matter: the callback arrived. Sending it again would only make a duplicate.
    attempt.http_status = static_cast<int>(res.error().status);
    state = "delivered";
  } else {
    attempt.http_status = static_cast<int>(res.error().status);
    attempt.error = res.error().message;
  }
  std::int64_t next_ms = 0;
  if (state.empty()) {
    const auto done = static_cast<std::size_t>(d.attempts) + 1;  // attempts made, this one too
    if (done <= config_.retries.size()) {
      state = "pending";
      next_ms = clock_.now_ms() + config_.retries[done - 1].count();
    } else {
      state = "failed";
    }
  }
  if (state == "delivered") {
    spdlog::info("task={} callback delivered ({} ms, HTTP {})", task_id, attempt.latency_ms,
                 attempt.http_status);
  } else {
    spdlog::warn("task={} callback attempt {} failed: {}{}", task_id, d.attempts + 1,
                 attempt.error, state == "failed" ? " (no more attempts)" : "");
  }
  const std::int64_t id = d.id;
  auto recorded = co_await runtime::offload(
      pool_, [&] { return store_.record_callback_attempt(id, attempt, state, next_ms); });
  if (!recorded) {
    // The lease runs out and the delivery is made again (same webhook-id): receivers dedupe.
    spdlog::error("task={} recording a callback attempt failed: {}", task_id,
                  recorded.error().message);
  }
}

asio::awaitable<void> CallbackSender::stop(std::chrono::milliseconds deadline) {
  stopping_ = true;
  asio::post(strand_, [this] { timer_.cancel(); });
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto until = std::chrono::steady_clock::now() + deadline;
  while ((in_flight_.load() > 0 || !loop_done_.load()) &&
         std::chrono::steady_clock::now() < until) {
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(use_awaitable);
  }
}

}  // namespace ig::tasks
