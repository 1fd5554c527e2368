#include "core/codec.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include <boost/json.hpp>

namespace ig::core {
namespace {

TEST(Codec, RequestRoundTrip) {
  GenerationRequest r;
  r.dialect = Dialect::kUnified;
  r.model = "gpt-image-2";
  r.mode = Mode::kImageToImage;
  r.prompt = "a \"quoted\" prompt ✓";
  r.input_urls = {"https://a.example/1.png", "https://b.example/2.png"};
  r.mask_url = "https://a.example/m.png";
  r.aspect_ratio = "16:9";
  r.tier = Tier::k2K;
  r.quality = "high";
  r.output_format = "webp";
  r.n = 3;
  r.size = {2736, 1536};
  r.callback_url = "https://cb.example/x";
  r.safety_checker = false;
  r.background = "transparent";
  r.output_compression = 70;
  r.size_label = "1024x1024";
  auto back = decode_request(encode_request(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->dialect, r.dialect);
  EXPECT_EQ(back->model, r.model);
  EXPECT_EQ(back->mode, r.mode);
  EXPECT_EQ(back->prompt, r.prompt);
  EXPECT_EQ(back->input_urls, r.input_urls);
  EXPECT_EQ(back->mask_url, r.mask_url);
  EXPECT_EQ(back->aspect_ratio, r.aspect_ratio);
  EXPECT_EQ(back->tier, r.tier);
  EXPECT_EQ(back->quality, r.quality);
  EXPECT_EQ(back->output_format, r.output_format);
  EXPECT_EQ(back->n, r.n);
  EXPECT_EQ(back->size, r.size);
  EXPECT_EQ(back->callback_url, r.callback_url);
  EXPECT_EQ(back->safety_checker, r.safety_checker);
  EXPECT_EQ(back->background, r.background);
  EXPECT_EQ(back->output_compression, r.output_compression);
  EXPECT_EQ(back->size_label, r.size_label);
}

// The request text is written by hand; it must be what boost::json made of the same members
// before (databases hold it): the same bytes, escapes included.
TEST(Codec, RequestTextIsWhatBoostJsonWrites) {
  auto old_encoding = [](const GenerationRequest& r) {
    boost::json::array urls;
    for (const auto& u : r.input_urls) {
      urls.emplace_back(u);
    }
    boost::json::object o{
        {"dialect", to_string(r.dialect)},
        {"model", r.model},
        {"mode", r.mode == Mode::kImageToImage ? "image_to_image" : "text_to_image"},
        {"prompt", r.prompt},
        {"input_urls", std::move(urls)},
        {"mask_url", r.mask_url},
        {"aspect_ratio", r.aspect_ratio},
        {"tier", to_string(r.tier)},
        {"quality", r.quality},
        {"output_format", r.output_format},
        {"n", r.n},
        {"width", r.size.width},
        {"height", r.size.height},
        {"callback_url", r.callback_url},
        {"safety_checker", r.safety_checker},
        {"background", r.background},
        {"output_compression", r.output_compression},
        {"size_label", r.size_label},
    };
    return boost::json::serialize(o);
  };
  GenerationRequest plain;
  EXPECT_EQ(encode_request(plain), old_encoding(plain));
  GenerationRequest r;
  r.dialect = Dialect::kOpenAI;
  r.mode = Mode::kImageToImage;
  r.prompt = std::string("quotes \" and \\ backslashes, \b\f\n\r\t, \x01\x1f\x7f, ✓ ü 🙂 /") +
             std::string(1, '\0') + "after a NUL";
  r.input_urls = {"https://a.example/1.png?a=\"b\"", "", "https://b.example/\x02"};
  r.callback_url = "https://cb.example/\u2028";
  r.n = -7;
  r.size = {0, 2147483647};
  r.output_compression = -1;
  r.safety_checker = false;
  r.size_label = "auto";
  EXPECT_EQ(encode_request(r), old_encoding(r));
  auto back = decode_request(encode_request(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->prompt, r.prompt);
  EXPECT_EQ(back->input_urls, r.input_urls);
}

// decode_request reads with a SAX handler; it must read every text as the DOM reading it
// replaced did: absent or mistyped members, duplicates, nesting, escapes, other roots, bad JSON.
TEST(Codec, RequestReadingIsWhatTheDomReadingRead) {
  auto dom_decode = [](std::string_view text) -> std::optional<GenerationRequest> {
    namespace json = boost::json;
    auto str_of = [](const json::object& o, std::string_view k) {
      const auto* v = o.if_contains(k);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    auto int_of = [](const json::object& o, std::string_view k, std::int64_t def) {
      const auto* v = o.if_contains(k);
      return v && v->is_int64() ? v->get_int64() : def;
    };
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
    if (const auto* a = o.if_contains("input_urls"); a && a->is_array()) {
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
    if (const auto* b = o.if_contains("safety_checker"); b && b->is_bool()) {
      r.safety_checker = b->get_bool();
    }
    r.background = str_of(o, "background");
    r.output_compression = static_cast<int>(int_of(o, "output_compression", -1));
    r.size_label = str_of(o, "size_label");
    return r;
  };
  auto same = [](const std::optional<GenerationRequest>& a,
                 const std::optional<GenerationRequest>& b) {
    if (!a || !b) {
      return !a && !b;
    }
    return encode_request(*a) == encode_request(*b);
  };
  GenerationRequest full;
  full.dialect = Dialect::kTasks;
  full.mode = Mode::kImageToImage;
  full.prompt = std::string(5000, 'p') + "\\ \" \n \u00e9 🙂";
  full.input_urls = {"https://a.example/1.png", "https://b.example/\"2\".png"};
  full.mask_url = "https://m.example/m.png";
  full.tier = Tier::k4K;
  full.n = 4;
  full.size = {3840, 2160};
  full.safety_checker = false;
  full.output_compression = 80;
  const std::string texts[] = {
      encode_request(GenerationRequest{}),
      encode_request(full),
      R"({"dialect":"jobs"})",
      R"({"dialect":"openai","model":"gpt-image-1","n":3,"width":1024,"height":1536})",
      R"({"dialect":"jobs","n":"4","width":1.5,"height":18446744073709551615,"output_compression":null})",
      R"({"dialect":"jobs","n":2,"n":"x"})",
      R"({"dialect":"jobs","n":"x","n":7})",
      R"({"model":"a","dialect":"jobs","model":"b","model":{"model":"c"}})",
      R"({"dialect":"jobs","prompt":"first","prompt":"sec\u00f6nd \ud83d\ude42"})",
      R"({"dialect":"jobs","input_urls":["a",1,null,["b"],{"c":"d"},"e"]})",
      R"({"dialect":"jobs","input_urls":["a"],"input_urls":"b"})",
      R"({"dialect":"jobs","input_urls":{"0":"a"}})",
      R"({"dialect":"jobs","safety_checker":false,"safety_checker":"true"})",
      R"({"dialect":"jobs","safety_checker":true,"x":{"safety_checker":false}})",
      R"({"dialect":"jobs","tier":"2K","mode":"image_to_image","aspect_ratio":"16:9"})",
      R"({"dialect":"jobs","deep":[[[[{"a":[1,2,{"b":"c"}]}]]]],"model":"m"})",
      R"(  {"dialect":"jobs"}  )",
      R"({"dialect":"nope"})",
      R"({"dialect":5})",
      R"({"dialect":"jobs"} x)",
      R"({"dialect":"jobs",})",
      R"({"dialect":"jobs")",
      R"([{"dialect":"jobs"}])",
      R"("jobs")",
      "5",
      "",
      "null",
      "{\"dialect\":\"jobs\",\"prompt\":\"\xff\"}",
  };
  for (const auto& text : texts) {
    EXPECT_TRUE(same(decode_request(text), dom_decode(text))) << text;
  }
  std::string nested = R"({"dialect":"jobs","x":)" + std::string(40, '[') + std::string(40, ']') + "}";
  EXPECT_TRUE(same(decode_request(nested), dom_decode(nested)));
}

TEST(Codec, BrokenRequestJsonIsRefused) {
  EXPECT_FALSE(decode_request("{"));
  EXPECT_FALSE(decode_request("[]"));
  EXPECT_FALSE(decode_request(R"({"dialect":"nope"})"));
}

TEST(Codec, ResultsRoundTrip) {
  std::vector<ResultObject> rs = {{"t/1.png", "image/png", 1024, 1024},
                                  {"t/2.png", "image/png", 768, 1360}};
  auto back = decode_results(encode_results(rs));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].key, "t/2.png");
  EXPECT_EQ(back[1].width, 768);
  EXPECT_EQ(back[1].height, 1360);
  EXPECT_TRUE(decode_results("garbage").empty());
}

TEST(Codec, CountsCodePointsNotBytes) {
  EXPECT_EQ(count_code_points("abc"), 3u);
  EXPECT_EQ(count_code_points("日本語"), 3u);
  EXPECT_EQ(count_code_points("é🙂"), 2u);
  EXPECT_EQ(count_code_points(""), 0u);
}

TEST(Codec, ToValidUtf8KeepsWellFormedText) {
  EXPECT_EQ(to_valid_utf8("plain"), "plain");
  EXPECT_EQ(to_valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(to_valid_utf8(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST(Codec, ToValidUtf8ReplacesEachBadByte) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(to_valid_utf8("\xFF\xFE"), r + r);
  EXPECT_EQ(to_valid_utf8("a\xC3"), "a" + r);                  // cut short
  EXPECT_EQ(to_valid_utf8("\x80x"), r + "x");                  // stray continuation
  EXPECT_EQ(to_valid_utf8("\xC0\xAF"), r + r);                 // overlong '/'
  EXPECT_EQ(to_valid_utf8("\xED\xA0\x80"), r + r + r);         // a surrogate
  EXPECT_EQ(to_valid_utf8("\xF4\x90\x80\x80"), r + r + r + r); // beyond U+10FFFF
}

TEST(Codec, EchoTextCutsOnACharacterBoundary) {
  EXPECT_EQ(echo_text("short", 10), "short");
  EXPECT_EQ(echo_text(std::string(99, 'a') + "\xC3\xA9", 100), std::string(99, 'a') + "...");
  EXPECT_EQ(echo_text("\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 5), "\xF0\x9F\x98\x80...");
  EXPECT_EQ(echo_text("\xFF", 10), "\xEF\xBF\xBD");
}

}  // namespace
}  // namespace ig::core

namespace ig::core {
namespace {

TEST(SerializeDecimal, WritesDoublesAsShortDecimals) {
  boost::json::value v = boost::json::object{
      {"balance", 4.7},
      {"list", boost::json::array{0.28, 10.0, -1.5, 1e-6, 100000.0, 2e6}},
      {"text", "a \"quoted\" \xC3\xA9"},
      {"int", 3},
      {"null", nullptr},
      {"nested", boost::json::object{{"x", 14.1}}}};
  const std::string out = serialize_decimal(v);
  EXPECT_EQ(out,
            R"({"balance":4.7,"list":[0.28,10,-1.5,0.000001,100000,2000000],)"
            R"("text":"a \"quoted\" é","int":3,)"
            R"("null":null,"nested":{"x":14.1}})");
  // It is JSON that parses back to the same numbers (10 comes back as an integer).
  auto back = boost::json::parse(out).as_object();
  EXPECT_DOUBLE_EQ(back.at("balance").as_double(), 4.7);
  EXPECT_DOUBLE_EQ(back.at("list").as_array()[1].to_number<double>(), 10.0);
  EXPECT_DOUBLE_EQ(back.at("list").as_array()[3].as_double(), 1e-6);
}

}  // namespace
}  // namespace ig::core

namespace ig::core {
namespace {

TEST(ModelFamily, ADatedSnapshotRoutesWithItsFamily) {
  GenerationRequest r;
  r.dialect = Dialect::kOpenAI;
  r.model = "gpt-image-1-2025-04-15";
  EXPECT_EQ(model_family(r), "gpt-image-1");
  r.model = "gpt-image-1";
  EXPECT_EQ(model_family(r), "gpt-image-1");
  r.model = "gpt-image-1-mini";
  EXPECT_EQ(model_family(r), "gpt-image-1-mini");
  r.model = "dall-e-3-2025-0x-15";  // not a date
  EXPECT_EQ(model_family(r), "dall-e-3-2025-0x-15");
  r.model = "gpt-image-2-2026-01-01";
  EXPECT_EQ(model_family(r), "gpt-image-2");
  r.dialect = Dialect::kJobs;  // every other dialect's names are GPT Image 2
  r.model = "gpt-image-2-image-to-image";
  EXPECT_EQ(model_family(r), "gpt-image-2");
}

}  // namespace
}  // namespace ig::core
