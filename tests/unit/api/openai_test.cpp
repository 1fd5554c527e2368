#include "api/dialects/openai.hpp"

#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>

namespace ig::api::openai_dialect {
namespace {

namespace json = boost::json;
using core::ErrorCode;
using namespace std::string_literals;

// The rendered envelope of a failed parse, checked field by field against OpenAI's shape.
struct Expected {
  unsigned status = 400;
  std::string type = "invalid_request_error";
  std::optional<std::string> param;
  std::optional<std::string> code;
  std::string message_part;
};

void expect_envelope(const core::Error& e, const Expected& x) {
  EXPECT_EQ(error_status(e), x.status) << e.message;
  json::value doc = json::parse(render_error(e));
  const json::object& root = doc.as_object();
  ASSERT_EQ(root.size(), 1u);
  const json::object& err = root.at("error").as_object();
  ASSERT_EQ(err.size(), 4u);
  EXPECT_EQ(err.at("message").as_string(), e.message);
  EXPECT_EQ(err.at("type").as_string(), x.type) << e.message;
  if (x.param) {
    ASSERT_TRUE(err.at("param").is_string()) << e.message;
    EXPECT_EQ(err.at("param").as_string(), *x.param) << e.message;
  } else {
    EXPECT_TRUE(err.at("param").is_null()) << e.message;
  }
  if (x.code) {
    ASSERT_TRUE(err.at("code").is_string()) << e.message;
    EXPECT_EQ(err.at("code").as_string(), *x.code) << e.message;
  } else {
    EXPECT_TRUE(err.at("code").is_null()) << e.message;
  }
  EXPECT_NE(e.message.find(x.message_part), std::string::npos) << "message: " << e.message;
}

void expect_generation_error(const std::string& body, const Expected& x) {
  auto r = parse_generation(body);
  ASSERT_FALSE(r) << body;
  expect_envelope(r.error(), x);
}

Expected bad(std::string param, std::string code, std::string message_part) {
  return Expected{400, "invalid_request_error", std::move(param), std::move(code),
                  std::move(message_part)};
}

std::string gen(const std::string& extra) {
  return R"({"prompt":"a red fox")" + (extra.empty() ? "" : "," + extra) + "}";
}

// ---- generations ----------------------------------------------------------------------------

TEST(OpenAIGeneration, MinimalRequestTakesOpenAIDefaults) {
  auto r = parse_generation(R"({"prompt":"a red fox"})");
  ASSERT_TRUE(r) << r.error().message;
  const core::GenerationRequest& q = r->request;
  EXPECT_EQ(q.dialect, core::Dialect::kOpenAI);
  EXPECT_EQ(q.mode, core::Mode::kTextToImage);
  EXPECT_EQ(q.model, "gpt-image-2");
  EXPECT_EQ(q.prompt, "a red fox");
  EXPECT_EQ(q.n, 1);
  EXPECT_EQ(q.size, (core::Size{1024, 1024}));
  EXPECT_EQ(q.size_label, "auto");
  EXPECT_EQ(q.aspect_ratio, "auto");
  EXPECT_EQ(q.tier, core::Tier::k1K);
  EXPECT_EQ(q.quality, "");
  EXPECT_EQ(q.output_format, "");
  EXPECT_EQ(q.background, "");
  EXPECT_EQ(q.output_compression, -1);
  EXPECT_TRUE(q.input_urls.empty());
  EXPECT_TRUE(r->images.empty());
  EXPECT_FALSE(r->mask);
  EXPECT_EQ(r->param, R"({"prompt":"a red fox"})");
}

TEST(OpenAIGeneration, EveryFieldIsMapped) {
  auto r = parse_generation(
      R"({ "model":"gpt-image-1.5", "prompt":"p", "n":3, "quality":"high",
           "output_format":"webp", "output_compression":80, "background":"transparent",
           "moderation":"low", "size":"1536x1024", "user":"u-1", "stream":false,
           "partial_images":0, "response_format":"b64_json" })");
  ASSERT_TRUE(r) << r.error().message;
  const core::GenerationRequest& q = r->request;
  EXPECT_EQ(q.model, "gpt-image-1.5");
  EXPECT_EQ(q.n, 3);
  EXPECT_EQ(q.quality, "high");
  EXPECT_EQ(q.output_format, "webp");
  EXPECT_EQ(q.output_compression, 80);
  EXPECT_EQ(q.background, "transparent");
  EXPECT_EQ(q.size, (core::Size{1536, 1024}));
  EXPECT_EQ(q.size_label, "1536x1024");
  EXPECT_EQ(q.aspect_ratio, "3:2");
  EXPECT_EQ(q.tier, core::Tier::k2K);
  EXPECT_EQ(r->param.find(' '), std::string::npos);  // compact
  EXPECT_NE(r->param.find(R"("user":"u-1")"), std::string::npos);
}

TEST(OpenAIGeneration, NullMeansOmitted) {
  auto r = parse_generation(
      R"({"prompt":"p","model":null,"n":null,"size":null,"quality":null,"stream":null})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->request.model, "gpt-image-2");
  EXPECT_EQ(r->request.n, 1);
  EXPECT_EQ(r->request.size_label, "auto");
}

TEST(OpenAIGeneration, ServedModels) {
  for (const char* m : {"gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-1", "gpt-image-1.5",
                        "gpt-image-1-mini", "chatgpt-image-latest"}) {
    auto r = parse_generation(gen(R"("model":")" + std::string(m) + "\""));
    ASSERT_TRUE(r) << m;
    EXPECT_EQ(r->request.model, m);  // kept exactly as sent
  }
  for (const char* m : {"dall-e-3", "dall-e-2", "GPT-IMAGE-2", "gpt-image-3", ""}) {
    auto r = parse_generation(gen(R"("model":")" + std::string(m) + "\""));
    ASSERT_FALSE(r) << m;
    EXPECT_EQ(r.error().code, ErrorCode::kModelNotFound);
    expect_envelope(r.error(), Expected{404, "invalid_request_error", std::nullopt,
                                        "model_not_found", "does not exist or you do not have"});
  }
  expect_generation_error(gen(R"("model":2)"), bad("model", "invalid_type",
                                                   "Invalid type for 'model': expected a "
                                                   "string, but got an integer instead."));
}

