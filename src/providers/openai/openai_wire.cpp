#include "providers/openai/openai_wire.hpp"
#include "http/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>

#include "core/codec.hpp"
#include "core/fail_codes.hpp"

namespace ig::providers::openai {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxMessage = 300;

std::string url_for(const Endpoint& ep, std::string_view path) {
  std::string url = ep.base_url;
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  url += path;
  if (!ep.api_version.empty()) {
    url += "?api-version=" + ep.api_version;
  }
  return url;
}

void add_auth(const Endpoint& ep, http::Headers& headers) {
  if (ep.api_key.empty()) {
    return;
  }
  if (ep.auth_header == "api-key") {
    headers.emplace_back("api-key", ep.api_key);
    return;
  }
  headers.emplace_back("Authorization", "Bearer " + ep.api_key);
}

std::string size_text(core::Size s) {
  return std::to_string(s.width) + "x" + std::to_string(s.height);
}

/// The optional fields of both calls, as (name, value) text pairs, where the client gave them.
std::vector<std::pair<std::string, std::string>> optional_fields(const Endpoint& ep,
                                                                 const core::GenerationRequest& r) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!r.quality.empty()) {
    out.emplace_back("quality", r.quality);
  }
  if (!r.output_format.empty()) {
    out.emplace_back("output_format", r.output_format);
  }
  if (r.output_compression >= 0) {
    out.emplace_back("output_compression", std::to_string(r.output_compression));
  }
  if (!r.background.empty()) {
    out.emplace_back("background", r.background);
  }
  if (!ep.moderation.empty()) {
    out.emplace_back("moderation", ep.moderation);
  }
  return out;
}

std::string extension_of(std::string_view mime) {
  if (mime == "image/jpeg") {
    return "jpg";
  }
  if (mime == "image/webp") {
    return "webp";
  }
  return "png";
}

void add_text_part(std::string& body, std::string_view boundary, std::string_view name,
                   std::string_view value) {
  body.append("--").append(boundary).append("\r\n");
  body.append("Content-Disposition: form-data; name=\"").append(name).append("\"\r\n\r\n");
  body.append(value).append("\r\n");
}

void add_file_part(std::string& body, std::string_view boundary, std::string_view name,
                   std::string_view filename, const ImageBytes& image) {
  body.append("--").append(boundary).append("\r\n");
  body.append("Content-Disposition: form-data; name=\"")
      .append(name)
      .append("\"; filename=\"")
      .append(filename)
      .append("\"\r\n");
  body.append("Content-Type: ")
      .append(image.mime.empty() ? "application/octet-stream" : image.mime)
      .append("\r\n\r\n");
  body.append(image.bytes).append("\r\n");
}

std::optional<std::string> decode_base64(std::string_view text) {
  namespace b64 = boost::beast::detail::base64;
  std::string clean;
  clean.reserve(text.size());
  for (char c : text) {
    if (c != '\n' && c != '\r') {
      clean.push_back(c);
    }
  }
  if (clean.empty() || clean.size() % 4 != 0) {
    return std::nullopt;
  }
  // Up to two '=' of padding at the end, and nowhere else (Beast's decoder stops at the first).
  std::size_t data = clean.size();
  while (data > 0 && clean.size() - data < 2 && clean[data - 1] == '=') {
    --data;
  }
  std::string out(b64::decoded_size(clean.size()), '\0');
  auto [written, read] = b64::decode(out.data(), clean.data(), data);
  if (read != data) {
    return std::nullopt;
  }
  out.resize(written);
  return out;
}

std::int64_t int_or(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v != nullptr && v->is_int64()) {
    return v->as_int64();
  }
  if (v != nullptr && v->is_uint64()) {
    return static_cast<std::int64_t>(v->as_uint64());
  }
  return -1;
}

