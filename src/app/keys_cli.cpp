#include "app/keys_cli.hpp"

#include <boost/json.hpp>

#include <ostream>
#include <vector>

#include "api/auth.hpp"
#include "app/serve.hpp"
#include "billing/money.hpp"
#include "callbacks/signing.hpp"
#include "core/clock.hpp"
#include "core/codec.hpp"
#include "http/client.hpp"
#include "store/store.hpp"

namespace ig::app {
namespace {

namespace json = boost::json;

// The keys as either target lists them, reduced to what these commands print or need.
struct KeyLine {
  std::int64_t id = 0;
  std::string prefix;
  std::string name;
  std::int64_t account_id = 0;
  bool disabled = false;
  std::string limits;  // "rpm=60 max_active=5 …", or ""
};

std::string limits_text(const store::KeyLimits& l) {
  std::string out;
  auto add = [&out](std::string part) {
    if (!out.empty()) {
      out += ' ';
    }
    out += std::move(part);
  };
  if (l.rpm > 0) add("rpm=" + std::to_string(l.rpm));
  if (l.max_active > 0) add("max_active=" + std::to_string(l.max_active));
  if (l.spend_hourly > 0) add("spend_hourly=" + billing::format_credits(l.spend_hourly));
  if (l.spend_daily > 0) add("spend_daily=" + billing::format_credits(l.spend_daily));
  if (l.spend_total > 0) add("spend_total=" + billing::format_credits(l.spend_total));
  if (!l.ip_allowlist.empty()) {
    std::string ips;
    for (const auto& c : l.ip_allowlist) {
      ips += (ips.empty() ? "" : ",") + c;
    }
    add("ip_allowlist=" + ips);
  }
  return out;
}

KeyLine line_of(const store::ApiKey& k) {
  return KeyLine{k.id, k.prefix, k.name, k.account_id, k.disabled, limits_text(k.limits)};
}

// --- the admin API

struct Answer {
  unsigned status = 0;
  json::value body;
};

core::Result<Answer> call(const AdminTarget& t, std::string method, std::string path,
                          const json::value* body) {
  http::Client client;
  http::Request req;
  req.method = std::move(method);
  std::string base = t.server;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  req.url = base + path;
  req.headers.emplace_back("Authorization", "Bearer " + t.admin_token);
  if (body != nullptr) {
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = json::serialize(*body);
  }
  auto res = client.send(req, http::Limits{});
  if (!res) {
    return core::make_error(core::ErrorCode::kUnavailable,
                            "cannot reach " + req.url + ": " + res.error().message);
  }
  Answer a;
  a.status = res->status;
  boost::system::error_code ec;
  a.body = json::parse(res->body, ec);
  if (ec) {
    a.body = json::object{{"error", json::object{{"message", res->body.substr(0, 300)}}}};
  }
  if (a.status < 200 || a.status > 299) {
    std::string message;
    if (const auto* o = a.body.if_object()) {
      if (const auto* e = o->if_contains("error"); e && e->is_object()) {
        if (const auto* m = e->as_object().if_contains("message"); m && m->is_string()) {
          message = std::string(m->as_string());
        }
      }
    }
    return core::make_error(core::ErrorCode::kInternal,
                            "the admin API answered " + std::to_string(a.status) +
                                (message.empty() ? "" : ": " + message));
  }
  return a;
}

std::int64_t int_of(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_int64() ? v->as_int64() : 0;
}

std::string str_of(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

core::Result<std::vector<KeyLine>> list_via_api(const AdminTarget& t) {
  auto a = call(t, "GET", "/admin/v1/keys", nullptr);
  if (!a) {
    return a.error();
  }
  std::vector<KeyLine> out;
  const auto* data = a->body.is_object() ? a->body.as_object().if_contains("data") : nullptr;
  if (data == nullptr || !data->is_array()) {
    return core::make_error(core::ErrorCode::kInternal, "the admin API's key list has no data");
  }
  for (const auto& v : data->as_array()) {
    if (!v.is_object()) {
      continue;
    }
    const auto& o = v.as_object();
    KeyLine l;
    l.id = int_of(o, "id");
    l.prefix = str_of(o, "prefix");
    l.name = str_of(o, "name");
    l.account_id = int_of(o, "account_id");
    const auto* d = o.if_contains("disabled");
    l.disabled = d != nullptr && d->is_bool() && d->as_bool();
    store::KeyLimits limits;
    limits.rpm = static_cast<int>(int_of(o, "rpm"));
    limits.max_active = static_cast<int>(int_of(o, "max_active"));
    if (const auto* s = o.if_contains("spend_limits"); s != nullptr && s->is_object()) {
      auto micros = [&](std::string_view k) -> std::int64_t {
        const auto* v = s->as_object().if_contains(k);
        if (v == nullptr || !v->is_number()) {
          return 0;
        }
        auto m = billing::credits_from_double(v->to_number<double>());
        return m ? *m : 0;
      };
      limits.spend_hourly = micros("hourly");
      limits.spend_daily = micros("daily");
      limits.spend_total = micros("total");
    }
    if (const auto* ips = o.if_contains("ip_allowlist"); ips != nullptr && ips->is_array()) {
      for (const auto& c : ips->as_array()) {
        if (c.is_string()) {
          limits.ip_allowlist.emplace_back(c.as_string());
        }
      }
    }
    l.limits = limits_text(limits);
    out.push_back(std::move(l));
  }
  return out;
}

core::Result<std::vector<KeyLine>> list_keys(const Config& config, const AdminTarget& t) {
  if (!t.server.empty()) {
    return list_via_api(t);
  }
  auto store = open_store(config);
  if (!store) {
    return store.error();
  }
  auto keys = (*store)->list_keys();
  if (!keys) {
    return keys.error();
  }
  std::vector<KeyLine> out;
  for (const auto& k : *keys) {
    out.push_back(line_of(k));
  }
  return out;
}

int fail(std::ostream& err, const core::Error& e) {
  err << "imagegate: " << e.message << "\n";
  return 1;
}

}  // namespace

int keys_create(const Config& config, const AdminTarget& target, const std::string& name,
                std::optional<std::int64_t> credits, std::ostream& out, std::ostream& err) {
  if (!target.server.empty()) {
    json::object body{{"name", name}};
    if (credits) {
      body["credits"] = billing::credits_as_double(*credits);
    }
    json::value v = body;
    auto a = call(target, "POST", "/admin/v1/keys", &v);
    if (!a) {
      return fail(err, a.error());
    }
    const auto* o = a->body.if_object();
    const std::string key = o != nullptr ? str_of(*o, "key") : std::string();
    if (key.empty()) {
      return fail(err, core::make_error(core::ErrorCode::kInternal,
                                        "the admin API answered without a key"));
    }
    out << key << std::endl;
    err << "key " << int_of(*o, "id") << " in account " << int_of(*o, "account_id") << "\n";
    if (auto acc = call(target, "GET", "/admin/v1/accounts/" + std::to_string(int_of(*o, "account_id")),
                        nullptr);
        acc && acc->body.is_object()) {
      err << "webhook secret (signs this account's callbacks): "
          << str_of(acc->body.as_object(), "webhook_secret") << "\n";
    }
    return 0;
  }
  auto store = open_store(config);
  if (!store) {
    return fail(err, store.error());
  }
  auto secret = api::new_key_secret();
  if (!secret) {
    return fail(err, secret.error());
  }
  store::ApiKey record;
  record.name = name;
  record.prefix = secret->prefix;
  record.secret_hash = secret->hash;
  record.created_ms = core::SystemClock().now_ms();
  auto created = (*store)->create_key_in_account(record, credits);
  if (!created) {
    return fail(err, created.error());
  }
  out << secret->key << std::endl;
  err << "key " << created->id << " in account " << created->account_id << " ("
      << (credits ? billing::format_credits(*credits) + " credits, metered" : "unmetered")
      << ")\n";
  // On its own line, on stderr: stdout carries the key alone (scripts read it).
  if (auto whsec = callbacks::new_webhook_secret()) {
    if (auto stored = (*store)->webhook_secret(created->account_id, *whsec); stored && *stored) {
      err << "webhook secret (signs this account's callbacks): " << **stored << "\n";
    }
  }
  return 0;
}

int keys_list(const Config& config, const AdminTarget& target, std::ostream& out,
              std::ostream& err) {
  auto keys = list_keys(config, target);
  if (!keys) {
    return fail(err, keys.error());
  }
  for (const auto& k : *keys) {
    out << k.id << "\t" << k.prefix << "…\t" << k.name << "\taccount=" << k.account_id << "\t"
        << (k.disabled ? "disabled" : "active") << (k.limits.empty() ? "" : "\t" + k.limits)
        << "\n";
  }
  return 0;
}

int keys_disable(const Config& config, const AdminTarget& target, std::int64_t id,
                 std::ostream& out, std::ostream& err) {
  if (!target.server.empty()) {
    json::value v = json::object{{"disabled", true}};
    auto a = call(target, "PATCH", "/admin/v1/keys/" + std::to_string(id), &v);
    if (!a) {
      return fail(err, a.error());
    }
    out << "key " << id << " disabled\n";
    return 0;
  }
  auto store = open_store(config);
  if (!store) {
    return fail(err, store.error());
  }
  store::KeyPatch patch;
  patch.disabled = true;
  auto updated = (*store)->update_key(id, patch);
  if (!updated) {
    return fail(err, updated.error());
  }
  if (!*updated) {
    return fail(err, core::make_error(core::ErrorCode::kNotFound,
                                      "no key " + std::to_string(id)));
  }
  out << "key " << id << " disabled (a running server stops accepting it within "
      << config.key_cache_ms << " ms)\n";
  return 0;
}

int credits_add(const Config& config, const AdminTarget& target, const std::string& key_prefix,
                std::int64_t amount, std::ostream& out, std::ostream& err) {
  if (amount == 0) {
    return fail(err, core::make_error(core::ErrorCode::kInvalidRequest, "--amount must not be 0"));
  }
  auto keys = list_keys(config, target);
  if (!keys) {
    return fail(err, keys.error());
  }
  // The stored prefix is the key's first 10 characters: a longer argument (the whole key)
  // names it exactly, a shorter one must match a single key.
  std::vector<const KeyLine*> matches;
  for (const auto& k : *keys) {
    if (k.prefix.empty()) {
      continue;
    }
    if (key_prefix.size() >= k.prefix.size() ? key_prefix.starts_with(k.prefix)
                                             : k.prefix.starts_with(key_prefix)) {
      matches.push_back(&k);
    }
  }
  if (matches.size() != 1) {
    return fail(err, core::make_error(core::ErrorCode::kNotFound,
                                      matches.empty() ? "no key has the prefix " + key_prefix
                                                      : "several keys have the prefix " +
                                                            key_prefix + "; give more of it"));
  }
  const std::int64_t account = matches.front()->account_id;
  const std::string kind = amount > 0 ? "topup" : "adjust";
  if (!target.server.empty()) {
    json::value v = json::object{{"amount", billing::credits_as_double(amount)},
                                 {"reason", "credits add (command line)"}};
    auto a = call(target, "POST", "/admin/v1/accounts/" + std::to_string(account) + "/credits",
                  &v);
    if (!a) {
      return fail(err, a.error());
    }
    const auto* o = a->body.if_object();
    const auto* balance = o != nullptr ? o->if_contains("balance") : nullptr;
    out << "account " << account << " balance "
        << (balance != nullptr ? core::serialize_decimal(*balance) : std::string("?"))
        << " credits\n";
    return 0;
  }
  auto store = open_store(config);
  if (!store) {
    return fail(err, store.error());
  }
  auto after = (*store)->add_credits(account, kind, amount, "credits add (command line)",
                                     core::SystemClock().now_ms());
  if (!after) {
    return fail(err, after.error());
  }
  if (!*after) {
    return fail(err, core::make_error(core::ErrorCode::kNotFound,
                                      "no account " + std::to_string(account)));
  }
  out << "account " << account << " balance " << billing::format_credits((*after)->balance)
      << " credits\n";
  return 0;
}

}  // namespace ig::app
