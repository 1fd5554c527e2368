#include "providers/factory.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ig::providers {

namespace {

const std::string* find(const ProviderSettings& s, std::string_view key) {
  auto it = s.options.find(std::string(key));
  return it == s.options.end() ? nullptr : &it->second;
}

void used(std::vector<std::string>* unused, std::string_view key) {
  if (unused != nullptr) {
    std::erase(*unused, std::string(key));
  }
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return {};
  }
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

core::Result<std::string> read_key(const ProviderSettings& s, std::vector<std::string>* unused) {
  const std::string* env = find(s, "api_key_env");
  const std::string* file = find(s, "api_key_file");
  used(unused, "api_key_env");
  used(unused, "api_key_file");
  if (env != nullptr && file != nullptr) {
    return setting_error(s, "", "set api_key_env or api_key_file, not both");
  }
  if (env != nullptr) {
    const char* value = std::getenv(env->c_str());
    if (value == nullptr || trim(value).empty()) {
      return setting_error(s, "api_key_env",
                           "the environment variable " + *env + " is not set or empty");
    }
    return trim(value);
  }
  if (file != nullptr) {
    std::ifstream in(*file, std::ios::binary);
    if (!in) {
      return setting_error(s, "api_key_file", "cannot read the key file " + *file);
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string key = trim(text.str());
    if (key.empty()) {
      return setting_error(s, "api_key_file", "the key file " + *file + " is empty");
    }
    return key;
  }
  // Local OpenAI-compatible servers often take no key.
  return std::string();
}

}  // namespace

core::Error setting_error(const ProviderSettings& s, std::string_view key, std::string_view why) {
  std::string where = "providers." + s.name;
  if (!key.empty()) {
    where += "." + std::string(key);
  }
  return core::make_error(core::ErrorCode::kInvalidRequest, where + ": " + std::string(why));
}

std::string_view to_string(FailureClass c) {
  switch (c) {
    case FailureClass::kNoWork:
      return "no_work";
    case FailureClass::kRouteFault:
      return "route_fault";
    case FailureClass::kRejected:
      return "rejected";
    case FailureClass::kUnknown:
      return "unknown";
    case FailureClass::kFailed:
      return "failed";
  }
  return "failed";
}

core::Result<std::int64_t> read_int(const ProviderSettings& s, std::string_view key,
                                    std::int64_t fallback, std::int64_t min, std::int64_t max) {
  const std::string* text = find(s, key);
  if (text == nullptr) {
    return fallback;
  }
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc{} || p != text->data() + text->size()) {
    return setting_error(s, key, "expected an integer, got '" + *text + "'");
  }
  if (n < min || n > max) {
    return setting_error(s, key,
                         "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return n;
}

core::Result<CommonSettings> read_common(const ProviderSettings& s,
                                         std::vector<std::string>* unused) {
  CommonSettings c;
  const std::string* base = find(s, "base_url");
  used(unused, "base_url");
  if (base == nullptr || base->empty()) {
    return setting_error(s, "base_url", "is required");
  }
  if (!base->starts_with("http://") && !base->starts_with("https://")) {
    return setting_error(s, "base_url", "must start with http:// or https://");
  }
  c.base_url = *base;
  while (c.base_url.size() > 1 && c.base_url.back() == '/') {
    c.base_url.pop_back();
  }
  auto key = read_key(s, unused);
  if (!key) {
    return key.error();
  }
  c.api_key = std::move(*key);
  if (const std::string* model = find(s, "model"); model != nullptr) {
    if (model->empty()) {
      return setting_error(s, "model", "must not be empty");
    }
    c.model = *model;
  }
  used(unused, "model");
  constexpr std::int64_t kDay = 86'400'000;
  auto timeout = read_int(s, "timeout_ms", c.timeout.count(), 100, kDay);
  auto connect = read_int(s, "connect_timeout_ms", c.connect_timeout.count(), 10, 600'000);
  for (auto* r : {&timeout, &connect}) {
    if (!*r) {
      return r->error();
    }
  }
  used(unused, "timeout_ms");
  used(unused, "connect_timeout_ms");
  c.timeout = std::chrono::milliseconds(*timeout);
  c.connect_timeout = std::chrono::milliseconds(*connect);
  if (const std::string* ca = find(s, "extra_ca_file"); ca != nullptr) {
    c.extra_ca_file = *ca;
  }
  used(unused, "extra_ca_file");
  return c;
}

core::Status check_keys(const ProviderSettings& s,
                        std::initializer_list<std::string_view> kind_keys) {
  static constexpr std::string_view kCommon[] = {
      "base_url",   "api_key_env",        "api_key_file", "model",
      "timeout_ms", "connect_timeout_ms", "concurrency",  "extra_ca_file"};
  for (const auto& [key, value] : s.options) {
    const auto known = [&key](auto& list) {
      return std::find(std::begin(list), std::end(list), key) != std::end(list);
    };
    if (known(kCommon) || known(kRouteKeys) || known(kind_keys)) {
      continue;
    }
    return setting_error(s, key, "unknown key for kind " + s.kind);
  }
  return core::ok_status();
}

const std::map<std::string, ProviderFactory, std::less<>>& factories() {
  static const std::map<std::string, ProviderFactory, std::less<>> table = {
      {"openai", make_openai_provider},
      {"relay", make_relay_provider},
  };
  return table;
}

}  // namespace ig::providers