Usage read_usage(const json::object& o) {
  Usage u;
  const json::value* usage = o.if_contains("usage");
  if (usage == nullptr || !usage->is_object()) {
    return u;
  }
  const json::object& uo = usage->get_object();
  u.input_tokens = int_or(uo, "input_tokens");
  u.output_tokens = int_or(uo, "output_tokens");
  u.total_tokens = int_or(uo, "total_tokens");
  if (const json::value* d = uo.if_contains("input_tokens_details");
      d != nullptr && d->is_object()) {
    u.input_text_tokens = int_or(d->get_object(), "text_tokens");
    u.input_image_tokens = int_or(d->get_object(), "image_tokens");
  }
  return u;
}

core::Error unreadable(std::string why) {
  return core::make_error(core::ErrorCode::kUpstream,
                          "the upstream's answer could not be read: " + std::move(why));
}

}  // namespace

http::Request generation_request(const Endpoint& ep, const GenerateJob& job, core::Size size) {
  const core::GenerationRequest& r = job.request;
  json::object body;
  body["model"] = ep.model;
  body["prompt"] = r.prompt;
  body["n"] = r.n;
  body["size"] = size_text(size);
  for (auto& [name, value] : optional_fields(ep, r)) {
    if (name == "output_compression") {
      body[name] = r.output_compression;
    } else {
      body[name] = value;
    }
  }
  http::Request req;
  req.method = "POST";
  req.url = url_for(ep, "/images/generations");
  req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("Accept", "application/json");
  add_auth(ep, req.headers);
  req.body = json::serialize(body);
  return req;
}

http::Request edit_request(const Endpoint& ep, const GenerateJob& job, core::Size size,
                           std::string_view boundary) {
  const core::GenerationRequest& r = job.request;
  std::string body;
  std::size_t reserve = 4096;
  for (const auto& ref : job.references) {
    reserve += ref.bytes.size() + 256;
  }
  if (job.mask) {
    reserve += job.mask->bytes.size() + 256;
  }
  body.reserve(reserve);
  for (std::size_t i = 0; i < job.references.size(); ++i) {
    const auto& ref = job.references[i];
    add_file_part(body, boundary, "image[]",
                  "image-" + std::to_string(i + 1) + "." + extension_of(ref.mime), ref);
  }
  if (job.mask) {
    add_file_part(body, boundary, "mask", "mask.png", *job.mask);
  }
  add_text_part(body, boundary, "prompt", r.prompt);
  add_text_part(body, boundary, "model", ep.model);
  add_text_part(body, boundary, "n", std::to_string(r.n));
  add_text_part(body, boundary, "size", size_text(size));
  for (auto& [name, value] : optional_fields(ep, r)) {
    add_text_part(body, boundary, name, value);
  }
  body.append("--").append(boundary).append("--\r\n");
  http::Request req;
  req.method = "POST";
  req.url = url_for(ep, "/images/edits");
  req.headers.emplace_back("Content-Type",
                           "multipart/form-data; boundary=" + std::string(boundary));
  req.headers.emplace_back("Accept", "application/json");
  add_auth(ep, req.headers);
  req.body = std::move(body);
  return req;
}

core::Result<Images> read_images(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    return unreadable("it is not a JSON object");
  }
  const json::object& o = v.get_object();
  const json::value* data = o.if_contains("data");
  if (data == nullptr || !data->is_array()) {
    return unreadable("it has no data array");
  }
  Images out;
  const json::array& items = data->get_array();
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string where = "data[" + std::to_string(i) + "].b64_json";
    if (!items[i].is_object()) {
      return unreadable("data[" + std::to_string(i) + "] is not an object");
    }
    const json::value* b64 = items[i].get_object().if_contains("b64_json");
    if (b64 == nullptr || !b64->is_string()) {
      return unreadable(where + " is missing (only b64_json answers are supported)");
    }
    auto bytes = decode_base64(b64->get_string());
    if (!bytes) {
      return unreadable(where + " is not valid base64 (truncated?)");
    }
    out.images.push_back(std::move(*bytes));
  }
  if (out.images.empty()) {
    return unreadable("it holds no image");
  }
  out.usage = read_usage(o);
  return out;
}

