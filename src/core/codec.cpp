#include "core/codec.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "core/json_scratch.hpp"

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

namespace {

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

namespace {

// decode_request's reader: boost::json's SAX parser with a handler that keeps only the root
// object's members it knows, instead of a DOM of every member looked up by name afterwards
// (every poll decodes its task's request; this costs about two thirds of what the DOM did).
// It reads what the DOM reading read: a member of another type than expected counts as
// absent, a later duplicate replaces an earlier one, and input_urls keeps the strings among
// its elements.
class RequestReader {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  enum Field : int {
    kDialect, kModel, kMode, kPrompt, kMaskUrl, kAspectRatio, kTier, kQuality, kOutputFormat,
    kCallbackUrl, kBackground, kSizeLabel,  // strings
    kStringFields,
    kN = kStringFields, kWidth, kHeight, kOutputCompression,  // integers
    kInputUrls, kSafetyChecker, kOther
  };
  static constexpr int kIntFields = kOutputCompression - kN + 1;

  std::string strings[kStringFields];
  std::optional<std::int64_t> ints[kIntFields];
  std::vector<std::string> input_urls;
  std::optional<bool> safety_checker;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code& ec) {
    if (depth_ == 0) {
      root_object_ = true;
    } else if (depth_ == 1) {
      member_value(ec);
    }
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    --depth_;
    return true;
  }
  bool on_array_begin(boost::system::error_code& ec) {
    if (depth_ == 0) {
      ec = json::error::not_object;
      return false;
    }
    if (depth_ == 1) {
      member_value(ec);
      urls_open_ = field_ == kInputUrls;
    }
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    if (--depth_ == 1) {
      urls_open_ = false;
    }
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (depth_ == 1) {
      key_.append(s.data(), s.size());
    }
    return true;
  }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) {
    if (depth_ == 1) {
      key_.append(s.data(), s.size());
      field_ = field_of(key_);
      key_.clear();
    }
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, boost::system::error_code&) {
    if (wanted_string()) {
      text_.append(s.data(), s.size());
    }
    return true;
  }
  bool on_string(json::string_view s, std::size_t, boost::system::error_code& ec) {
    if (!wanted_string()) {
      return scalar(ec);
    }
    text_.append(s.data(), s.size());
    if (depth_ == 2) {
      input_urls.push_back(std::move(text_));
    } else {
      strings[field_] = std::move(text_);
    }
    text_.clear();
    return true;
  }
  bool on_number_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t v, json::string_view, boost::system::error_code& ec) {
    if (!scalar(ec)) {
      return false;
    }
    if (depth_ == 1 && field_ >= kN && field_ < kN + kIntFields) {
      ints[field_ - kN] = v;
    }
    return true;
  }
  bool on_uint64(std::uint64_t, json::string_view, boost::system::error_code& ec) {
    return scalar(ec);
  }
  bool on_double(double, json::string_view, boost::system::error_code& ec) { return scalar(ec); }
  bool on_bool(bool b, boost::system::error_code& ec) {
    if (!scalar(ec)) {
      return false;
    }
    if (depth_ == 1 && field_ == kSafetyChecker) {
      safety_checker = b;
    }
    return true;
  }
  bool on_null(boost::system::error_code& ec) { return scalar(ec); }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

  bool root_object() const { return root_object_; }

 private:
  static Field field_of(std::string_view k) {
    static constexpr std::pair<std::string_view, Field> kNames[] = {
        {"dialect", kDialect},
        {"model", kModel},
        {"mode", kMode},
        {"prompt", kPrompt},
        {"input_urls", kInputUrls},
        {"mask_url", kMaskUrl},
        {"aspect_ratio", kAspectRatio},
        {"tier", kTier},
        {"quality", kQuality},
        {"output_format", kOutputFormat},
        {"n", kN},
        {"width", kWidth},
        {"height", kHeight},
        {"callback_url", kCallbackUrl},
        {"safety_checker", kSafetyChecker},
        {"background", kBackground},
        {"output_compression", kOutputCompression},
        {"size_label", kSizeLabel},
    };
    for (const auto& [name, field] : kNames) {
      if (name == k) {
        return field;
      }
    }
    return kOther;
  }

  // A string the request keeps: a known string member, or an element of input_urls.
  bool wanted_string() const {
    return (depth_ == 1 && field_ < kStringFields) || (depth_ == 2 && urls_open_);
  }

  // A member's value begins (depth 1): whatever the member held before is replaced, so a value
  // of another type leaves it absent.
  void member_value(boost::system::error_code&) {
    if (field_ < kStringFields) {
      strings[field_].clear();
    } else if (field_ < kN + kIntFields) {
      ints[field_ - kN].reset();
    } else if (field_ == kInputUrls) {
      input_urls.clear();
    } else if (field_ == kSafetyChecker) {
      safety_checker.reset();
    }
  }

  // A scalar: at the root it is not an object; as a member it replaces the member's value.
  bool scalar(boost::system::error_code& ec) {
    if (depth_ == 0) {
      ec = json::error::not_object;
      return false;
    }
    if (depth_ == 1) {
      member_value(ec);
    }
    return true;
  }

  int depth_ = 0;
  bool root_object_ = false;
  bool urls_open_ = false;
  Field field_ = kOther;
  std::string key_;
  std::string text_;
};

}  // namespace

std::optional<GenerationRequest> decode_request(std::string_view text) {
  json::basic_parser<RequestReader> parser{json::parse_options{}};
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || used != text.size() || !parser.handler().root_object()) {
    return std::nullopt;
  }
  RequestReader& in = parser.handler();
  using F = RequestReader::Field;
  auto str = [&](F f) -> std::string& { return in.strings[f]; };
  auto integer = [&](F f, std::int64_t def) {
    return in.ints[f - F::kN].value_or(def);
  };
  GenerationRequest r;
  if (!parse_dialect(str(F::kDialect), r.dialect)) {
    return std::nullopt;
  }
  r.model = std::move(str(F::kModel));
  r.mode = str(F::kMode) == "image_to_image" ? Mode::kImageToImage : Mode::kTextToImage;
  r.prompt = std::move(str(F::kPrompt));
  r.input_urls = std::move(in.input_urls);
  r.mask_url = std::move(str(F::kMaskUrl));
  r.aspect_ratio = std::move(str(F::kAspectRatio));
  r.tier = parse_tier(str(F::kTier)).value_or(Tier::k1K);
  r.quality = std::move(str(F::kQuality));
  r.output_format = std::move(str(F::kOutputFormat));
  r.n = static_cast<int>(integer(F::kN, 1));
  r.size.width = static_cast<int>(integer(F::kWidth, 0));
  r.size.height = static_cast<int>(integer(F::kHeight, 0));
  r.callback_url = std::move(str(F::kCallbackUrl));
  r.safety_checker = in.safety_checker.value_or(r.safety_checker);
  r.background = std::move(str(F::kBackground));
  r.output_compression = static_cast<int>(integer(F::kOutputCompression, -1));
  r.size_label = std::move(str(F::kSizeLabel));
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
  JsonScratch scratch;
  json::value v = json::parse(text, ec, scratch.storage());
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
  JsonScratch scratch;
  json::value v = json::parse(text, ec, scratch.storage());
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
