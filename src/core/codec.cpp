#include "core/codec.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

namespace ig::core {
namespace json = boost::json;

namespace {

std::string str_of(const json::object& o, std::string_view k) {
  if (auto* v = o.if_contains(k); v && v->is_string()) {
    return std::string(v->get_string());
  }
  return {};
}

std::int64_t int_of(const json::object& o, std::string_view k, std::int64_t def) {
  if (auto* v = o.if_contains(k); v && v->is_int64()) {
    return v->get_int64();
  }
  return def;
}

}  // namespace

namespace {

// `text` as a JSON string, escaped as boost::json::serialize escapes it: '"', '\\' and the
// control characters, the common ones by their short forms; every other byte as it is.
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t plain = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    out.append(text.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
  }
  out.append(text.data() + plain, text.size() - plain);
  out += '"';
}

void append_member(std::string& out, std::string_view name, std::string_view value) {
  out += name;  // '"name":' spelled by the caller, with the separator before it
  append_json_string(out, value);
}

void append_member(std::string& out, std::string_view name, std::int64_t value) {
  out += name;
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  out.append(buf, end);
}

}  // namespace

// Written directly rather than through a json::object: a create encodes its request on the
// I/O thread, and the object (a hash table of 18 members, each value allocated) cost about
// eight times as much. The text is the same, byte for byte, as json::serialize made of it.
std::string encode_request(const GenerationRequest& r) {
  std::string out;
  out.reserve(320 + r.prompt.size() + r.mask_url.size() + r.callback_url.size() +
              r.input_urls.size() * 96);
  append_member(out, "{\"dialect\":", to_string(r.dialect));
  append_member(out, ",\"model\":", r.model);
  append_member(out, ",\"mode\":",
                r.mode == Mode::kImageToImage ? "image_to_image" : "text_to_image");
  append_member(out, ",\"prompt\":", r.prompt);
  out += ",\"input_urls\":[";
  for (std::size_t i = 0; i < r.input_urls.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    append_json_string(out, r.input_urls[i]);
  }
  out += ']';
  append_member(out, ",\"mask_url\":", r.mask_url);
  append_member(out, ",\"aspect_ratio\":", r.aspect_ratio);
  append_member(out, ",\"tier\":", to_string(r.tier));
  append_member(out, ",\"quality\":", r.quality);
  append_member(out, ",\"output_format\":", r.output_format);
  append_member(out, ",\"n\":", std::int64_t{r.n});
  append_member(out, ",\"width\":", std::int64_t{r.size.width});
  append_member(out, ",\"height\":", std::int64_t{r.size.height});
  append_member(out, ",\"callback_url\":", r.callback_url);
  out += ",\"safety_checker\":";
  out += r.safety_checker ? "true" : "false";
  append_member(out, ",\"background\":", r.background);
  append_member(out, ",\"output_compression\":", std::int64_t{r.output_compression});
  append_member(out, ",\"size_label\":", r.size_label);
  out += '}';
  return out;
}

std::optional<GenerationRequest> decode_request(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto& o = v.get_object();
  GenerationRequest r;
  if (!parse_dialect(str_of(o, "dialect"), r.dialect)) {
    return std::nullopt;
  }
  r.model = str_of(o, "model");
  r.mode = str_of(o, "mode") == "image_to_image" ? Mode::kImageToImage : Mode::kTextToImage;
  r.prompt = str_of(o, "prompt");
  if (auto* a = o.if_contains("input_urls"); a && a->is_array()) {
    for (const auto& u : a->get_array()) {
      if (u.is_string()) {
        r.input_urls.emplace_back(u.get_string());
      }
    }
  }
  r.mask_url = str_of(o, "mask_url");
  r.aspect_ratio = str_of(o, "aspect_ratio");
  r.tier = parse_tier(str_of(o, "tier")).value_or(Tier::k1K);
  r.quality = str_of(o, "quality");
  r.output_format = str_of(o, "output_format");
  r.n = static_cast<int>(int_of(o, "n", 1));
  r.size.width = static_cast<int>(int_of(o, "width", 0));
  r.size.height = static_cast<int>(int_of(o, "height", 0));
  r.callback_url = str_of(o, "callback_url");
  if (auto* v = o.if_contains("safety_checker"); v && v->is_bool()) {
    r.safety_checker = v->get_bool();
  }
  r.background = str_of(o, "background");
  r.output_compression = static_cast<int>(int_of(o, "output_compression", -1));
  r.size_label = str_of(o, "size_label");
  return r;
}

