#include "providers/openai/openai_wire.hpp"

#include <boost/beast/core/detail/base64.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "api/multipart.hpp"
#include "core/fail_codes.hpp"

namespace ig::providers::openai {
namespace {

namespace json = boost::json;

std::string b64(std::string_view bytes) {
  namespace b = boost::beast::detail::base64;
  std::string out(b::encoded_size(bytes.size()), '\0');
  out.resize(b::encode(out.data(), bytes.data(), bytes.size()));
  return out;
}

Endpoint endpoint() {
  Endpoint ep;
  ep.base_url = "https://api.example.com/v1";
  ep.api_key = "sk-test-secret-key-123456";
  ep.model = "gpt-image-2";
  return ep;
}

GenerateJob text_job() {
  GenerateJob j;
  j.request.prompt = "a red fox";
  j.request.n = 2;
  j.request.size = {1024, 1536};
  return j;
}

std::string_view header(const http::Request& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) {
      return v;
    }
  }
  return {};
}

TEST(OpenAiWire, GenerationRequestCarriesOnlyWhatWasGiven) {
  auto req = generation_request(endpoint(), text_job(), {1024, 1536});
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://api.example.com/v1/images/generations");
  EXPECT_EQ(header(req, "Authorization"), "Bearer sk-test-secret-key-123456");
  EXPECT_EQ(header(req, "Content-Type"), "application/json");
  auto body = json::parse(req.body).as_object();
  EXPECT_EQ(body.at("model").as_string(), "gpt-image-2");
  EXPECT_EQ(body.at("prompt").as_string(), "a red fox");
  EXPECT_EQ(body.at("n").as_int64(), 2);
  EXPECT_EQ(body.at("size").as_string(), "1024x1536");
  EXPECT_EQ(body.size(), 4u);  // no quality, format, background, response_format
  auto j = text_job();
  j.request.quality = "high";
  j.request.output_format = "webp";
  j.request.output_compression = 80;
  j.request.background = "transparent";
  body = json::parse(generation_request(endpoint(), j, {1024, 1536}).body).as_object();
  EXPECT_EQ(body.at("quality").as_string(), "high");
  EXPECT_EQ(body.at("output_format").as_string(), "webp");
  EXPECT_EQ(body.at("output_compression").as_int64(), 80);
  EXPECT_EQ(body.at("background").as_string(), "transparent");
  EXPECT_FALSE(body.contains("response_format"));
}

TEST(OpenAiWire, AzureHeaderAndApiVersion) {
  auto ep = endpoint();
  ep.base_url = "https://r.openai.azure.com/openai/deployments/img/";
  ep.auth_header = "api-key";
  ep.api_version = "2025-04-01-preview";
  auto req = generation_request(ep, text_job(), {1024, 1024});
  EXPECT_EQ(req.url,
            "https://r.openai.azure.com/openai/deployments/img/images/generations"
            "?api-version=2025-04-01-preview");
  EXPECT_EQ(header(req, "api-key"), "sk-test-secret-key-123456");
  EXPECT_TRUE(header(req, "Authorization").empty());
  ep.api_key.clear();
  req = generation_request(ep, text_job(), {1024, 1024});
  EXPECT_TRUE(header(req, "api-key").empty());
}

TEST(OpenAiWire, EditRequestIsMultipartWithEveryImageAndTheMask) {
  auto j = text_job();
  j.request.quality = "low";
  j.references.push_back(ImageBytes{"PNGDATA-1", "image/png", 10, 10, false});
  j.references.push_back(ImageBytes{"JPEGDATA-2", "image/jpeg", 10, 10, false});
  j.mask = ImageBytes{"MASKDATA", "image/png", 10, 10, true};
  auto req = edit_request(endpoint(), j, {1024, 1024}, "BOUNDARY123");
  EXPECT_EQ(req.url, "https://api.example.com/v1/images/edits");
  const std::string ct(header(req, "Content-Type"));
  EXPECT_EQ(ct, "multipart/form-data; boundary=BOUNDARY123");
  auto parts = api::parse_multipart(ct, req.body);
  ASSERT_TRUE(parts) << parts.error().message;
  std::vector<std::string> names;
  for (const auto& p : *parts) {
    names.push_back(p.name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"image[]", "image[]", "mask", "prompt", "model", "n",
                                              "size", "quality"}));
  EXPECT_EQ((*parts)[0].body, "PNGDATA-1");
  EXPECT_EQ((*parts)[0].content_type, "image/png");
  EXPECT_EQ((*parts)[1].body, "JPEGDATA-2");
  EXPECT_EQ((*parts)[1].filename, "image-2.jpg");
  EXPECT_EQ((*parts)[2].body, "MASKDATA");
  EXPECT_EQ((*parts)[3].body, "a red fox");
  EXPECT_EQ((*parts)[4].body, "gpt-image-2");
  EXPECT_EQ((*parts)[5].body, "2");
  EXPECT_EQ((*parts)[6].body, "1024x1024");
  EXPECT_EQ((*parts)[7].body, "low");
}

