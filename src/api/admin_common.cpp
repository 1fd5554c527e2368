#include "api/admin_common.hpp"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <charconv>
#include <ctime>

#include "billing/money.hpp"
#include "core/codec.hpp"

namespace ig::api::admin_common {

namespace json = boost::json;
using core::ErrorCode;
using core::make_error;

Response error_response(const core::Error& e) {
  json::object err{{"code", core::to_string(e.code)}, {"message", core::to_valid_utf8(e.message)}};
  if (!e.param.empty()) {
    err["param"] = e.param;
  }
  Response res = json_response(static_cast<unsigned>(core::http_status(e.code)),
                               json::serialize(json::object{{"error", std::move(err)}}));
  if (e.code == ErrorCode::kUnauthorized) {
    res.set(http::field::www_authenticate, "Bearer");
  }
  return res;
}

core::Error bad(std::string message, std::string param) {
  return make_error(ErrorCode::kInvalidRequest, std::move(message), std::move(param));
}

json::value credits_or_null(std::int64_t micros) {
  return micros > 0 ? json::value(billing::credits_as_double(micros)) : json::value(nullptr);
}

json::object key_json(const store::ApiKey& k) {
  json::array ips;
  for (const auto& c : k.limits.ip_allowlist) {
    ips.emplace_back(c);
  }
  return json::object{
      {"id", k.id},
      {"account_id", k.account_id},
      {"name", k.name},
      {"prefix", k.prefix},
      {"disabled", k.disabled},
      {"created_at", k.created_ms / 1000},
      {"rpm", k.limits.rpm},
      {"max_active", k.limits.max_active},
      {"spend_limits", json::object{{"hourly", credits_or_null(k.limits.spend_hourly)},
                                    {"daily", credits_or_null(k.limits.spend_daily)},
                                    {"total", credits_or_null(k.limits.spend_total)}}},
      {"ip_allowlist", std::move(ips)},
  };
}

json::object account_json(const store::Account& a) {
  return json::object{
      {"id", a.id},
      {"name", a.name},
      {"metered", a.metered},
      {"balance", billing::credits_as_double(a.balance)},
      {"total_purchased", billing::credits_as_double(a.total_purchased)},
      {"total_consumed", billing::credits_as_double(a.total_consumed)},
      {"created_at", a.created_ms / 1000},
  };
}

json::object task_json(const core::Task& t) {
  json::object o{
      {"id", t.id},
      {"key_id", t.key_id},
      {"dialect", core::to_string(t.request.dialect)},
      {"model", t.request.model},
      {"state", core::to_string(t.state)},
      {"attempt", t.attempt},
      {"created_at", t.created_ms / 1000},
      {"started_at", t.started_ms == 0 ? json::value(nullptr) : json::value(t.started_ms / 1000)},
      {"completed_at",
       t.completed_ms == 0 ? json::value(nullptr) : json::value(t.completed_ms / 1000)},
      {"price", billing::credits_as_double(t.price)},
      {"images", static_cast<std::int64_t>(t.results.size())},
      {"upstream_route", t.upstream_route},
      {"upstream_id", t.upstream_id},
  };
  if (!t.fail_code.empty()) {
    o["fail_code"] = t.fail_code;
    o["fail_msg"] = t.fail_msg;
  }
  return o;
}

Response ok_json(unsigned status, json::value v) {
  return json_response(status, core::serialize_decimal(v));  // credits as 4.7, not 4.7E0
}

core::Result<json::object> body_object(const Request& req) {
  boost::system::error_code ec;
  json::value v = json::parse(req.body(), ec);
  if (ec || !v.is_object()) {
    return bad("the body must be a JSON object");
  }
  return std::move(v.as_object());
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v <= 0) {
    return std::nullopt;
  }
  return v;
}

std::string query_param(std::string_view query, std::string_view name) {
  const std::string target = "/?" + std::string(query);  // the view below refers to it
  auto url = boost::urls::parse_origin_form(target);
  if (!url) {
    return {};
  }
  auto it = url->params().find(name);
  return it == url->params().end() ? std::string() : std::string((*it).value);
}