TEST(OpenAIGeneration, Prompt) {
  expect_generation_error(
      "{}", bad("prompt", "missing_required_parameter", "Missing required parameter: 'prompt'."));
  expect_generation_error(R"({"prompt":["a"]})",
                          bad("prompt", "invalid_type", "expected a string, but got an array"));
  expect_generation_error(R"({"prompt":""})", bad("prompt", "empty_string", "empty string"));
  expect_generation_error(R"({"prompt":" \n\t"})", bad("prompt", "empty_string", "empty string"));
  std::string cjk;
  for (int i = 0; i < 32000; ++i) {
    cjk += "\xE5\xAD\x97";  // 3 bytes, 1 character
  }
  EXPECT_TRUE(parse_generation(R"({"prompt":")" + cjk + "\"}"));
  expect_generation_error(
      R"({"prompt":")" + std::string(32001, 'a') + "\"}",
      bad("prompt", "string_above_max_length",
          "Invalid 'prompt': string too long. Expected a string with maximum length 32000, but "
          "got a string with length 32001 instead."));
}

TEST(OpenAIGeneration, N) {
  EXPECT_EQ(parse_generation(gen(R"("n":10)"))->request.n, 10);
  EXPECT_EQ(parse_generation(gen(R"("n":2.0)"))->request.n, 2);
  expect_generation_error(
      gen(R"("n":11)"),
      bad("n", "integer_above_max_value",
          "Invalid 'n': integer above maximum value. Expected a value <= 10, but got 11 "
          "instead."));
  expect_generation_error(
      gen(R"("n":0)"),
      bad("n", "integer_below_min_value",
          "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead."));
  expect_generation_error(gen(R"("n":-3)"), bad("n", "integer_below_min_value", "got -3"));
  expect_generation_error(gen(R"("n":18446744073709551615)"),
                          bad("n", "integer_above_max_value", "got 18446744073709551615"));
  expect_generation_error(gen(R"("n":"2")"),
                          bad("n", "invalid_type",
                              "Invalid type for 'n': expected an integer, but got a string "
                              "instead."));
  expect_generation_error(gen(R"("n":2.5)"), bad("n", "invalid_type", "but got a number"));
  expect_generation_error(gen(R"("n":true)"), bad("n", "invalid_type", "but got a boolean"));
}

TEST(OpenAIGeneration, QualityFormatModeration) {
  for (const char* q : {"low", "medium", "high", "auto"}) {
    EXPECT_EQ(parse_generation(gen(R"("quality":")" + std::string(q) + "\""))->request.quality, q);
  }
  expect_generation_error(
      gen(R"("quality":"ultra")"),
      bad("quality", "invalid_value",
          "Invalid value: 'ultra'. Supported values are: 'low', 'medium', 'high', and 'auto'."));
  expect_generation_error(gen(R"("quality":"hd")"), bad("quality", "invalid_value", "'hd'"));
  expect_generation_error(gen(R"("quality":1)"), bad("quality", "invalid_type", "got an integer"));
  expect_generation_error(
      gen(R"("output_format":"jpg")"),
      bad("output_format", "invalid_value", "Supported values are: 'png', 'jpeg', and 'webp'."));
  expect_generation_error(gen(R"("output_format":"gif")"),
                          bad("output_format", "invalid_value", "'gif'"));
  EXPECT_TRUE(parse_generation(gen(R"("moderation":"auto")")));
  expect_generation_error(gen(R"("moderation":"high")"),
                          bad("moderation", "invalid_value", "'low' and 'auto'"));
}

