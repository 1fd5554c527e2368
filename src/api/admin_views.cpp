// The admin API's views for the web console (#10): the server's status, one task in full,
// cancelling anyone's task, accounts and their ledgers, and the upstream routes' health.

#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "api/admin.hpp"
#include "api/admin_common.hpp"
#include "api/task_detail.hpp"
#include "billing/money.hpp"
#include "core/codec.hpp"
#include "tasks/task_service.hpp"
#include "tasks/upstream_router.hpp"

#ifndef IG_VERSION
#define IG_VERSION "unknown"
#endif

namespace ig::api {
namespace {

namespace json = boost::json;
using namespace admin_common;
using core::ErrorCode;
using core::make_error;

constexpr std::int64_t kHourMs = 3'600'000;

json::value ms_as_seconds_or_null(std::int64_t ms) {
  return ms > 0 ? json::value(ms / 1000) : json::value(nullptr);
}

}  // namespace

std::int64_t AdminApi::urls_expire_at_s(const core::Task& task) const {
  // Results are kept result_ttl_s after completion; the uploads of a task still running at
  // least that long from now.
  const std::int64_t from_ms = task.completed_ms > 0 ? task.completed_ms : clock_.now_ms();
  return from_ms / 1000 + links_.result_ttl_s;
}

boost::asio::awaitable<Response> AdminApi::status() {
  auto counts = co_await runtime::offload(pool_, [this] { return store_.count_tasks_by_state(); });
  json::object tasks;
  for (const auto& [state, n] : counts) {
    tasks[core::to_string(state)] = n;
  }
  json::array routes;
  if (links_.routes) {
    for (const auto& r : links_.routes()) {
      json::array families;
      for (const auto& f : r.families) {
        families.emplace_back(f);
      }
      routes.push_back(json::object{{"route", r.route},
                                    {"kind", r.kind},
                                    {"state", tasks::to_string(r.breaker)},
                                    {"running", r.in_flight},
                                    {"concurrency", r.concurrency},
                                    {"families", std::move(families)}});
    }
  }
  const auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count();
  co_return ok_json(200, json::object{{"version", IG_VERSION},
                                      {"uptime_s", uptime},
                                      {"started_at", clock_.now_ms() / 1000 - uptime},
                                      {"queue_depth", counts[core::TaskState::kQueued]},
                                      {"running", counts[core::TaskState::kRunning]},
                                      {"tasks", std::move(tasks)},
                                      {"providers", std::move(routes)}});
}

boost::asio::awaitable<Response> AdminApi::task_detail(std::string_view task_id) {
  const std::string id(task_id);
  auto detail =
      co_await runtime::offload(pool_, [&] { return read_task_detail(store_, id, true); });
  if (!detail) {
    co_return error_response(detail.error());
  }
  if (!*detail) {
    co_return error_response(
        make_error(ErrorCode::kNotFound, "no task " + core::echo_text(id, 100), "task_id"));
  }
  const FileUrl none = [](std::string_view, std::int64_t) { return std::string(); };
  co_return ok_json(200, task_detail_json(**detail, links_.file_url ? links_.file_url : none,
                                          urls_expire_at_s((*detail)->task)));
}

boost::asio::awaitable<Response> AdminApi::cancel_task(std::string_view task_id) {
  if (links_.tasks == nullptr) {
    co_return error_response(
        make_error(ErrorCode::kUnavailable, "tasks cannot be cancelled from this server"));
  }
  auto cancelled = co_await links_.tasks->cancel_any(std::string(task_id));
  if (!cancelled) {
    co_return error_response(cancelled.error());
  }
  spdlog::info("task={} cancelled by the admin API", cancelled->id);
  co_return co_await task_detail(task_id);
}

boost::asio::awaitable<Response> AdminApi::list_accounts(std::string_view query) {
  auto page = paging(query);
  if (!page) {
    co_return error_response(page.error());
  }
  auto listed = co_await runtime::offload(pool_, [&] {
    return store_.list_accounts(page->offset(), static_cast<int>(page->page_size));
  });
  if (!listed) {
    co_return error_response(listed.error());
  }
  co_return ok_json(200, page_json(listed->accounts, account_json, *page, listed->total));
}

boost::asio::awaitable<Response> AdminApi::ledger(std::int64_t account_id, std::string_view query) {
  auto page = paging(query);
  if (!page) {
    co_return error_response(page.error());
  }
  auto account = co_await runtime::offload(pool_, [&] { return store_.get_account(account_id); });
  if (!account) {
    co_return error_response(account.error());
  }
  if (!*account) {
    co_return error_response(
        make_error(ErrorCode::kNotFound, "no account " + std::to_string(account_id)));
  }
  auto lines = co_await runtime::offload(pool_, [&] {
    return store_.ledger_page(account_id, page->offset(), static_cast<int>(page->page_size));
  });
  if (!lines) {
    co_return error_response(lines.error());
  }
  json::array data;
  for (const auto& l : lines->lines) {
    const auto& e = l.entry;
    data.push_back(json::object{
        {"id", e.id},
        {"at", e.created_ms / 1000},
        {"kind", e.kind},
        {"amount", billing::credits_as_double(e.amount)},
        {"price", billing::credits_as_double(e.price)},
        {"reason", e.reason},
        {"task_id", l.task_id.empty() ? json::value(nullptr) : json::value(l.task_id)},
        {"key_id", e.key_id == 0 ? json::value(nullptr) : json::value(e.key_id)},
        {"balance_after", billing::credits_as_double(l.balance_after)},
    });
  }
  json::object body = page_json(std::move(data), *page, lines->total);
  body["account_id"] = account_id;
  body["balance"] = billing::credits_as_double((*account)->balance);
  co_return ok_json(200, std::move(body));
}

boost::asio::awaitable<Response> AdminApi::providers(std::string_view query) {
  auto since = time_param(query, "since");
  auto until = time_param(query, "until");
  if (!since || !until) {
    co_return error_response(!since ? since.error() : until.error());
  }
  // The live figures first, then the clock and the log: a call counted as running has its
  // log row committed (it is written before the call starts) with a start before `now`, so
  // the default window holds it and `unfinished` counts it too. Read the other way round, a
  // call that started between the two showed as running but not in the log.
  std::vector<tasks::RouteStatus> live;
  if (links_.routes) {
    live = links_.routes();
  }
  const std::int64_t now = clock_.now_ms();
  const std::int64_t until_ms = *until != 0 ? *until : now + 1;
  const std::int64_t since_ms = *since != 0 ? *since : until_ms - 24 * kHourMs;
  if (since_ms >= until_ms) {
    co_return error_response(bad("since must be before until", "since"));
  }
  auto stats =
      co_await runtime::offload(pool_, [&] { return store_.upstream_stats(since_ms, until_ms); });
  if (!stats) {
    co_return error_response(stats.error());
  }
  // Every configured route (with zeros when it had no call), then the routes the log knows
  // that are no longer configured.
  json::array data;
  auto row = [](const tasks::RouteStatus* r, const store::RouteStats* s, std::string_view name) {
    auto ms_or_null = [](std::int64_t v) { return v < 0 ? json::value(nullptr) : json::value(v); };
    return json::object{
        {"route", name},
        {"kind", r != nullptr ? r->kind : s->provider_kind},
        {"configured", r != nullptr},
        {"state", r != nullptr ? json::value(tasks::to_string(r->breaker)) : json::value(nullptr)},
        {"running", r != nullptr ? r->in_flight : 0},
        {"concurrency", r != nullptr ? json::value(r->concurrency) : json::value(nullptr)},
        {"requests", s != nullptr ? s->requests : 0},
        {"succeeded", s != nullptr ? s->succeeded : 0},
        {"errors", s != nullptr ? s->errors : 0},
        {"cancelled", s != nullptr ? s->cancelled : 0},
        {"unfinished", s != nullptr ? s->in_flight : 0},
        {"p50_ms", s != nullptr ? ms_or_null(s->p50_ms) : json::value(nullptr)},
        {"p95_ms", s != nullptr ? ms_or_null(s->p95_ms) : json::value(nullptr)},
        {"last_call_at",
         s != nullptr ? ms_as_seconds_or_null(s->last_started_ms) : json::value(nullptr)},
    };
  };
  auto stats_of = [&](std::string_view route) -> const store::RouteStats* {
    for (const auto& s : *stats) {
      if (s.route == route) {
        return &s;
      }
    }
    return nullptr;
  };
  for (const auto& r : live) {
    data.push_back(row(&r, stats_of(r.route), r.route));
  }
  for (const auto& s : *stats) {
    const bool configured = std::any_of(
        live.begin(), live.end(), [&](const tasks::RouteStatus& r) { return r.route == s.route; });
    if (!configured) {
      data.push_back(row(nullptr, &s, s.route));
    }
  }
  co_return ok_json(200, json::object{{"object", "list"},
                                      {"since", since_ms / 1000},
                                      {"until", until_ms / 1000},
                                      {"data", std::move(data)}});
}

}  // namespace ig::api