std::string encode_results(const std::vector<ResultObject>& results) {
  json::array a;
  for (const auto& r : results) {
    a.push_back(json::object{{"key", r.key},
                             {"content_type", r.content_type},
                             {"width", r.width},
                             {"height", r.height}});
  }
  return json::serialize(a);
}

std::vector<ResultObject> decode_results(std::string_view text) {
  std::vector<ResultObject> out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) {
    return out;
  }
  for (const auto& e : v.get_array()) {
    if (!e.is_object()) {
      continue;
    }
    const auto& o = e.get_object();
    out.push_back(ResultObject{str_of(o, "key"), str_of(o, "content_type"),
                               static_cast<int>(int_of(o, "width", 0)),
                               static_cast<int>(int_of(o, "height", 0))});
  }
  return out;
}

namespace {

// The fields of TokenUsage with their storage names, in encoding order.
constexpr std::pair<std::string_view, std::int64_t TokenUsage::*> kUsageFields[] = {
    {"input_tokens", &TokenUsage::input_tokens},
    {"input_text_tokens", &TokenUsage::input_text_tokens},
    {"input_image_tokens", &TokenUsage::input_image_tokens},
    {"output_tokens", &TokenUsage::output_tokens},
    {"total_tokens", &TokenUsage::total_tokens},
};

}  // namespace

std::string encode_usage(const TokenUsage& u) {
  json::object o;
  for (const auto& [name, field] : kUsageFields) {
    if (u.*field >= 0) {
      o[name] = u.*field;
    }
  }
  return o.empty() ? std::string() : json::serialize(o);
}

TokenUsage decode_usage(std::string_view text) {
  TokenUsage u;
  if (text.empty()) {
    return u;
  }
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return u;
  }
  for (const auto& [name, field] : kUsageFields) {
    u.*field = std::max<std::int64_t>(-1, int_of(v.get_object(), name, -1));
  }
  return u;
}

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629), or 0.
std::size_t sequence_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) {
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    return cont(1) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) {
      return 0;
    }
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F)) {
      return 0;  // overlong, or a UTF-16 surrogate
    }
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) {
      return 0;
    }
    if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F)) {
      return 0;  // overlong, or beyond U+10FFFF
    }
    return 4;
  }
  return 0;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = sequence_length(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string echo_text(std::string_view s, std::size_t max_bytes) {
  std::string valid = to_valid_utf8(s);
  if (valid.size() <= max_bytes) {
    return valid;
  }
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(valid[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  valid.resize(cut);
  return valid + "...";
}

std::size_t count_code_points(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8) {
    if ((c & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

}  // namespace ig::core

namespace ig::core {
namespace {

void write_decimal(const boost::json::value& v, std::string& out) {
  switch (v.kind()) {
    case boost::json::kind::double_: {
      const double d = v.get_double();
      char buf[512];  // fixed notation: up to ~330 characters for extreme doubles
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
      if (ec != std::errc{} || !std::isfinite(d)) {
        out += "null";  // JSON has no NaN or infinity
        return;
      }
      out.append(buf, end);
      return;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, item] : v.get_object()) {
        if (!first) {
          out += ',';
        }
        first = false;
        out += boost::json::serialize(boost::json::string_view(k));
        out += ':';
        write_decimal(item, out);
      }
      out += '}';
      return;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) {
          out += ',';
        }
        first = false;
        write_decimal(item, out);
      }
      out += ']';
      return;
    }
    default:
      out += boost::json::serialize(v);
  }
}

}  // namespace

std::string serialize_decimal(const boost::json::value& v) {
  std::string out;
  write_decimal(v, out);
  return out;
}

}  // namespace ig::core
