#include "api/admin.hpp"

#include <openssl/crypto.h>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <ctime>
#include <limits>

#include "api/admin_common.hpp"
#include "api/auth.hpp"
#include "billing/ip_allowlist.hpp"
#include "billing/money.hpp"
#include "callbacks/signing.hpp"
#include "core/codec.hpp"

namespace ig::api {
namespace {

namespace json = boost::json;
using namespace admin_common;
using core::ErrorCode;
using core::make_error;

// A non-negative whole number of at most `max`.
core::Result<std::int64_t> whole(const json::value& v, std::string_view name, std::int64_t max) {
  if (v.is_int64() && v.as_int64() >= 0 && v.as_int64() <= max) {
    return v.as_int64();
  }
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(max)) {
    return static_cast<std::int64_t>(v.as_uint64());
  }
  return bad(std::string(name) + " must be a whole number from 0 to " + std::to_string(max),
             std::string(name));
}

// Credits as a JSON number (or a decimal string), >= 0 unless `signed_ok`.
core::Result<std::int64_t> credits(const json::value& v, std::string_view name, bool signed_ok) {
  core::Result<std::int64_t> micros = bad(std::string(name) + " must be a number of credits",
                                          std::string(name));
  if (v.is_string()) {
    micros = billing::parse_credits(v.as_string(), name);
  } else if (v.is_number()) {
    micros = billing::credits_from_double(v.to_number<double>(), name);
  }
  if (micros && !signed_ok && *micros < 0) {
    return bad(std::string(name) + " must not be negative", std::string(name));
  }
  return micros;
}

// The limit fields shared by create and patch; unknown fields are refused by the caller.
core::Status read_limits(const json::object& o, store::KeyPatch& p) {
  if (const auto* v = o.if_contains("rpm")) {
    auto n = whole(*v, "rpm", 1'000'000);
    if (!n) return n.error();
    p.rpm = static_cast<int>(*n);
  }
  if (const auto* v = o.if_contains("max_active")) {
    auto n = whole(*v, "max_active", 1'000'000);
    if (!n) return n.error();
    p.max_active = static_cast<int>(*n);
  }
  if (const auto* v = o.if_contains("spend_limits")) {
    if (!v->is_object()) {
      return bad("spend_limits must be an object of hourly, daily and total", "spend_limits");
    }
    for (const auto& [k, lim] : v->as_object()) {
      std::optional<std::int64_t>* slot = k == "hourly"  ? &p.spend_hourly
                                          : k == "daily" ? &p.spend_daily
                                          : k == "total" ? &p.spend_total
                                                         : nullptr;
      const std::string name = "spend_limits." + std::string(k);
      if (slot == nullptr) {
        return bad("unknown field " + name, name);
      }
      if (lim.is_null()) {
        *slot = 0;  // no limit
        continue;
      }
      auto c = credits(lim, name, false);
      if (!c) return c.error();
      *slot = *c;
    }
  }
  if (const auto* v = o.if_contains("ip_allowlist")) {
    if (!v->is_array() && !v->is_null()) {
      return bad("ip_allowlist must be an array of CIDRs", "ip_allowlist");
    }
    std::vector<std::string> cidrs;
    if (v->is_array()) {
      for (const auto& c : v->as_array()) {
        if (!c.is_string()) {
          return bad("ip_allowlist must be an array of CIDRs", "ip_allowlist");
        }
        cidrs.emplace_back(c.as_string());
      }
    }
    auto parsed = billing::CidrSet::parse(cidrs);
    if (!parsed) {
      auto e = parsed.error();
      e.param = "ip_allowlist";
      return e;
    }
    p.ip_allowlist = parsed->to_strings();  // canonical
  }
  if (const auto* v = o.if_contains("name")) {
    if (!v->is_string() || v->as_string().size() > 200) {
      return bad("name must be a string of at most 200 characters", "name");
    }
    p.name = std::string(v->as_string());
  }
  return core::ok_status();
}

core::Status only_fields(const json::object& o, std::initializer_list<std::string_view> known) {
  for (const auto& [k, v] : o) {
    bool ok = false;
    for (auto name : known) {
      ok = ok || k == name;
    }
    if (!ok) {
      return bad("unknown field " + std::string(k), std::string(k));
    }
  }
  return core::ok_status();
}

void apply(const store::KeyPatch& p, store::ApiKey& k) {
  if (p.name) k.name = *p.name;
  if (p.rpm) k.limits.rpm = *p.rpm;
  if (p.max_active) k.limits.max_active = *p.max_active;
  if (p.spend_hourly) k.limits.spend_hourly = *p.spend_hourly;
  if (p.spend_daily) k.limits.spend_daily = *p.spend_daily;
  if (p.spend_total) k.limits.spend_total = *p.spend_total;
  if (p.ip_allowlist) k.limits.ip_allowlist = *p.ip_allowlist;
}

}  // namespace