std::optional<std::chrono::milliseconds> retry_after(const http::Response& response) {
  auto number = [](std::string_view text) -> std::optional<std::int64_t> {
    while (!text.empty() && text.back() == ' ') {
      text.remove_suffix(1);
    }
    std::int64_t n = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || p != text.data() + text.size() || n < 0) {
      return std::nullopt;
    }
    return n;
  };
  if (auto ms = number(response.header("retry-after-ms"))) {
    return std::chrono::milliseconds(*ms);
  }
  if (auto s = number(response.header("Retry-After"))) {
    return std::chrono::milliseconds(*s * 1000);
  }
  return std::nullopt;
}

std::string mask_secrets(std::string_view text, std::string_view secret) {
  std::string out(text);
  if (secret.size() >= 4) {
    for (auto pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos)) {
      out.replace(pos, secret.size(), "***");
    }
  }
  // Tokens such as "sk-proj-AbC...": an upstream may echo part of a key.
  for (std::size_t pos = out.find("sk-"); pos != std::string::npos; pos = out.find("sk-", pos)) {
    std::size_t end = pos + 3;
    while (end < out.size() && (std::isalnum(static_cast<unsigned char>(out[end])) != 0 ||
                                out[end] == '-' || out[end] == '_' || out[end] == '*')) {
      ++end;
    }
    if (end - pos >= 8) {
      out.replace(pos, end - pos, "sk-***");
      pos += 6;
    } else {
      pos = end;
    }
  }
  return out;
}

GenerateError read_error(unsigned status, std::string_view body, const http::Response& response,
                         std::string_view route, std::string_view api_key) {
  std::string message;
  std::string code;
  std::string type;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (const json::value* e = v.get_object().if_contains("error");
        e != nullptr && e->is_object()) {
      const json::object& eo = e->get_object();
      if (const json::value* m = eo.if_contains("message"); m != nullptr && m->is_string()) {
        message = std::string(m->get_string());
      }
      if (const json::value* c = eo.if_contains("code"); c != nullptr && c->is_string()) {
        code = std::string(c->get_string());
      }
      if (const json::value* t = eo.if_contains("type"); t != nullptr && t->is_string()) {
        type = std::string(t->get_string());
      }
    }
  }
  message = core::echo_text(mask_secrets(message, api_key), kMaxMessage);
  GenerateError e;
  e.http_status = static_cast<int>(status);
  const std::string prefix = "upstream " + std::string(route) + " answered HTTP " +
                             std::to_string(status) + (message.empty() ? "" : ": ");
  e.message = prefix + message;
  const std::string lcode = http::ascii_lower(code);
  if (lcode == "moderation_blocked" || lcode == "content_policy_violation" ||
      type == "image_generation_user_error") {
    e.cls = FailureClass::kRejected;
    e.code = std::string(core::fail::kModerationBlocked);
    e.message =
        message.empty() ? "the request was rejected by the upstream's safety system" : message;
    return e;
  }
  if (lcode == "insufficient_quota" || lcode == "billing_hard_limit_reached" || status == 402) {
    // The operator's account is out of money: no retry here helps, another route may.
    e.cls = FailureClass::kRouteFault;
    e.code = std::string(core::fail::kUpstreamError);
    return e;
  }
  if (status == 429 || status >= 500) {
    e.cls = FailureClass::kNoWork;
    e.code = std::string(core::fail::kUpstreamError);
    if (auto after = retry_after(response)) {
      e.retry_after = *after;
    }
    return e;
  }
  if (status == 401 || status == 403 || status == 404) {
    e.cls = FailureClass::kRouteFault;
    e.code = std::string(core::fail::kUpstreamError);
    return e;
  }
  e.cls = FailureClass::kRejected;
  e.code = std::string(core::fail::kUpstreamRejected);
  return e;
}

}  // namespace ig::providers::openai