TEST(OpenAiWire, ReadsImagesAndUsage) {
  const std::string body = R"({"created":1,"data":[{"b64_json":")" + b64("first") +
                           R"("},{"b64_json":")" + b64("second!") +
                           R"("}],"usage":{"input_tokens":50,"input_tokens_details":)"
                           R"({"text_tokens":40,"image_tokens":10},"output_tokens":7024,)"
                           R"("total_tokens":7074}})";
  auto images = read_images(body);
  ASSERT_TRUE(images) << images.error().message;
  EXPECT_EQ(images->images, (std::vector<std::string>{"first", "second!"}));
  EXPECT_EQ(images->usage.input_tokens, 50);
  EXPECT_EQ(images->usage.input_text_tokens, 40);
  EXPECT_EQ(images->usage.input_image_tokens, 10);
  EXPECT_EQ(images->usage.output_tokens, 7024);
  EXPECT_EQ(images->usage.total_tokens, 7074);
  // Padded forms (one and two '=') are ordinary base64.
  for (std::string_view raw : {"ab", "abcd", "abcde", "abcdef"}) {
    auto padded = read_images(R"({"data":[{"b64_json":")" + b64(raw) + R"("}]})");
    ASSERT_TRUE(padded) << raw;
    EXPECT_EQ(padded->images.front(), raw);
  }
  EXPECT_FALSE(read_images(R"({"data":[{"b64_json":"YW=j"}]})"));
  EXPECT_FALSE(read_images(R"({"data":[{"b64_json":"Y==="}]})"));
  auto no_usage = read_images(R"({"data":[{"b64_json":")" + b64("x") + R"("}]})");
  ASSERT_TRUE(no_usage);
  EXPECT_TRUE(no_usage->usage.empty());
}

TEST(OpenAiWire, RefusesMalformedAnswers) {
  const std::string good = b64("0123456789");
  for (const std::string& body :
       {std::string("not json"), std::string("{\"data\":5}"), std::string("{\"data\":[]}"),
        std::string(R"({"data":[{"url":"https://x/y.png"}]})"),
        R"({"data":[{"b64_json":")" + good.substr(0, good.size() - 3) + R"("}]})",
        std::string(R"({"data":[{"b64_json":"!!!!"}]})")}) {
    auto r = read_images(body);
    EXPECT_FALSE(r) << body;
    if (!r) {
      EXPECT_NE(r.error().message.find("could not be read"), std::string::npos);
    }
  }
}

http::Response response(unsigned status, http::Headers headers = {}) {
  http::Response r;
  r.status = status;
  r.headers = std::move(headers);
  return r;
}

TEST(OpenAiWire, ErrorClasses) {
  const std::string key = "sk-test-secret-key-123456";
  auto e = read_error(500, R"({"error":{"message":"boom","type":"server_error"}})", response(500),
                      "openai", key);
  EXPECT_EQ(e.cls, FailureClass::kNoWork);
  EXPECT_EQ(e.code, "upstream_error");
  EXPECT_EQ(e.http_status, 500);
  EXPECT_EQ(e.message, "upstream openai answered HTTP 500: boom");
  e = read_error(429, "{}", response(429, {{"Retry-After", "3"}}), "openai", key);
  EXPECT_EQ(e.cls, FailureClass::kNoWork);
  EXPECT_EQ(e.retry_after, std::chrono::milliseconds(3000));
  e = read_error(429, R"({"error":{"code":"insufficient_quota","message":"quota"}})",
                 response(429), "openai", key);
  EXPECT_EQ(e.cls, FailureClass::kRouteFault);
  for (unsigned status : {401u, 403u, 404u}) {
    EXPECT_EQ(read_error(status, "", response(status), "openai", key).cls,
              FailureClass::kRouteFault);
  }
  e = read_error(400,
                 R"({"error":{"message":"Your request was rejected by the safety system.",)"
                 R"("type":"image_generation_user_error","param":null,"code":"moderation_blocked"}})",
                 response(400), "openai", key);
  EXPECT_EQ(e.cls, FailureClass::kRejected);
  EXPECT_EQ(e.code, core::fail::kModerationBlocked);
  EXPECT_EQ(e.message, "Your request was rejected by the safety system.");
  e = read_error(400, R"({"error":{"message":"Invalid size","code":"invalid_value"}})",
                 response(400), "openai", key);
  EXPECT_EQ(e.cls, FailureClass::kRejected);
  EXPECT_EQ(e.code, core::fail::kUpstreamRejected);
}

TEST(OpenAiWire, KeysNeverReachAMessage) {
  const std::string key = "sk-test-secret-key-123456";
  auto e = read_error(401,
                      R"({"error":{"message":"Incorrect API key provided: sk-test-secret-key-123456.",)"
                      R"("code":"invalid_api_key"}})",
                      response(401), "openai", key);
  EXPECT_EQ(e.message.find(key), std::string::npos);
  EXPECT_EQ(mask_secrets("key sk-proj-AbCdEf123456 used", ""), "key sk-*** used");
  EXPECT_EQ(mask_secrets("raw secret-value-xyz here", "secret-value-xyz"), "raw *** here");
}

TEST(OpenAiWire, RetryAfterForms) {
  EXPECT_EQ(retry_after(response(429, {{"retry-after-ms", "250"}})), std::chrono::milliseconds(250));
  EXPECT_EQ(retry_after(response(429, {{"Retry-After", "2"}})), std::chrono::milliseconds(2000));
  EXPECT_FALSE(retry_after(response(429, {{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}})));
  EXPECT_FALSE(retry_after(response(429)));
}

}  // namespace
}  // namespace ig::providers::openai