AdminApi::AdminApi(std::string token, store::Store& store, Authenticator& auth,
                   runtime::BlockingExecutor pool, const core::Clock& clock)
    : token_(std::move(token)), store_(store), auth_(auth), pool_(pool), clock_(clock) {}

boost::asio::awaitable<Response> AdminApi::handle(Request& req, RequestInfo& info,
                                                  std::string_view path,
                                                  std::string_view query) {
  // The token first: nothing about the admin API is told to a caller without it.
  std::string_view auth = req[http::field::authorization];
  std::string_view bearer;
  if (auth.size() > 7 && (auth.starts_with("Bearer ") || auth.starts_with("bearer "))) {
    bearer = auth.substr(7);
  }
  const bool match = bearer.size() == token_.size() &&
                     CRYPTO_memcmp(bearer.data(), token_.data(), token_.size()) == 0;
  if (!match) {
    if (bearer.starts_with("sk-")) {
      co_return error_response(make_error(ErrorCode::kForbidden,
                                          "an API key cannot use the admin API; use the admin "
                                          "token"));
    }
    co_return error_response(make_error(ErrorCode::kUnauthorized,
                                        bearer.empty() ? "the admin API needs the admin token"
                                                       : "wrong admin token"));
  }
  std::string_view rest = path.substr(std::string_view("/admin/v1/").size());
  const auto method = req.method();
  auto not_found = [&] {
    return error_response(make_error(ErrorCode::kRouteNotFound,
                                     "no admin route " + std::string(req.method_string()) + " " +
                                         core::echo_text(path, 200)));
  };
  auto log = [&] {
    spdlog::info("request_id={} admin {} {}", info.request_id,
                 std::string_view(req.method_string()), path);
  };
  // Task ids are not numbers: /admin/v1/tasks/{id}[/cancel | /callback[/redeliver]].
  if (rest.starts_with("tasks/")) {
    const std::string_view tail = rest.substr(6);
    const auto slash = tail.find('/');
    const std::string_view task_id = tail.substr(0, slash);
    const std::string_view action =
        slash == std::string_view::npos ? std::string_view() : tail.substr(slash + 1);
    if (task_id.empty()) {
      co_return not_found();
    }
    log();
    if (action.empty() && method == http::verb::get) {
      co_return co_await task_detail(task_id);
    }
    if (action == "cancel" && method == http::verb::post) {
      co_return co_await cancel_task(task_id);
    }
    if (action == "callback" && method == http::verb::get) {
      co_return co_await task_callback(task_id);
    }
    if (action == "callback/redeliver" && method == http::verb::post) {
      co_return co_await redeliver(task_id);
    }
    co_return not_found();
  }
  auto segment = [&rest]() {
    const auto slash = rest.find('/');
    std::string_view s = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    return s;
  };
  const std::string_view collection = segment();
  const std::string_view id_text = segment();
  const std::string_view action = segment();
  if (!rest.empty()) {
    co_return not_found();
  }
  std::optional<std::int64_t> id;
  if (!id_text.empty()) {
    id = parse_id(id_text);
    if (!id) {
      co_return error_response(bad("not an id: " + core::echo_text(id_text, 40)));
    }
  }
  log();
  if (collection == "keys") {
    if (!id && action.empty()) {
      if (method == http::verb::post) co_return co_await create_key(req);
      if (method == http::verb::get) co_return co_await list_keys(query);
    } else if (id && action.empty()) {
      if (method == http::verb::get) co_return co_await get_key(*id);
      if (method == http::verb::patch) co_return co_await patch_key(req, *id);
    } else if (id && action == "rotate" && method == http::verb::post) {
      co_return co_await rotate_key(*id);
    }
  } else if (collection == "accounts" && !id && method == http::verb::get) {
    co_return co_await list_accounts(query);
  } else if (collection == "accounts" && id) {
    if (action.empty() && method == http::verb::get) co_return co_await get_account(*id);
    if (action == "ledger" && method == http::verb::get) co_return co_await ledger(*id, query);
    if (action == "credits" && method == http::verb::post) co_return co_await add_credits(req, *id);
    if (action == "webhook-secret" && method == http::verb::post) {
      co_return co_await rotate_webhook_secret(*id);
    }
  } else if (collection == "tasks" && !id && method == http::verb::get) {
    co_return co_await list_tasks(query);
  } else if (collection == "usage" && !id && method == http::verb::get) {
    co_return co_await usage(query);
  } else if (collection == "status" && !id && method == http::verb::get) {
    co_return co_await status();
  } else if (collection == "providers" && !id && method == http::verb::get) {
    co_return co_await providers(query);
  }
  co_return not_found();
}