TEST(OpenAIGeneration, OutputCompressionOnlyForJpegAndWebp) {
  EXPECT_EQ(parse_generation(gen(R"("output_format":"jpeg","output_compression":0)"))
                ->request.output_compression,
            0);
  EXPECT_EQ(parse_generation(gen(R"("output_format":"webp","output_compression":100)"))
                ->request.output_compression,
            100);
  expect_generation_error(gen(R"("output_compression":50)"),
                          bad("output_compression", "invalid_value", "not 'png'"));
  expect_generation_error(gen(R"("output_format":"png","output_compression":50)"),
                          bad("output_compression", "invalid_value", "'jpeg' or 'webp'"));
  expect_generation_error(gen(R"("output_format":"jpeg","output_compression":101)"),
                          bad("output_compression", "integer_above_max_value", "<= 100"));
  expect_generation_error(gen(R"("output_format":"jpeg","output_compression":-1)"),
                          bad("output_compression", "integer_below_min_value", ">= 0"));
}

TEST(OpenAIGeneration, Background) {
  EXPECT_EQ(parse_generation(gen(R"("background":"transparent")"))->request.background,
            "transparent");  // png by default
  EXPECT_TRUE(parse_generation(gen(R"("background":"transparent","output_format":"webp")")));
  EXPECT_TRUE(parse_generation(gen(R"("background":"opaque","output_format":"jpeg")")));
  expect_generation_error(gen(R"("background":"transparent","output_format":"jpeg")"),
                          bad("background", "invalid_value", "'png' or 'webp', not 'jpeg'"));
  expect_generation_error(
      gen(R"("background":"none")"),
      bad("background", "invalid_value", "'transparent', 'opaque', and 'auto'"));
}

TEST(OpenAIGeneration, SizesFollowGptImage2Rules) {
  struct Ok {
    const char* label;
    core::Size size;
    core::Tier tier;
    const char* ratio;
  };
  for (const Ok& ok : {Ok{"1024x1024", {1024, 1024}, core::Tier::k1K, "1:1"},
                       Ok{"1536x1024", {1536, 1024}, core::Tier::k2K, "3:2"},
                       Ok{"1024x1536", {1024, 1536}, core::Tier::k2K, "2:3"},
                       Ok{"1024x640", {1024, 640}, core::Tier::k1K, "8:5"},
                       Ok{"1536x512", {1536, 512}, core::Tier::k1K, "3:1"},
                       Ok{"2048x2048", {2048, 2048}, core::Tier::k2K, "1:1"},
                       Ok{"3840x2160", {3840, 2160}, core::Tier::k4K, "16:9"},
                       Ok{"2160x3840", {2160, 3840}, core::Tier::k4K, "9:16"}}) {
    auto r = parse_generation(gen(R"("size":")" + std::string(ok.label) + "\""));
    ASSERT_TRUE(r) << ok.label << ": " << r.error().message;
    EXPECT_EQ(r->request.size, ok.size) << ok.label;
    EXPECT_EQ(r->request.size_label, ok.label);
    EXPECT_EQ(r->request.tier, ok.tier) << ok.label;
    EXPECT_EQ(r->request.aspect_ratio, ok.ratio) << ok.label;
  }
  auto size_error = [](const std::string& size, const std::string& part) {
    auto r = parse_generation(gen(R"("size":")" + size + "\""));
    ASSERT_FALSE(r) << size;
    EXPECT_TRUE(r.error().message.starts_with("Invalid value: '" + size + "'. ")) << size;
    expect_envelope(r.error(), bad("size", "invalid_value", part));
  };
  size_error("1000x1000", "multiples of 16");
  size_error("4096x1024", "at most 3840");
  size_error("2048x672", "between 1:3 and 3:1");
  size_error("512x512", "at least 655360 pixels");
  size_error("256x256", "at least 655360 pixels");
  size_error("3840x2176", "at most 8294400 pixels");
  size_error("0x1024", "at least 16 pixels");
  for (const char* junk : {"big", "1024X1024", "1024x", "x1024", "+1024x1024", "1024x1024 ",
                           "-16x-16", "99999999999x1", "1024x1024x1", "1024*1024"}) {
    expect_generation_error(gen(R"("size":")" + std::string(junk) + "\""),
                            bad("size", "invalid_value", "Supported values are: 'auto' or"));
  }
  expect_generation_error(gen(R"("size":1024)"), bad("size", "invalid_type", "expected a string"));
}

TEST(OpenAIGeneration, TierThresholds) {
  // core::tier_for_size, the rule of every dialect (its boundaries are tested in core).
  auto tier_of = [](const std::string& size) {
    auto r = parse_generation(gen(R"("size":")" + size + "\""));
    EXPECT_TRUE(r) << size;
    return r ? r->request.tier : core::Tier::k1K;
  };
  EXPECT_EQ(tier_of("1024x1024"), core::Tier::k1K);
  EXPECT_EQ(tier_of("1120x1120"), core::Tier::k1K);  // 1,254,400 px ≤ 1.2 MiP
  EXPECT_EQ(tier_of("1136x1120"), core::Tier::k2K);  // 1,272,320 px
  EXPECT_EQ(tier_of("2304x2048"), core::Tier::k2K);  // exactly 4.5 MiP
  EXPECT_EQ(tier_of("2320x2048"), core::Tier::k4K);
  EXPECT_EQ(tier_of("3840x2160"), core::Tier::k4K);
}

