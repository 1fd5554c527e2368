#include "app/config.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>

#include <toml++/toml.h>

namespace ig::app {
namespace {

// A setter returns why a value is refused, or nothing when it was applied.
using Setter = std::function<std::optional<std::string>(Config&, std::string_view)>;

core::Error bad(std::string_view name, std::string_view why) {
  return core::make_error(core::ErrorCode::kInvalidRequest,
                          "option " + std::string(name) + ": " + std::string(why));
}

template <class T>
Setter integer(T Config::*member, std::int64_t min, std::int64_t max) {
  return [=](Config& c, std::string_view v) -> std::optional<std::string> {
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || p != v.data() + v.size()) {
      return "expected an integer, got '" + std::string(v) + "'";
    }
    if (n < min || n > max) {
      return "must be between " + std::to_string(min) + " and " + std::to_string(max);
    }
    c.*member = static_cast<T>(n);
    return std::nullopt;
  };
}

Setter real(double Config::*member, double min, double max) {
  return [=](Config& c, std::string_view v) -> std::optional<std::string> {
    try {
      std::size_t used = 0;
      const double d = std::stod(std::string(v), &used);
      if (used != v.size() || d < min || d > max) {
        return "expected a number in [" + std::to_string(min) + ", " + std::to_string(max) +
               "]";
      }
      c.*member = d;
    } catch (const std::exception&) {
      return "expected a number, got '" + std::string(v) + "'";
    }
    return std::nullopt;
  };
}

Setter text(std::string Config::*member) {
  return [=](Config& c, std::string_view v) -> std::optional<std::string> {
    c.*member = std::string(v);
    return std::nullopt;
  };
}

// One of `allowed`, exactly.
Setter one_of(std::string Config::*member, std::vector<std::string_view> allowed) {
  return [=](Config& c, std::string_view v) -> std::optional<std::string> {
    for (auto a : allowed) {
      if (v == a) {
        c.*member = std::string(v);
        return std::nullopt;
      }
    }
    std::string names;
    for (auto a : allowed) {
      names += (names.empty() ? "" : ", ") + std::string(a);
    }
    return "must be one of " + names;
  };
}

Setter boolean(bool Config::*member) {
  return [=](Config& c, std::string_view v) -> std::optional<std::string> {
    if (v != "true" && v != "false") {
      return "expected true or false, got '" + std::string(v) + "'";
    }
    c.*member = v == "true";
    return std::nullopt;
  };
}

Setter path(std::filesystem::path Config::*member) {
  return [=](Config& c, std::string_view v) -> std::optional<std::string> {
    c.*member = std::filesystem::path(std::string(v));
    return std::nullopt;
  };
}

// Whole numbers, comma-separated (an array in TOML), each in [min, max].
Setter integers(std::vector<std::int64_t> Config::*member, std::int64_t min, std::int64_t max) {
  return [=](Config& c, std::string_view v) -> std::optional<std::string> {
    std::vector<std::int64_t> out;
    while (!v.empty()) {
      const auto comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      std::int64_t n = 0;
      auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
      if (ec != std::errc() || end != item.data() + item.size() || n < min || n > max) {
        return "expected whole numbers between " + std::to_string(min) + " and " +
               std::to_string(max) + ", got '" + std::string(item) + "'";
      }
      out.push_back(n);
      if (comma == std::string_view::npos) {
        break;
      }
      v.remove_prefix(comma + 1);
    }
    c.*member = std::move(out);
    return std::nullopt;
  };
}

// Comma-separated in the environment and flags; an array in TOML.
Setter list(std::vector<std::string> Config::*member) {
  return [=](Config& c, std::string_view v) -> std::optional<std::string> {
    (c.*member).clear();
    while (!v.empty()) {
      const auto comma = v.find(',');
      std::string_view item = v.substr(0, comma);
      if (!item.empty()) {
        (c.*member).emplace_back(item);
      }
      if (comma == std::string_view::npos) {
        break;
      }
      v.remove_prefix(comma + 1);
    }
    return std::nullopt;
  };
}

const std::vector<std::pair<std::string, Setter>>& options() {
  constexpr std::int64_t kBig = std::int64_t{1} << 40;
  static const std::vector<std::pair<std::string, Setter>> table = {
      {"server.listen", text(&Config::listen)},
      {"server.public_url", text(&Config::public_url)},
      {"server.port_file", text(&Config::port_file)},
      {"server.io_threads", integer(&Config::io_threads, 0, 256)},
      {"server.io_slice_us", integer(&Config::io_slice_us, 0, 100'000)},
      {"server.blocking_threads", integer(&Config::blocking_threads, 1, 1024)},
      {"server.max_header_bytes", integer(&Config::max_header_bytes, 1024, 1 << 20)},
      {"server.max_body_bytes", integer(&Config::max_body_bytes, 1024, kBig)},
      {"server.max_upload_bytes", integer(&Config::max_upload_bytes, 1024, kBig)},
      {"server.upload_memory_bytes", integer(&Config::upload_memory_bytes, 0, kBig)},
      {"server.answer_memory_bytes", integer(&Config::answer_memory_bytes, 0, kBig)},
      {"server.sync_timeout_ms", integer(&Config::sync_timeout_ms, 10, kBig)},
      {"server.idle_timeout_ms", integer(&Config::idle_timeout_ms, 10, kBig)},
      {"server.request_timeout_ms", integer(&Config::request_timeout_ms, 10, kBig)},
      {"server.min_body_rate", integer(&Config::min_body_rate, 1, kBig)},
      {"server.drain_timeout_ms", integer(&Config::drain_timeout_ms, 0, kBig)},
      {"server.max_connections", integer(&Config::max_connections, 1, 1'000'000)},
      {"server.data_dir", path(&Config::data_dir)},
      {"store.sqlite_synchronous", text(&Config::sqlite_synchronous)},
      {"store.sqlite_task_cache", integer(&Config::sqlite_task_cache, 0, 10'000'000)},
      {"store.url", text(&Config::store_url)},
      {"store.pool_size", integer(&Config::store_pool_size, 1, 1000)},
      {"dispatcher.concurrency", integer(&Config::concurrency, 1, 100'000)},
      {"dispatcher.lease_ms", integer(&Config::lease_ms, 100, kBig)},
      {"dispatcher.poll_ms", integer(&Config::poll_ms, 10, kBig)},
      {"dispatcher.max_attempts", integer(&Config::max_attempts, 1, 100)},
      {"sandbox.latency_ms", integer(&Config::sandbox_latency_ms, 0, kBig)},
      {"sandbox.failure_rate", real(&Config::sandbox_failure_rate, 0.0, 1.0)},
      {"media.input_max_bytes", integer(&Config::input_max_bytes, 1, kBig)},
      {"media.input_max_pixels", integer(&Config::input_max_pixels, 1, kBig)},
      {"media.connect_timeout_ms", integer(&Config::connect_timeout_ms, 10, kBig)},
      {"media.fetch_timeout_ms", integer(&Config::fetch_timeout_ms, 10, kBig)},
      {"media.max_redirects", integer(&Config::max_redirects, 0, 10)},
      {"media.unsafe_allow_cidrs", list(&Config::unsafe_allow_cidrs)},
      {"media.extra_ca_file", text(&Config::extra_ca_file)},
      {"results.ttl_s", integer(&Config::result_ttl_s, 1, kBig)},
      {"results.janitor_interval_s", integer(&Config::janitor_interval_s, 1, kBig)},
      {"results.storage", one_of(&Config::result_storage, {"fs", "s3"})},
      {"results.signing_key_file", path(&Config::signing_key_file)},
      {"s3.endpoint", text(&Config::s3_endpoint)},
      {"s3.bucket", text(&Config::s3_bucket)},
      {"s3.region", text(&Config::s3_region)},
      {"s3.path_style", boolean(&Config::s3_path_style)},
      {"s3.access_key_env", text(&Config::s3_access_key_env)},
      {"s3.secret_key_env", text(&Config::s3_secret_key_env)},
      {"s3.credentials_file", path(&Config::s3_credentials_file)},
      {"s3.serve", one_of(&Config::s3_serve, {"signed", "presigned"})},
      {"s3.timeout_ms", integer(&Config::s3_timeout_ms, 100, kBig)},
      {"auth.key_cache_ms", integer(&Config::key_cache_ms, 0, kBig)},
      {"auth.trusted_proxies", list(&Config::trusted_proxies)},
      {"admin.token", text(&Config::admin_token)},
      {"console.dir", path(&Config::console_dir)},
      {"callbacks.concurrency", integer(&Config::callback_concurrency, 1, 10'000)},
      {"callbacks.timeout_ms", integer(&Config::callback_timeout_ms, 100, kBig)},
      {"callbacks.extra_retries_s", integers(&Config::callback_extra_retries_s, 1, 7 * 86'400)},
      {"log.level", one_of(&Config::log_level, {"trace", "debug", "info", "warning", "warn",
                                                "error", "critical", "off"})},
  };
  return table;
}

}  // namespace

std::vector<std::string> option_names() {
  std::vector<std::string> names;
  for (const auto& [name, setter] : options()) {
    names.push_back(name);
  }
  return names;
}

core::Status set_option(Config& c, std::string_view name, std::string_view value) {
  for (const auto& [n, setter] : options()) {
    if (n == name) {
      if (auto why = setter(c, value)) {
        return bad(name, *why);
      }
      return core::ok_status();
    }
  }
  return bad(name, "unknown option");
}

namespace {

// A scalar or an array of scalars as text (arrays joined by ','), or why not.
std::optional<std::string> value_text(const toml::node& value, std::string& out) {
  auto scalar = [](const toml::node& n, std::string& text) -> bool {
    if (n.is_string()) {
      text = *n.value<std::string>();
    } else if (n.is_integer()) {
      text = std::to_string(*n.value<std::int64_t>());
    } else if (n.is_floating_point()) {
      text = std::to_string(*n.value<double>());
    } else if (n.is_boolean()) {
      text = *n.value<bool>() ? "true" : "false";
    } else {
      return false;
    }
    return true;
  };
  out.clear();
  if (const auto* arr = value.as_array()) {
    for (const auto& e : *arr) {
      std::string item;
      if (!scalar(e, item)) {
        return "expected an array of plain values";
      }
      out += (out.empty() ? "" : ",") + item;
    }
    return std::nullopt;
  }
  if (!scalar(value, out)) {
    return "unsupported value type";
  }
  return std::nullopt;
}

core::Status load_providers(Config& c, const toml::table& providers) {
  for (const auto& [name, node] : providers) {
    const std::string where = "providers." + std::string(name.str());
    const auto* table = node.as_table();
    if (table == nullptr) {
      return bad(where, "expected a [" + where + "] table");
    }
    ProviderSection section;
    section.name = std::string(name.str());
    if (section.name.empty() || section.name == "sandbox") {
      return bad(where, "the name sandbox is the built-in provider's; choose another");
    }
    for (const auto& [key, value] : *table) {
      std::string text_value;
      if (auto why = value_text(value, text_value)) {
        return bad(where + "." + std::string(key.str()), *why);
      }
      if (key.str() == "kind") {
        section.kind = text_value;
      } else {
        section.options[std::string(key.str())] = text_value;
      }
    }
    if (section.kind.empty()) {
      return bad(where + ".kind", "is required (openai, relay or sandbox)");
    }
    std::erase_if(c.providers, [&](const ProviderSection& p) { return p.name == section.name; });
    c.providers.push_back(std::move(section));
  }
  return core::ok_status();
}

core::Status load_routing(Config& c, const toml::table& routing) {
  for (const auto& [family, node] : routing) {
    const std::string where = "routing." + std::string(family.str());
    const auto* arr = node.as_array();
    std::vector<std::string> routes;
    if (arr == nullptr) {
      if (!node.is_string()) {
        return bad(where, "expected an array of provider names");
      }
      routes.push_back(*node.value<std::string>());
    } else {
      for (const auto& e : *arr) {
        if (!e.is_string() || e.value<std::string>()->empty()) {
          return bad(where, "expected an array of provider names");
        }
        routes.push_back(*e.value<std::string>());
      }
    }
    if (routes.empty()) {
      return bad(where, "names no provider");
    }
    // A named copy: clang 14 cannot capture a structured binding in a lambda.
    std::string name(family.str());
    std::erase_if(c.routing, [&](const auto& r) { return r.first == name; });
    c.routing.emplace_back(std::move(name), std::move(routes));
  }
  return core::ok_status();
}

// Applies a parsed file; `source` names it in messages.
core::Status apply_toml(Config& c, const toml::table& root, const std::string& source) {
  for (const auto& [section, node] : root) {
    const auto* table = node.as_table();
    if (table == nullptr) {
      return bad(section.str(), "expected a [section]");
    }
    if (section.str() == "providers") {
      if (auto st = load_providers(c, *table); !st) {
        return st;
      }
      continue;
    }
    if (section.str() == "prices") {
      auto prices = billing::PriceTable::from_toml(*table);
      if (!prices) {
        return core::make_error(core::ErrorCode::kInvalidRequest,
                                "config " + source + ": " + prices.error().message);
      }
      c.prices = std::move(*prices);
      continue;
    }
    if (section.str() == "routing") {
      if (auto st = load_routing(c, *table); !st) {
        return st;
      }
      continue;
    }
    for (const auto& [key, value] : *table) {
      const std::string name = std::string(section.str()) + "." + std::string(key.str());
      std::string text_value;
      if (value.is_table()) {
        return bad(name, "unexpected table");
      }
      if (auto why = value_text(value, text_value)) {
        return bad(name, *why);
      }
      if (auto st = set_option(c, name, text_value); !st) {
        return st;
      }
    }
  }
  return core::ok_status();
}

}  // namespace

core::Status load_toml(Config& c, const std::filesystem::path& file) {
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "config " + file.string() + ": " + std::string(e.description()));
  }
  return apply_toml(c, root, file.string());
}

core::Status load_toml_text(Config& c, std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "config " + std::string(source) + ": " + std::string(e.description()));
  }
  return apply_toml(c, root, std::string(source));
}

core::Status load_env(Config& c, char** env) {
  const auto names = option_names();
  for (char** e = env; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    if (!kv.starts_with("IMAGEGATE_")) {
      continue;
    }
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    std::string var(kv.substr(std::string_view("IMAGEGATE_").size(),
                              eq - std::string_view("IMAGEGATE_").size()));
    const std::string_view value = kv.substr(eq + 1);
    std::transform(var.begin(), var.end(), var.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    if (var == "data_dir") {
      var = "server_data_dir";
    } else if (var == "listen") {
      var = "server_listen";
    }
    std::string matched;
    for (const auto& n : names) {
      std::string flat = n;
      std::replace(flat.begin(), flat.end(), '.', '_');
      if (flat == var) {
        matched = n;
        break;
      }
    }
    if (matched.empty()) {
      continue;  // IMAGEGATE_* variables of other tools (tests) are not ours to refuse
    }
    if (auto st = set_option(c, matched, value); !st) {
      return st;
    }
  }
  return core::ok_status();
}

}  // namespace ig::app