boost::asio::awaitable<Response> AdminApi::create_key(Request& req) {
  auto body = body_object(req);
  if (!body) {
    co_return error_response(body.error());
  }
  if (auto st = only_fields(*body, {"name", "account_id", "credits", "rpm", "max_active",
                                    "spend_limits", "ip_allowlist"});
      !st) {
    co_return error_response(st.error());
  }
  if (!body->contains("name")) {
    co_return error_response(bad("name is required", "name"));
  }
  store::KeyPatch p;
  if (auto st = read_limits(*body, p); !st) {
    co_return error_response(st.error());
  }
  store::ApiKey key;
  apply(p, key);
  if (const auto* v = body->if_contains("account_id"); v != nullptr && !v->is_null()) {
    auto n = whole(*v, "account_id", std::numeric_limits<std::int64_t>::max());
    if (!n || *n == 0) {
      co_return error_response(bad("account_id must be an account's id", "account_id"));
    }
    key.account_id = *n;
  }
  std::optional<std::int64_t> initial;
  if (const auto* v = body->if_contains("credits"); v != nullptr && !v->is_null()) {
    auto c = credits(*v, "credits", false);
    if (!c) {
      co_return error_response(c.error());
    }
    initial = *c;
  }
  auto secret = new_key_secret();
  if (!secret) {
    co_return error_response(secret.error());
  }
  key.prefix = secret->prefix;
  key.secret_hash = secret->hash;
  key.created_ms = clock_.now_ms();
  auto created = co_await runtime::offload(
      pool_, [&] { return store_.create_key_in_account(key, initial); });
  if (!created) {
    co_return error_response(created.error());
  }
  json::object o = key_json(*created);
  o["key"] = secret->key;  // the only time it is shown
  co_return ok_json(201, std::move(o));
}

boost::asio::awaitable<Response> AdminApi::list_keys(std::string_view query) {
  const std::string search = query_param(query, "q");
  if (!search.empty() || !query_param(query, "page").empty() ||
      !query_param(query, "page_size").empty()) {
    if (search.size() > 200) {
      co_return error_response(bad("q must be at most 200 characters", "q"));
    }
    auto page = paging(query);
    if (!page) {
      co_return error_response(page.error());
    }
    auto listed = co_await runtime::offload(pool_, [&] {
      return store_.list_keys_page(search, page->offset(), static_cast<int>(page->page_size));
    });
    if (!listed) {
      co_return error_response(listed.error());
    }
    co_return ok_json(200, page_json(listed->keys, key_json, *page, listed->total));
  }
  auto keys = co_await runtime::offload(pool_, [&] { return store_.list_keys(); });
  if (!keys) {
    co_return error_response(keys.error());
  }
  json::array data;
  for (const auto& k : *keys) {
    data.push_back(key_json(k));
  }
  co_return ok_json(200, json::object{{"object", "list"}, {"data", std::move(data)}});
}

boost::asio::awaitable<Response> AdminApi::get_key(std::int64_t id) {
  auto key = co_await runtime::offload(pool_, [&] { return store_.get_key(id); });
  if (!key) {
    co_return error_response(key.error());
  }
  if (!*key) {
    co_return error_response(make_error(ErrorCode::kNotFound, "no key " + std::to_string(id)));
  }
  co_return ok_json(200, key_json(**key));
}