core::Result<std::int64_t> time_param(std::string_view query, std::string_view name) {
  const std::string v = query_param(query, name);
  if (v.empty()) {
    return std::int64_t{0};
  }
  if (auto secs = parse_id(v)) {
    return *secs * 1000;
  }
  std::tm tm{};
  if (v.size() == 10 && strptime(v.c_str(), "%Y-%m-%d", &tm) != nullptr) {
    return static_cast<std::int64_t>(timegm(&tm)) * 1000;
  }
  return bad(std::string(name) + " must be unix seconds or a date (YYYY-MM-DD)", std::string(name));
}

core::Result<Paging> paging(std::string_view query, std::int64_t size, std::int64_t max) {
  Paging p;
  p.page_size = size;
  if (auto v = query_param(query, "page"); !v.empty()) {
    auto n = parse_id(v);
    if (!n || *n > 1'000'000) {
      return bad("page must be a whole number from 1 to 1000000", "page");
    }
    p.page = *n;
  }
  if (auto v = query_param(query, "page_size"); !v.empty()) {
    auto n = parse_id(v);
    if (!n || *n > max) {
      return bad("page_size must be from 1 to " + std::to_string(max), "page_size");
    }
    p.page_size = *n;
  }
  return p;
}

json::object page_json(json::array data, const Paging& p, std::int64_t total) {
  return json::object{{"object", "list"},
                      {"data", std::move(data)},
                      {"page", p.page},
                      {"page_size", p.page_size},
                      {"total", total}};
}

core::Result<store::UsageQuery> usage_query(std::string_view query, std::int64_t now_ms,
                                            bool key_grouping) {
  constexpr std::int64_t kDay = 86'400'000;
  store::UsageQuery q;
  if (key_grouping) {
    if (auto k = query_param(query, "key_id"); !k.empty()) {
      auto id = parse_id(k);
      if (!id) {
        return bad("key_id must be a key's id", "key_id");
      }
      q.key_id = *id;
    }
  }
  auto from = time_param(query, "from");
  if (!from) {
    return from.error();
  }
  auto to = time_param(query, "to");
  if (!to) {
    return to.error();
  }
  q.to_ms = *to != 0 ? *to : (now_ms / kDay + 1) * kDay;  // through today
  q.from_ms = *from != 0 ? *from : q.to_ms - 30 * kDay;
  if (q.from_ms >= q.to_ms) {
    return bad("from must be before to", "from");
  }
  if (q.to_ms - q.from_ms > 366 * kDay) {
    return bad("from and to may be at most 366 days apart", "from");
  }
  q.model = query_param(query, "model");
  if (q.model.size() > 200) {
    return bad("model must be at most 200 characters", "model");
  }
  const std::string group = query_param(query, "group_by");
  if (group.empty() || group == "day") {
    q.group_by = store::UsageQuery::GroupBy::kDay;
  } else if (group == "model") {
    q.group_by = store::UsageQuery::GroupBy::kModel;
  } else if (group == "key" && key_grouping) {
    q.group_by = store::UsageQuery::GroupBy::kKey;
  } else {
    return bad(
        key_grouping ? "group_by must be day, key or model" : "group_by must be day or model",
        "group_by");
  }
  return q;
}

json::object usage_json(const store::UsageQuery& q, const std::vector<store::UsageRow>& rows) {
  using GroupBy = store::UsageQuery::GroupBy;
  json::array data;
  for (const auto& r : rows) {
    json::object o{{"day", r.day}};
    if (q.group_by == GroupBy::kKey) {
      o["key_id"] = r.key_id;
    } else if (q.group_by == GroupBy::kModel) {
      o["model"] = r.model;
    }
    o["tasks"] = r.tasks;
    o["images"] = r.images;
    o["credits"] = billing::credits_as_double(r.credits);
    data.push_back(std::move(o));
  }
  return json::object{{"object", "list"},
                      {"from", q.from_ms / 1000},
                      {"to", q.to_ms / 1000},
                      {"group_by", q.group_by == GroupBy::kKey     ? "key"
                                   : q.group_by == GroupBy::kModel ? "model"
                                                                   : "day"},
                      {"data", std::move(data)}};
}

}  // namespace ig::api::admin_common