TEST(OpenAIGeneration, StreamingAndUrlsAreRefused) {
  EXPECT_TRUE(parse_generation(gen(R"("stream":false)")));
  expect_generation_error(gen(R"("stream":true)"),
                          bad("stream", "invalid_value", "streaming is not supported"));
  expect_generation_error(gen(R"("stream":"true")"),
                          bad("stream", "invalid_type", "expected a boolean"));
  EXPECT_TRUE(parse_generation(gen(R"("partial_images":3)")));
  expect_generation_error(gen(R"("partial_images":4)"),
                          bad("partial_images", "integer_above_max_value", "<= 3"));
  expect_generation_error(gen(R"("response_format":"url")"),
                          bad("response_format", "invalid_value", "always return base64"));
  expect_generation_error(gen(R"("response_format":"png")"),
                          bad("response_format", "invalid_value", "'b64_json' and 'url'"));
  expect_generation_error(gen(R"("user":5)"), bad("user", "invalid_type", "expected a string"));
}

TEST(OpenAIGeneration, UnknownParametersAndBadBodies) {
  expect_generation_error(gen(R"("style":"vivid")"),
                          bad("style", "unknown_parameter", "Unknown parameter: 'style'."));
  expect_generation_error(gen(R"("input_fidelity":"high")"),
                          bad("input_fidelity", "unknown_parameter", "'input_fidelity'"));
  expect_generation_error(gen(R"("image":"x")"), bad("image", "unknown_parameter", "'image'"));
  expect_generation_error("{not json", Expected{400, "invalid_request_error", std::nullopt,
                                                std::nullopt, "not valid JSON"});
  expect_generation_error(
      "[1]", Expected{400, "invalid_request_error", std::nullopt, std::nullopt, "JSON object"});
  // A client value that looks like one of our phrases cannot change the code.
  expect_generation_error(gen(R"("quality":"empty string")"),
                          bad("quality", "invalid_value", "'empty string'"));
}

// ---- edits ----------------------------------------------------------------------------------

const std::string kCt = "multipart/form-data; boundary=----formdata-undici-0123";

// Builds a body the way openai-node's FormData path does.
struct Form {
  std::string body;
  Form& text(const std::string& name, const std::string& value) {
    body += "------formdata-undici-0123\r\nContent-Disposition: form-data; name=\"" + name +
            "\"\r\n\r\n" + value + "\r\n";
    return *this;
  }
  Form& file(const std::string& name, const std::string& bytes,
             const std::string& filename = "input.png") {
    body += "------formdata-undici-0123\r\nContent-Disposition: form-data; name=\"" + name +
            "\"; filename=\"" + filename + "\"\r\nContent-Type: image/png\r\n\r\n" + bytes + "\r\n";
    return *this;
  }
  std::string done() const { return body + "------formdata-undici-0123--\r\n"; }
};

const std::string kPng = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR-first"s;

void expect_edit_error(const Form& f, const Expected& x) {
  auto r = parse_edit(kCt, f.done());
  ASSERT_FALSE(r) << f.body.substr(0, 300);
  expect_envelope(r.error(), x);
}

TEST(OpenAIEdit, ImageMaskAndPrompt) {
  auto r = parse_edit(kCt, Form{}
                               .text("model", "gpt-image-2")
                               .file("image", kPng)
                               .file("mask", "MASKBYTES", "mask.png")
                               .text("prompt", "add a hat")
                               .done());
  ASSERT_TRUE(r) << r.error().message;
  const core::GenerationRequest& q = r->request;
  EXPECT_EQ(q.dialect, core::Dialect::kOpenAI);
  EXPECT_EQ(q.mode, core::Mode::kImageToImage);
  EXPECT_EQ(q.prompt, "add a hat");
  EXPECT_EQ(q.size, (core::Size{0, 0}));  // from the first image
  EXPECT_EQ(q.size_label, "auto");
  EXPECT_EQ(q.tier, core::Tier::k1K);
  EXPECT_TRUE(q.input_urls.empty());  // the caller stores the uploads
  EXPECT_TRUE(q.mask_url.empty());
  ASSERT_EQ(r->images.size(), 1u);
  EXPECT_EQ(r->images[0].field, "image");
  EXPECT_EQ(r->images[0].bytes, kPng);
  ASSERT_TRUE(r->mask);
  EXPECT_EQ(r->mask->field, "mask");
  EXPECT_EQ(r->mask->bytes, "MASKBYTES");
  EXPECT_EQ(r->param, R"({"model":"gpt-image-2","prompt":"add a hat"})");
}

TEST(OpenAIEdit, RepeatedImagesKeepTheirOrder) {
  Form f;
  f.text("prompt", "merge");
  for (int i = 0; i < 16; ++i) {
    f.file("image[]", "img-" + std::to_string(i), "in" + std::to_string(i) + ".png");
  }
  auto r = parse_edit(kCt, f.done());
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->images.size(), 16u);
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(r->images[i].field, "image[]");
    EXPECT_EQ(r->images[i].bytes, "img-" + std::to_string(i));
  }
  EXPECT_FALSE(r->mask);
  f.file("image[]", "img-16");
  expect_edit_error(f, bad("image", "array_above_max_length",
                           "Expected an array with maximum length 16, but got an array with "
                           "length 17 instead."));
}