boost::asio::awaitable<Response> AdminApi::patch_key(Request& req, std::int64_t id) {
  auto body = body_object(req);
  if (!body) {
    co_return error_response(body.error());
  }
  if (auto st = only_fields(*body, {"name", "disabled", "rpm", "max_active", "spend_limits",
                                    "ip_allowlist"});
      !st) {
    co_return error_response(st.error());
  }
  store::KeyPatch p;
  if (auto st = read_limits(*body, p); !st) {
    co_return error_response(st.error());
  }
  if (const auto* v = body->if_contains("disabled")) {
    if (!v->is_bool()) {
      co_return error_response(bad("disabled must be true or false", "disabled"));
    }
    p.disabled = v->as_bool();
  }
  auto key = co_await runtime::offload(pool_, [&] { return store_.update_key(id, p); });
  if (!key) {
    co_return error_response(key.error());
  }
  if (!*key) {
    co_return error_response(make_error(ErrorCode::kNotFound, "no key " + std::to_string(id)));
  }
  auth_.forget(id);  // a disable (or new limits) holds at once on this node
  co_return ok_json(200, key_json(**key));
}

boost::asio::awaitable<Response> AdminApi::rotate_key(std::int64_t id) {
  auto secret = new_key_secret();
  if (!secret) {
    co_return error_response(secret.error());
  }
  auto key = co_await runtime::offload(
      pool_, [&] { return store_.rotate_key(id, secret->prefix, secret->hash); });
  if (!key) {
    co_return error_response(key.error());
  }
  if (!*key) {
    co_return error_response(make_error(ErrorCode::kNotFound, "no key " + std::to_string(id)));
  }
  auth_.forget(id);  // the old secret stops at once on this node
  json::object o = key_json(**key);
  o["key"] = secret->key;
  co_return ok_json(200, std::move(o));
}

boost::asio::awaitable<Response> AdminApi::get_account(std::int64_t id) {
  auto account = co_await runtime::offload(pool_, [&] { return store_.get_account(id); });
  if (!account) {
    co_return error_response(account.error());
  }
  if (!*account) {
    co_return error_response(make_error(ErrorCode::kNotFound, "no account " + std::to_string(id)));
  }
  // The callback signing secret: made on first use when the account has none yet.
  auto candidate = callbacks::new_webhook_secret();
  if (!candidate) {
    co_return error_response(candidate.error());
  }
  auto secret =
      co_await runtime::offload(pool_, [&] { return store_.webhook_secret(id, *candidate); });
  if (!secret) {
    co_return error_response(secret.error());
  }
  json::object o = account_json(**account);
  o["webhook_secret"] = secret->value_or("");
  co_return ok_json(200, std::move(o));
}

boost::asio::awaitable<Response> AdminApi::rotate_webhook_secret(std::int64_t id) {
  auto secret = callbacks::new_webhook_secret();
  if (!secret) {
    co_return error_response(secret.error());
  }
  auto set = co_await runtime::offload(pool_, [&] { return store_.set_webhook_secret(id, *secret); });
  if (!set) {
    co_return error_response(set.error());
  }
  if (!*set) {
    co_return error_response(make_error(ErrorCode::kNotFound, "no account " + std::to_string(id)));
  }
  co_return ok_json(200, json::object{{"id", id}, {"webhook_secret", *secret}});
}

boost::asio::awaitable<core::Result<std::int64_t>> AdminApi::task_row(const std::string& id) {
  auto task = co_await runtime::offload(pool_, [&] { return store_.get_task(id); });
  if (!task) {
    co_return task.error();
  }
  if (!*task) {
    co_return make_error(ErrorCode::kNotFound, "no task " + core::echo_text(id, 100));
  }
  co_return (*task)->row_id;
}

boost::asio::awaitable<Response> AdminApi::task_callback(std::string_view task_id) {
  const std::string id(task_id);
  auto row = co_await task_row(id);
  if (!row) {
    co_return error_response(row.error());
  }
  auto cb = co_await runtime::offload(pool_, [&] { return store_.task_callback(*row); });
  if (!cb) {
    co_return error_response(cb.error());
  }
  if (!*cb) {
    co_return error_response(
        make_error(ErrorCode::kNotFound, "task " + core::echo_text(id, 100) + " has no callback (yet)"));
  }
  const auto& [d, attempts] = **cb;
  json::array list;
  for (const auto& a : attempts) {
    list.push_back(json::object{{"at_ms", a.started_ms},
                                {"http_status", a.http_status},
                                {"latency_ms", a.latency_ms},
                                {"error", a.error}});
  }
  co_return ok_json(200, json::object{{"task_id", id},
                                      {"url", d.url},
                                      {"webhook_id", d.msg_id},
                                      {"state", d.state},
                                      {"attempts", std::move(list)},
                                      {"next_at_ms", d.state == "pending" ? json::value(d.next_ms)
                                                                          : json::value(nullptr)}});
}

