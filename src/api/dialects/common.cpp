#include "api/dialects/common.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "core/codec.hpp"

namespace ig::api::dialects {
namespace json = boost::json;

namespace {

// Boost.JSON reads a number beyond a double's range (1e400) as ±infinity, which serializes as
// no JSON at all: such a body, echoed as the task's `param`, would be text no client can parse.
// True when `v` holds such a number; `path` then names the first one ("input.x",
// "image_urls[1]"), built on the way back so that a clean body (every create) costs no string.
// The parser's depth limit (32) bounds the recursion.
bool infinite_number(const json::value& v, std::string& path) {
  if (v.is_double()) {
    return !std::isfinite(v.get_double());
  }
  // Puts `segment` (a key, or "[i]") before what was found below it.
  auto prefix = [&path](std::string segment) {
    if (!path.empty() && path.front() != '[') {
      segment += '.';
    }
    path.insert(0, segment);
  };
  if (const json::array* a = v.if_array()) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (infinite_number((*a)[i], path)) {
        prefix("[" + std::to_string(i) + "]");
        return true;
      }
    }
  }
  if (const json::object* o = v.if_object()) {
    for (const json::key_value_pair& kv : *o) {
      if (infinite_number(kv.value(), path)) {
        prefix(std::string(kv.key()));
        return true;
      }
    }
  }
  return false;
}

}  // namespace

core::Result<json::object> parse_object(std::string_view body, json::storage_ptr storage) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec, std::move(storage));
  if (ec) {
    return invalid("request body is not valid JSON: " + ec.message());
  }
  if (!doc.is_object()) {
    return invalid("request body must be a JSON object");
  }
  if (std::string path; infinite_number(doc, path)) {
    const std::string name = core::echo_text(path, 100);
    return invalid((name.empty() ? "a number" : name) + " is out of range", name);
  }
  return std::move(doc.get_object());
}

core::Result<std::optional<std::string>> opt_string(const json::object& o, std::string_view key,
                                                    std::string_view param) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return std::optional<std::string>{};
  }
  if (!v->is_string()) {
    return invalid(std::string(param) + " must be a string", std::string(param));
  }
  return std::optional<std::string>{std::string(v->get_string())};
}

core::Result<std::optional<long long>> opt_int(const json::object& o, std::string_view key,
                                               std::string_view param) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return std::optional<long long>{};
  }
  if (v->is_int64()) {
    return std::optional<long long>{v->get_int64()};
  }
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return std::optional<long long>{static_cast<long long>(v->get_uint64())};
  }
  if (v->is_double()) {
    const double d = v->get_double();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9e15) {
      return std::optional<long long>{static_cast<long long>(d)};
    }
  }
  return invalid(std::string(param) + " must be an integer", std::string(param));
}

core::Result<std::optional<bool>> opt_bool(const json::object& o, std::string_view key,
                                           std::string_view param) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return std::optional<bool>{};
  }
  if (!v->is_bool()) {
    return invalid(std::string(param) + " must be a boolean", std::string(param));
  }
  return std::optional<bool>{v->get_bool()};
}

core::Result<std::optional<std::vector<std::string>>> opt_string_array(const json::object& o,
                                                                       std::string_view key,
                                                                       std::string_view param) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return std::optional<std::vector<std::string>>{};
  }
  const std::string p(param);
  if (!v->is_array()) {
    return invalid(p + " must be an array of strings", p);
  }
  std::vector<std::string> out;
  for (const json::value& e : v->get_array()) {
    if (!e.is_string()) {
      return invalid(p + " must be an array of strings", p);
    }
    out.emplace_back(e.get_string());
  }
  return std::optional<std::vector<std::string>>{std::move(out)};
}

std::string joined(const std::vector<std::string_view>& values) {
  std::string out;
  for (std::string_view v : values) {
    if (!out.empty()) {
      out += ", ";
    }
    out += v;
  }
  return out;
}

core::Status check_prompt_length(const std::string& prompt, std::size_t max_chars,
                                 std::string_view param) {
  const std::size_t n = core::count_code_points(prompt);
  if (n > max_chars) {
    return rule(std::string(param) + " is " + std::to_string(n) + " characters; the maximum is " +
                    std::to_string(max_chars),
                std::string(param));
  }
  return core::ok_status();
}

core::Status check_input_prompt(const json::object& input, std::size_t max_chars,
                                core::GenerationRequest& r) {
  const json::value* v = input.if_contains("prompt");
  if (v == nullptr || v->is_null()) {
    return invalid("input.prompt is required", "input.prompt");
  }
  if (!v->is_string()) {
    return invalid("input.prompt must be a string", "input.prompt");
  }
  r.prompt = std::string(v->get_string());
  if (r.prompt.find_first_not_of(" \t\r\n") == std::string::npos) {
    return rule("input.prompt must not be empty", "input.prompt");
  }
  return check_prompt_length(r.prompt, max_chars, "input.prompt");
}

core::Result<core::Tier> opt_tier(const json::object& o, std::string_view key,
                                  std::string_view param, std::string_view words) {
  auto word = opt_string(o, key, param);
  if (!word) {
    return word.error();
  }
  if (!*word) {
    return core::Tier::k1K;
  }
  if (auto tier = core::parse_tier(**word)) {
    return *tier;
  }
  return rule(std::string(param) + " must be one of " + std::string(words), std::string(param));
}

std::optional<core::Size> parse_pixel_size(std::string_view s) {
  std::size_t at = s.find_first_of("xX");
  std::size_t sep_len = 1;
  if (at == std::string_view::npos) {
    at = s.find("\xC3\x97");  // U+00D7 MULTIPLICATION SIGN
    sep_len = 2;
  }
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  const auto digits = [](std::string_view d) {
    return !d.empty() && d.size() <= 5 &&
           std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const std::string_view w = s.substr(0, at);
  const std::string_view h = s.substr(at + sep_len);
  if (!digits(w) || !digits(h)) {
    return std::nullopt;
  }
  core::Size out;
  std::from_chars(w.data(), w.data() + w.size(), out.width);
  std::from_chars(h.data(), h.data() + h.size(), out.height);
  return out;
}

}  // namespace ig::api::dialects