TEST(OpenAIEdit, TextFieldsAreTypedLikeJson) {
  auto r = parse_edit(kCt, Form{}
                               .file("image", kPng)
                               .text("prompt", "p")
                               .text("n", "2")
                               .text("size", "1024x1536")
                               .text("quality", "low")
                               .text("output_format", "jpeg")
                               .text("output_compression", "75")
                               .text("background", "opaque")
                               .text("input_fidelity", "high")
                               .text("stream", "false")
                               .text("user", "u")
                               .done());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->request.n, 2);
  EXPECT_EQ(r->request.size, (core::Size{1024, 1536}));
  EXPECT_EQ(r->request.tier, core::Tier::k2K);
  EXPECT_EQ(r->request.quality, "low");
  EXPECT_EQ(r->request.output_format, "jpeg");
  EXPECT_EQ(r->request.output_compression, 75);
  // param keeps the form's text as sent: strings, never the image bytes.
  EXPECT_NE(r->param.find(R"("n":"2")"), std::string::npos);
  EXPECT_EQ(r->param.find("PNG"), std::string::npos);

  const Form base = Form{}.file("image", kPng).text("prompt", "p");
  expect_edit_error(Form(base).text("n", "11"),
                    bad("n", "integer_above_max_value", "Expected a value <= 10, but got 11"));
  expect_edit_error(Form(base).text("n", "two"),
                    bad("n", "invalid_type", "expected an integer, but got a string"));
  expect_edit_error(Form(base).text("n", "+2"), bad("n", "invalid_type", "got a string"));
  expect_edit_error(Form(base).text("stream", "true"),
                    bad("stream", "invalid_value", "streaming is not supported"));
  expect_edit_error(Form(base).text("stream", "yes"), bad("stream", "invalid_type", "boolean"));
  expect_edit_error(Form(base).text("input_fidelity", "max"),
                    bad("input_fidelity", "invalid_value", "'high' and 'low'"));
  expect_edit_error(Form(base).text("size", "100x100"),
                    bad("size", "invalid_value", "multiples of 16"));
  expect_edit_error(Form(base).text("moderation", "low"),
                    bad("moderation", "unknown_parameter", "Unknown parameter: 'moderation'."));
  expect_edit_error(Form(base).text("images", "x"), bad("images", "unknown_parameter", "'images'"));
  expect_edit_error(
      Form(base).text("prompt", "again"),
      Expected{400, "invalid_request_error", "prompt", std::nullopt, "given more than once"});
  expect_edit_error(Form(base).text("user", "\xff\xfe"),
                    bad("user", "invalid_value", "must be UTF-8"));
  expect_edit_error(
      Form(base).text("model", "dall-e-2"),
      Expected{404, "invalid_request_error", std::nullopt, "model_not_found", "dall-e-2"});
}

TEST(OpenAIEdit, ImageRules) {
  expect_edit_error(Form{}.text("prompt", "p"), bad("image", "missing_required_parameter",
                                                    "Missing required parameter: 'image'."));
  expect_edit_error(Form{}.file("image", kPng),
                    bad("prompt", "missing_required_parameter", "'prompt'"));
  expect_edit_error(Form{}.file("image", "").text("prompt", "p"),
                    bad("image", "empty_file", "image 1 has no bytes"));
  expect_edit_error(Form{}.file("image", kPng).file("mask", "").text("prompt", "p"),
                    bad("mask", "empty_file", "the mask has no bytes"));
  expect_edit_error(
      Form{}.file("image", kPng).file("mask", "m").file("mask", "m").text("prompt", "p"),
      Expected{400, "invalid_request_error", "mask", std::nullopt, "more than one"});
}

TEST(OpenAIEdit, UploadSizeLimits) {
  const std::string under(kMaxImageBytes - 1, 'i');
  EXPECT_TRUE(parse_edit(kCt, Form{}.file("image", under).text("prompt", "p").done()));
  expect_edit_error(Form{}
                        .file("image", kPng)
                        .file("image[]", std::string(kMaxImageBytes, 'i'))
                        .text("prompt", "p"),
                    bad("image", "file_too_large", "image 2 is 52428800 bytes"));
  EXPECT_TRUE(parse_edit(kCt, Form{}
                                  .file("image", kPng)
                                  .file("mask", std::string(kMaxMaskBytes - 1, 'm'))
                                  .text("prompt", "p")
                                  .done()));
  expect_edit_error(
      Form{}.file("image", kPng).file("mask", std::string(kMaxMaskBytes, 'm')).text("prompt", "p"),
      bad("mask", "file_too_large", "smaller than 4 MB"));
}