boost::asio::awaitable<Response> AdminApi::redeliver(std::string_view task_id) {
  const std::string id(task_id);
  auto row = co_await task_row(id);
  if (!row) {
    co_return error_response(row.error());
  }
  const std::int64_t now = clock_.now_ms();
  auto again =
      co_await runtime::offload(pool_, [&] { return store_.redeliver_callback(*row, now); });
  if (!again) {
    co_return error_response(again.error());
  }
  if (!*again) {
    co_return error_response(make_error(
        ErrorCode::kConflict, "task " + core::echo_text(id, 100) + " has no callback to send (yet)"));
  }
  if (on_redeliver_) {
    on_redeliver_();
  }
  co_return co_await task_callback(task_id);
}

boost::asio::awaitable<Response> AdminApi::add_credits(Request& req, std::int64_t id) {
  auto body = body_object(req);
  if (!body) {
    co_return error_response(body.error());
  }
  if (auto st = only_fields(*body, {"amount", "reason", "kind"}); !st) {
    co_return error_response(st.error());
  }
  const auto* amount_v = body->if_contains("amount");
  if (amount_v == nullptr) {
    co_return error_response(bad("amount is required", "amount"));
  }
  auto amount = credits(*amount_v, "amount", true);
  if (!amount) {
    co_return error_response(amount.error());
  }
  std::string reason;
  if (const auto* v = body->if_contains("reason")) {
    if (!v->is_string() || v->as_string().size() > 500) {
      co_return error_response(bad("reason must be a string of at most 500 characters", "reason"));
    }
    reason = std::string(v->as_string());
  }
  // A positive amount is a top-up unless called an adjustment; a negative one is an
  // adjustment.
  std::string kind = *amount > 0 ? "topup" : "adjust";
  if (const auto* v = body->if_contains("kind")) {
    if (!v->is_string() || (v->as_string() != "topup" && v->as_string() != "adjust")) {
      co_return error_response(bad("kind must be topup or adjust", "kind"));
    }
    kind = std::string(v->as_string());
  }
  const std::int64_t now = clock_.now_ms();
  auto account = co_await runtime::offload(
      pool_, [&] { return store_.add_credits(id, kind, *amount, reason, now); });
  if (!account) {
    auto e = account.error();
    if (e.code == ErrorCode::kInvalidRequest) {
      e.param = "amount";
    }
    co_return error_response(e);
  }
  if (!*account) {
    co_return error_response(make_error(ErrorCode::kNotFound, "no account " + std::to_string(id)));
  }
  co_return ok_json(200, account_json(**account));
}

boost::asio::awaitable<Response> AdminApi::list_tasks(std::string_view query) {
  store::TaskFilter f;
  f.state = query_param(query, "state");
  if (!f.state.empty() && !core::parse_task_state(f.state)) {
    co_return error_response(
        bad("state must be queued, running, succeeded, failed or cancelled", "state"));
  }
  if (auto k = query_param(query, "key_id"); !k.empty()) {
    auto id = parse_id(k);
    if (!id) {
      co_return error_response(bad("key_id must be a key's id", "key_id"));
    }
    f.key_id = *id;
  }
  f.model = query_param(query, "model");
  f.dialect = query_param(query, "dialect");
  if (core::Dialect d{}; !f.dialect.empty() && !core::parse_dialect(f.dialect, d)) {
    co_return error_response(
        bad("dialect must be jobs, generations, tasks, unified or openai", "dialect"));
  }
  auto since = time_param(query, "since");
  auto until = time_param(query, "until");
  if (!since || !until) {
    co_return error_response(!since ? since.error() : until.error());
  }
  f.since_ms = *since;
  f.until_ms = *until;
  auto page = paging(query);
  if (!page) {
    co_return error_response(page.error());
  }
  auto listed = co_await runtime::offload(pool_, [&] {
    return store_.list_all_tasks(f, page->offset(), static_cast<int>(page->page_size));
  });
  if (!listed) {
    co_return error_response(listed.error());
  }
  co_return ok_json(200, page_json(listed->tasks, task_json, *page, listed->total));
}

boost::asio::awaitable<Response> AdminApi::usage(std::string_view query) {
  auto q = usage_query(query, clock_.now_ms(), true);
  if (!q) {
    co_return error_response(q.error());
  }
  auto rows = co_await runtime::offload(pool_, [&] { return store_.usage_rows(*q); });
  if (!rows) {
    co_return error_response(rows.error());
  }
  co_return ok_json(200, usage_json(*q, *rows));
}

}  // namespace ig::api