TEST(OpenAIEdit, MultipartProblemsAre400) {
  auto wrong_type = parse_edit("application/json", R"({"prompt":"p"})");
  ASSERT_FALSE(wrong_type);
  expect_envelope(wrong_type.error(), Expected{400, "invalid_request_error", std::nullopt,
                                               std::nullopt, "must be multipart/form-data"});
  std::string truncated = Form{}.file("image", kPng).text("prompt", "p").done();
  truncated.resize(truncated.size() - 5);
  auto cut = parse_edit(kCt, truncated);
  ASSERT_FALSE(cut);
  expect_envelope(cut.error(), Expected{400, "invalid_request_error", std::nullopt, std::nullopt,
                                        "Invalid multipart/form-data body"});
}

// The body openai-node's streaming path writes (fs.createReadStream): quoted names escaped
// with percent-encoding, a Content-Type on every file, text fields bare.
TEST(OpenAIEdit, OpenAINodeStreamingBody) {
  const std::string body =
      "--openai-k3j2h1\r\nContent-Disposition: form-data; name=\"image\"; "
      "filename=\"my%22photo.png\"\r\nContent-Type: application/octet-stream\r\n\r\n" +
      kPng +
      "\r\n--openai-k3j2h1\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nA cat"
      "\r\n--openai-k3j2h1\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n1"
      "\r\n--openai-k3j2h1--\r\n";
  auto r = parse_edit("multipart/form-data; boundary=openai-k3j2h1", body);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->images.size(), 1u);
  EXPECT_EQ(r->images[0].bytes, kPng);
  EXPECT_EQ(r->request.prompt, "A cat");
}

// Random mutations of a real edit body: every outcome is a request or a well-formed 4xx
// envelope (valid JSON, so valid UTF-8, whatever bytes the client sent).
TEST(OpenAIEdit, MutatedBodiesGiveParsesOrCleanErrors) {
  const std::string valid = Form{}
                                .file("image[]", kPng)
                                .file("image[]", kPng, "two.png")
                                .file("mask", "MASK", "m.png")
                                .text("prompt", "p")
                                .text("n", "2")
                                .text("size", "1024x1024")
                                .done();
  ASSERT_TRUE(parse_edit(kCt, valid));
  std::mt19937 rng(7);
  int ok = 0;
  int failed = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string body = valid;
    for (int e = 0, edits = 1 + static_cast<int>(rng() % 4); e < edits && !body.empty(); ++e) {
      const std::size_t at = rng() % body.size();
      if (rng() % 3 == 0) {
        body.erase(at, 1 + rng() % 4);
      } else {
        body[at] = static_cast<char>(rng() % 256);
      }
    }
    auto r = parse_edit(kCt, body);
    if (r) {
      ++ok;
      EXPECT_FALSE(r->images.empty());
      EXPECT_LE(r->images.size(), kMaxEditImages);
      continue;
    }
    ++failed;
    const unsigned status = error_status(r.error());
    EXPECT_TRUE(status == 400 || status == 404) << r.error().message;
    boost::system::error_code ec;
    json::value doc = json::parse(render_error(r.error()), ec);
    ASSERT_FALSE(ec) << r.error().message;
    EXPECT_TRUE(doc.at("error").at("message").is_string());
  }
  EXPECT_GT(ok, 100);
  EXPECT_GT(failed, 100);
}

// ---- responses ------------------------------------------------------------------------------

std::string decode64(std::string_view s) {
  namespace b64 = boost::beast::detail::base64;
  std::string out(b64::decoded_size(s.size()), '\0');
  out.resize(b64::decode(out.data(), s.data(), s.size()).first);
  return out;
}

core::Task succeeded(core::GenerationRequest q, std::vector<core::Size> result_sizes) {
  core::Task t;
  t.id = "t1";
  t.request = std::move(q);
  t.state = core::TaskState::kSucceeded;
  t.created_ms = 1'700'000'000'000;
  t.completed_ms = 1'700'000'042'999;
  for (std::size_t i = 0; i < result_sizes.size(); ++i) {
    t.results.push_back(core::ResultObject{"t1/" + std::to_string(i + 1) + ".png", "image/png",
                                           result_sizes[i].width, result_sizes[i].height});
  }
  return t;
}

core::GenerationRequest request(std::string prompt, std::string quality, core::Size size) {
  core::GenerationRequest q;
  q.dialect = core::Dialect::kOpenAI;
  q.model = "gpt-image-2";
  q.prompt = std::move(prompt);
  q.quality = std::move(quality);
  q.size = size;
  return q;
}

TEST(OpenAIUsage, KnownAnswers) {
  EXPECT_EQ(image_tokens({1024, 1024}, "high"), 7024);
  EXPECT_EQ(image_tokens({1536, 1024}, "high"), 5488);
  EXPECT_EQ(image_tokens({1024, 1536}, "high"), 5488);
  EXPECT_EQ(image_tokens({1024, 1024}, "medium"), 1756);
  EXPECT_EQ(image_tokens({1024, 1024}, "auto"), 1756);
  EXPECT_EQ(image_tokens({1024, 1024}, ""), 1756);
  EXPECT_EQ(image_tokens({1024, 1024}, "low"), 196);
  EXPECT_EQ(image_tokens({0, 0}, "high"), 0);
  // By hand: s = floor((2·96·2160 + 3840) / 7680) = 54; ceil(96·54·10,294,400 / 4e6) = 13342.
  // (Fewer than 2048x2048's 14272: the formula discounts elongated shapes.)
  EXPECT_EQ(image_tokens({3840, 2160}, "high"), 13342);
  EXPECT_EQ(image_tokens({2048, 2048}, "high"), 14272);
}

TEST(OpenAIUsage, TextImageAndOutputTokens) {
  const auto q = request("abcde", "high", {1024, 1024});  // 5 bytes → 2 text tokens
  const Usage u = estimate_usage(q, {{1024, 1024}, {1024, 1024}}, {{1536, 1024}});
  EXPECT_EQ(u.text_tokens, 2);
  EXPECT_EQ(u.image_tokens, 5488);
  EXPECT_EQ(u.output_tokens, 2 * 7024);
  EXPECT_EQ(u.input_tokens(), 5490);
  EXPECT_EQ(u.total_tokens(), 5490 + 14048);
  EXPECT_EQ(estimate_usage(request("", "", {}), {}).total_tokens(), 0);
  EXPECT_EQ(estimate_usage(request("abcd", "", {}), {}).text_tokens, 1);
}

TEST(OpenAIRender, ResponseShape) {
  const std::vector<std::string> images = {kPng, "second image"};
  const core::Task task =
      succeeded(request("abcd", "high", {1536, 1024}), {{1536, 1024}, {1536, 1024}});
  json::value doc = json::parse(render_images(task, images));
  const json::object& o = doc.as_object();
  EXPECT_EQ(o.at("created").as_int64(), 1'700'000'042);
  EXPECT_EQ(o.at("background").as_string(), "opaque");
  EXPECT_EQ(o.at("output_format").as_string(), "png");
  EXPECT_EQ(o.at("quality").as_string(), "high");
  EXPECT_EQ(o.at("size").as_string(), "1536x1024");
  const json::array& data = o.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[0].as_object().size(), 1u);
  EXPECT_EQ(decode64(data[0].at("b64_json").as_string()), kPng);
  EXPECT_EQ(decode64(data[1].at("b64_json").as_string()), "second image");
  const json::object& usage = o.at("usage").as_object();
  EXPECT_EQ(usage.at("output_tokens").as_int64(), 2 * 5488);
  EXPECT_EQ(usage.at("input_tokens").as_int64(), 1);
  EXPECT_EQ(usage.at("input_tokens_details").at("text_tokens").as_int64(), 1);
  EXPECT_EQ(usage.at("input_tokens_details").at("image_tokens").as_int64(), 0);
  EXPECT_EQ(usage.at("total_tokens").as_int64(), 1 + 2 * 5488);
}

TEST(OpenAIRender, EffectiveValues) {
  auto q = request("p", "auto", {1024, 1024});
  q.output_format = "jpeg";
  q.background = "auto";
  json::value doc = json::parse(render_images(succeeded(q, {{1024, 1024}}), {"x"}));
  EXPECT_EQ(doc.at("quality").as_string(), "medium");
  EXPECT_EQ(doc.at("output_format").as_string(), "jpeg");
  EXPECT_EQ(doc.at("background").as_string(), "opaque");
  EXPECT_EQ(doc.at("usage").at("output_tokens").as_int64(), 1756);

  q.output_format = "webp";
  q.background = "transparent";
  q.quality = "";
  doc = json::parse(render_images(succeeded(q, {{1024, 1024}}), {"x"}));
  EXPECT_EQ(doc.at("background").as_string(), "transparent");
  EXPECT_EQ(doc.at("output_format").as_string(), "webp");
  EXPECT_EQ(doc.at("quality").as_string(), "medium");
}

TEST(OpenAIRender, EditSizesComeFromTheResults) {
  // An edit asked for `auto` ({0,0}); the stored result knows the real size.
  auto q = request("p", "low", {0, 0});
  q.mode = core::Mode::kImageToImage;
  json::value doc = json::parse(render_images(succeeded(q, {{64, 64}}), {"x"}, {{64, 64}}));
  EXPECT_EQ(doc.at("size").as_string(), "64x64");
  EXPECT_EQ(doc.at("usage").at("input_tokens_details").at("image_tokens").as_int64(),
            image_tokens({64, 64}, "low"));
  // Nothing known about the size: no `size`, zero output tokens, still valid.
  doc = json::parse(render_images(succeeded(q, {}), {"x"}));
  EXPECT_FALSE(doc.as_object().contains("size"));
  EXPECT_EQ(doc.at("usage").at("output_tokens").as_int64(), 0);
  // created falls back to the creation time when completed_ms is not set.
  core::Task t = succeeded(q, {{64, 64}});
  t.completed_ms = 0;
  EXPECT_EQ(json::parse(render_images(t, {"x"})).at("created").as_int64(), 1'700'000'000);
}

TEST(OpenAIRender, Base64) {
  const core::Task task = succeeded(request("p", "", {1024, 1024}), {});
  auto b64 = [&](const std::string& bytes) {
    return std::string(
        json::parse(render_images(task, {bytes})).at("data").at(0).at("b64_json").as_string());
  };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("\xff\xfe\x00"s), "//4A");
}

// What an answer will hold is reserved before it is encoded: the bound must never be below
// the answer, whatever the images and the fields around them.
TEST(OpenAIRender, AnswerSizeIsBoundBeforeEncoding) {
  auto q = request(std::string(kMaxPromptChars, 'p'), "high", {3840, 2160});
  q.background = "transparent";
  q.output_format = "webp";
  for (std::size_t count : {0u, 1u, 3u, 10u}) {
    for (std::size_t bytes : {0u, 1u, 2u, 3u, 4u, 1000u, 1u << 20}) {
      const std::vector<std::string> images(count, std::string(bytes, '\xff'));
      const core::Task task = succeeded(q, std::vector<core::Size>(count, core::Size{3840, 2160}));
      const std::string body = render_images(task, images, {{3840, 2160}, {3840, 2160}});
      EXPECT_LE(body.size(), images_answer_bytes(std::vector<std::size_t>(count, bytes)))
          << count << " images of " << bytes << " bytes";
      EXPECT_NO_THROW(json::parse(body));
    }
  }
}

// ---- errors ---------------------------------------------------------------------------------

TEST(OpenAIErrors, EnvelopePerErrorCode) {
  auto e = [](ErrorCode c, std::string msg = "m", std::string param = "") {
    return core::make_error(c, std::move(msg), std::move(param));
  };
  expect_envelope(
      e(ErrorCode::kUnauthorized, "Incorrect API key provided."),
      Expected{401, "invalid_request_error", std::nullopt, "invalid_api_key", "Incorrect API key"});
  expect_envelope(e(ErrorCode::kNotFound),
                  Expected{404, "invalid_request_error", std::nullopt, "not_found", "m"});
  expect_envelope(e(ErrorCode::kValidationFailed, "Invalid value: 'x'.", "size"),
                  bad("size", "invalid_value", "Invalid value"));  // never 422 here
  expect_envelope(e(ErrorCode::kInvalidRequest, "something else", "field"),
                  Expected{400, "invalid_request_error", "field", std::nullopt, "something"});
  expect_envelope(e(ErrorCode::kRateLimited),
                  Expected{429, "requests", std::nullopt, "rate_limit_exceeded", "m"});
  expect_envelope(e(ErrorCode::kInsufficientCredits),
                  Expected{429, "insufficient_quota", std::nullopt, "insufficient_quota", "m"});
  expect_envelope(e(ErrorCode::kInternal),
                  Expected{500, "server_error", std::nullopt, std::nullopt, "m"});
  expect_envelope(e(ErrorCode::kUnavailable),
                  Expected{503, "server_error", std::nullopt, std::nullopt, "m"});
  expect_envelope(e(ErrorCode::kPayloadTooLarge),
                  Expected{413, "invalid_request_error", std::nullopt, std::nullopt, "m"});
  expect_envelope(e(ErrorCode::kMethodNotAllowed),
                  Expected{405, "invalid_request_error", std::nullopt, std::nullopt, "m"});
  expect_envelope(e(ErrorCode::kUpstream, "the provider failed"),
                  Expected{500, "server_error", std::nullopt, std::nullopt, "provider failed"});
}

TEST(OpenAIErrors, FailedTasks) {
  core::Task t;
  t.state = core::TaskState::kFailed;
  auto failed = [&](std::string code, std::string msg) {
    t.fail_code = std::move(code);
    t.fail_msg = std::move(msg);
    return task_error(t);
  };
  expect_envelope(failed("moderation_blocked", "Your request was rejected by the safety system."),
                  Expected{400, "image_generation_user_error", std::nullopt, "moderation_blocked",
                           "safety system"});
  expect_envelope(
      failed("content_policy_violation", "blocked"),
      Expected{400, "image_generation_user_error", std::nullopt, "moderation_blocked", "blocked"});
  expect_envelope(failed("invalid_mask", "the mask is 32x32 but the image is 64x64"),
                  Expected{400, "invalid_request_error", "mask", "invalid_mask", "32x32"});
  expect_envelope(failed("input_invalid", "input.input_urls[0]: not an image"),
                  Expected{400, "invalid_request_error", "image", "input_invalid", "not an image"});
  expect_envelope(failed("generation_failed", "sandbox provider: simulated generation failure"),
                  Expected{500, "server_error", std::nullopt, "generation_failed", "simulated"});
  expect_envelope(failed("", ""), Expected{500, "server_error", std::nullopt, std::nullopt,
                                           "The server had an error"});
  t.state = core::TaskState::kCancelled;
  expect_envelope(failed("", ""),
                  Expected{500, "server_error", std::nullopt, std::nullopt, "cancelled"});
}

}  // namespace
}  // namespace ig::api::openai_dialect
