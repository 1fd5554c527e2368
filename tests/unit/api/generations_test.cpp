#include "api/dialects/generations.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ig::api::generations {
namespace {

namespace json = boost::json;
using core::ErrorCode;
using core::Size;
using core::Tier;

std::string body_with(const std::string& input, const std::string& rest = "") {
  return R"({"model":"gpt-image-2")" + rest + R"(,"input":)" + input + "}";
}
std::string with_aspect(const std::string& aspect, const std::string& resolution = "") {
  std::string input = R"({"prompt":"x","aspect_ratio":")" + aspect + "\"";
  if (!resolution.empty()) {
    input += R"(,"resolution":")" + resolution + "\"";
  }
  return body_with(input + "}");
}

core::Result<ParsedCreate> parse(const std::string& body) { return parse_create(body); }

void expect_error(const std::string& body, ErrorCode code, unsigned status, const char* word,
                  const char* type, const std::string& message_part) {
  auto r = parse(body);
  ASSERT_FALSE(r) << body;
  EXPECT_EQ(r.error().code, code) << body;
  EXPECT_EQ(error_status(r.error()), status) << body;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos)
      << "message: " << r.error().message;
  auto env = json::parse(render_error(r.error())).as_object();
  EXPECT_EQ(env.size(), 1u);
  const auto& e = env.at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), word) << body;
  EXPECT_EQ(e.at("message").as_string(), r.error().message);
  EXPECT_EQ(e.at("type").as_string(), type);
  EXPECT_EQ(e.size(), 3u);
}

// Every client mistake but the model is the seed's 400 invalid_request.
void expect_400(const std::string& body, const std::string& message_part) {
  auto r = parse(body);
  ASSERT_FALSE(r) << body;
  expect_error(body, r.error().code, 400, "invalid_request", "invalid_request_error", message_part);
}

// --- create: the seed's examples

TEST(GenerationsParse, SeedCreateTaskExample) {
  const std::string body = R"({
"model": "gpt-image-2",
"callback_url": "https://your-server.com/webhook",
"input": {
"prompt": "Turn this product photo into a clean studio shot on a white background",
"image_urls": [
"https://example.com/source.png"
],
"aspect_ratio": "1:1",
"nsfw_checker": true
}
})";
  auto r = parse(body);
  ASSERT_TRUE(r) << r.error().message;
  const core::GenerationRequest& q = r->request;
  EXPECT_EQ(q.dialect, core::Dialect::kGenerations);
  EXPECT_EQ(q.model, "gpt-image-2");
  EXPECT_EQ(q.mode, core::Mode::kImageToImage);
  EXPECT_EQ(q.prompt, "Turn this product photo into a clean studio shot on a white background");
  EXPECT_EQ(q.input_urls, std::vector<std::string>{"https://example.com/source.png"});
  EXPECT_EQ(q.aspect_ratio, "1:1");
  EXPECT_EQ(q.tier, Tier::k1K);
  EXPECT_EQ(q.size, (Size{1024, 1024}));
  EXPECT_EQ(q.callback_url, "https://your-server.com/webhook");
  EXPECT_TRUE(q.safety_checker);
  EXPECT_EQ(r->param, json::serialize(json::parse(body)));
}

TEST(GenerationsParse, SeedTextToImageExample) {
  auto r = parse(
      R"({"model":"gpt-image-2","callback_url":"https://your-server.com/webhook","input":{"prompt":"A cinematic night city poster with neon reflections on a rainy street.","aspect_ratio":"16:9","nsfw_checker":true}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.mode, core::Mode::kTextToImage);
  EXPECT_TRUE(r->request.input_urls.empty());
  EXPECT_EQ(r->request.size, (Size{1536, 864}));
}

TEST(GenerationsParse, SeedImageToImageExampleWithoutNsfwChecker) {
  auto r = parse(
      R"({"model":"gpt-image-2","callback_url":"https://your-server.com/webhook","input":{"prompt":"Convert this room into a warm Scandinavian interior design render","image_urls":["https://example.com/room.jpg"],"aspect_ratio":"3:2"}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.mode, core::Mode::kImageToImage);
  EXPECT_EQ(r->request.size, (Size{1536, 1024}));
  EXPECT_TRUE(r->request.safety_checker);
}

TEST(GenerationsParse, Seed4KExample) {
  auto r = parse(
      R"({"model":"gpt-image-2","callback_url":"https://your-server.com/webhook","input":{"prompt":"An ancient castle under a starry sky, cinematic composition","aspect_ratio":"16:9","resolution":"4k"}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.tier, Tier::k4K);
  EXPECT_EQ(r->request.size, (Size{3840, 2160}));
}

// --- create: fields and defaults

TEST(GenerationsParse, DefaultsAreAutoAs1x1At1k) {
  auto r = parse(body_with(R"({"prompt":"x"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.aspect_ratio, "auto");
  EXPECT_EQ(r->request.tier, Tier::k1K);
  EXPECT_EQ(r->request.size, (Size{1024, 1024}));
  EXPECT_TRUE(r->request.callback_url.empty());
  EXPECT_TRUE(r->request.safety_checker);
  // auto is 1:1 even with references (the seed), unlike `tasks`/`jobs`.
  auto refs = parse(body_with(R"({"image_urls":["https://a.example/i.png"],"resolution":"2k"})"));
  ASSERT_TRUE(refs);
  EXPECT_EQ(refs->request.size, (Size{2048, 2048}));
}

TEST(GenerationsParse, ResolutionInEitherCase) {
  for (const char* res : {"2k", "2K"}) {
    auto r = parse(with_aspect("9:16", res));
    ASSERT_TRUE(r) << res;
    EXPECT_EQ(r->request.tier, Tier::k2K);
    EXPECT_EQ(r->request.size, (Size{1152, 2048}));
  }
}

TEST(GenerationsParse, NsfwCheckerFalseIsPassedOn) {
  auto r = parse(body_with(R"({"prompt":"x","nsfw_checker":false})"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->request.safety_checker);
}

TEST(GenerationsParse, PromptOrImagesAlone) {
  auto images_only = parse(body_with(R"({"image_urls":["https://a.example/i.png"]})"));
  ASSERT_TRUE(images_only);
  EXPECT_EQ(images_only->request.mode, core::Mode::kImageToImage);
  EXPECT_TRUE(images_only->request.prompt.empty());
  auto prompt_only = parse(body_with(R"({"prompt":"x","image_urls":[]})"));
  ASSERT_TRUE(prompt_only);
  EXPECT_EQ(prompt_only->request.mode, core::Mode::kTextToImage);
}

TEST(GenerationsParse, EveryRatioAndTierUsesSeed004Table) {
  const char* ratios[] = {"1:1",  "3:2", "2:3", "4:3", "3:4", "5:4",  "4:5", "16:9",
                          "9:16", "2:1", "1:2", "3:1", "1:3", "21:9", "9:21"};
  const std::pair<const char*, Tier> tiers[] = {
      {"1k", Tier::k1K}, {"2k", Tier::k2K}, {"4k", Tier::k4K}};
  for (const char* ratio : ratios) {
    for (auto [word, tier] : tiers) {
      auto r = parse(with_aspect(ratio, word));
      ASSERT_TRUE(r) << ratio << " " << word;
      EXPECT_EQ(r->request.aspect_ratio, ratio);
      EXPECT_EQ(r->request.tier, tier);
      EXPECT_EQ(r->request.size, *core::generations_table_size(*core::parse_ratio(ratio), tier));
    }
  }
  EXPECT_EQ(parse(with_aspect("3:1"))->request.size, (Size{1881, 836}));
  EXPECT_EQ(parse(with_aspect("21:9", "2K"))->request.size, (Size{2688, 1152}));
}

TEST(GenerationsParse, PromptLimitCountsCodePoints) {
  std::string cjk;
  for (int i = 0; i < 20000; ++i) {
    cjk += "字";
  }
  EXPECT_TRUE(parse(body_with(R"({"prompt":")" + cjk + "\"}")));
  expect_400(body_with(R"({"prompt":")" + cjk + "字\"}"), "20001 characters; the maximum is 20000");
}

TEST(GenerationsParse, SixteenImagesAreTheMaximum) {
  std::string urls;
  for (int i = 0; i < 16; ++i) {
    urls += std::string(i ? "," : "") + "\"https://a.example/" + std::to_string(i) + ".png\"";
  }
  auto r = parse(body_with(R"({"image_urls":[)" + urls + "]}"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.input_urls.size(), 16u);
  expect_400(body_with(R"({"image_urls":[)" + urls + R"(,"https://a.example/x.png"]})"),
             "at most 16");
}

// --- explicit pixel sizes

TEST(GenerationsSizes, SeedExamplesOfExplicitSizes) {
  auto wide = parse(with_aspect("1881x836"));
  ASSERT_TRUE(wide) << wide.error().message;
  EXPECT_EQ(wide->request.size, (Size{1881, 836}));
  EXPECT_EQ(wide->request.size_label, "1881x836");
  EXPECT_EQ(wide->request.aspect_ratio, "9:4");
  EXPECT_EQ(wide->request.tier, Tier::k1K);
  auto tall = parse(with_aspect("887×1774"));  // the multiplication sign
  ASSERT_TRUE(tall);
  EXPECT_EQ(tall->request.size, (Size{887, 1774}));
  EXPECT_EQ(tall->request.aspect_ratio, "1:2");
  EXPECT_EQ(tall->request.size_label, "887×1774");
}

TEST(GenerationsSizes, EverySizePrintedInTheTableIsAccepted) {
  const Size alternates[] = {{1254, 1254}, {1448, 1086}, {1122, 1402}, {1672, 941},
                             {941, 1672},  {1774, 887},  {887, 1774},  {1536, 512},
                             {512, 1536},  {1915, 821},  {821, 1915}};
  for (const Size& s : alternates) {
    const std::string text = std::to_string(s.width) + "x" + std::to_string(s.height);
    auto r = parse(with_aspect(text));
    ASSERT_TRUE(r) << text;
    EXPECT_EQ(r->request.size, s);
    EXPECT_EQ(r->request.tier, Tier::k1K) << text;
  }
  const char* ratios[] = {"1:1",  "3:2", "2:3", "4:3", "3:4", "5:4",  "4:5", "16:9",
                          "9:16", "2:1", "1:2", "3:1", "1:3", "21:9", "9:21"};
  for (const char* ratio : ratios) {
    for (Tier t : {Tier::k1K, Tier::k2K, Tier::k4K}) {
      const Size s = *core::generations_table_size(*core::parse_ratio(ratio), t);
      const std::string text = std::to_string(s.width) + "X" + std::to_string(s.height);
      auto r = parse(with_aspect(text, "1k"));  // resolution does not change an explicit size
      ASSERT_TRUE(r) << text;
      EXPECT_EQ(r->request.size, s);
      EXPECT_EQ(r->request.tier, t) << text;  // billed at the tier of its cell
    }
  }
}

TEST(GenerationsSizes, OtherSizesFollowSeed001Rules) {
  auto r = parse(with_aspect("1600x1600"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.size, (Size{1600, 1600}));
  EXPECT_EQ(r->request.aspect_ratio, "1:1");
  EXPECT_EQ(r->request.tier, Tier::k2K);         // 2.56 MP: above the largest 1K cell
  EXPECT_TRUE(parse(with_aspect("1024x640")));   // 655,360 px: the minimum
  EXPECT_TRUE(parse(with_aspect("3840x2160")));  // 8,294,400 px: the maximum
  EXPECT_TRUE(parse(with_aspect("2400x800")));   // exactly 3:1
  expect_400(with_aspect("1000x1000"), "multiples of 16");
  expect_400(with_aspect("1881x837"), "multiples of 16");
  expect_400(with_aspect("4096x1600"), "between 16 and 3840");
  expect_400(with_aspect("800x800"), "between 655,360 and 8,294,400");
  expect_400(with_aspect("3840x2176"), "between 655,360 and 8,294,400");
  expect_400(with_aspect("2416x800"), "at most 3:1");
  expect_400(with_aspect("800x2416"), "at most 3:1");
}

TEST(GenerationsSizes, ExplicitSizeTier) {
  EXPECT_EQ(explicit_size_tier({1024, 1024}), Tier::k1K);
  EXPECT_EQ(explicit_size_tier({2048, 1024}), Tier::k1K);  // in the 1K column
  EXPECT_EQ(explicit_size_tier({3840, 1280}), Tier::k4K);  // in the 4K column
  EXPECT_EQ(explicit_size_tier({2560, 2048}), Tier::k2K);  // in the 2K column
  EXPECT_EQ(explicit_size_tier({2048, 2560}), Tier::k2K);  // in the 2K column
  // Sizes the table does not print: core::tier_for_size, as in every dialect.
  EXPECT_EQ(explicit_size_tier({1120, 1120}), Tier::k1K);  // 1,254,400 px ≤ 1.2 MiP
  EXPECT_EQ(explicit_size_tier({1440, 1440}), Tier::k2K);  // 2,073,600 px
  EXPECT_EQ(explicit_size_tier({2304, 2048}), Tier::k2K);  // 4.5 MiP
  EXPECT_EQ(explicit_size_tier({2576, 2048}), Tier::k4K);
}

TEST(GenerationsSizes, PixelSizeSyntax) {
  EXPECT_EQ(parse_pixel_size("1881x836"), (Size{1881, 836}));
  EXPECT_EQ(parse_pixel_size("1881X836"), (Size{1881, 836}));
  EXPECT_EQ(parse_pixel_size("1881×836"), (Size{1881, 836}));
  for (const char* bad : {"x836", "1881x", "1881", "1881x836x2", "-16x16", "16 x16", "0x16", "16x0",
                          "1.5x2", "123456x16", "16×", "a×b", ""}) {
    EXPECT_FALSE(parse_pixel_size(bad)) << bad;
  }
}

// --- create: errors

TEST(GenerationsErrors, ModelIsRequiredAndMustBeGptImage2) {
  expect_400(R"({"input":{"prompt":"x"}})", "'model' is required.");
  expect_400(R"({"model":["gpt-image-2"],"input":{"prompt":"x"}})", "'model' must be a string");
  for (const char* model : {"gpt-image-2-text-to-image", "GPT-IMAGE-2", "dall-e-3", ""}) {
    expect_error(std::string(R"({"model":")") + model + R"(","input":{"prompt":"x"}})",
                 ErrorCode::kModelNotFound, 404, "model_not_found", "invalid_request_error",
                 "does not exist or is inactive");
  }
}

TEST(GenerationsErrors, StructuralProblems) {
  expect_400("nope", "not valid JSON");
  expect_400("42", "must be a JSON object");
  expect_400(R"({"model":"gpt-image-2"})", "'input' is required.");
  expect_400(R"({"model":"gpt-image-2","input":"x"})", "'input' must be an object.");
  expect_400(body_with(R"({"prompt":1})"), "input.prompt must be a string");
  expect_400(body_with(R"({"image_urls":"https://a.example/i.png"})"),
             "input.image_urls must be an array of strings");
  expect_400(body_with(R"({"prompt":"x","aspect_ratio":16})"),
             "input.aspect_ratio must be a string");
  expect_400(body_with(R"({"prompt":"x","resolution":4})"), "input.resolution must be a string");
  expect_400(body_with(R"({"prompt":"x","nsfw_checker":"yes"})"),
             "input.nsfw_checker must be a boolean");
  expect_400(body_with(R"({"prompt":"x"})", R"(,"callback_url":7)"),
             "callback_url must be a string");
}

TEST(GenerationsErrors, PromptOrImagesMustBeProvided) {
  const char* message = "At least one of 'input.prompt' or 'input.image_urls' must be provided.";
  expect_400(body_with("{}"), message);
  expect_400(body_with(R"({"prompt":""})"), message);
  expect_400(body_with(R"({"prompt":"  ","image_urls":[]})"), message);
  expect_400(body_with(R"({"prompt":null,"image_urls":null})"), message);
}

TEST(GenerationsErrors, ValueRules) {
  expect_400(body_with(R"({"image_urls":["http://a.example/i.png"]})"),
             "input.image_urls[0] must use https://");
  expect_400(body_with(R"({"image_urls":["https://a.example/i.png","data:image/png;base64,AA"]})"),
             "input.image_urls[1]: data: URLs are not supported");
  for (const char* bad : {"7:5", "AUTO", "1:1 ", "square", ""}) {
    expect_400(with_aspect(bad), "input.aspect_ratio must be auto, one of 1:1, 3:2");
  }
  for (const char* bad : {"8k", "1080p", "1 k"}) {
    expect_400(with_aspect("1:1", bad), "input.resolution must be one of 1k, 2k, 4k");
  }
  expect_400(body_with(R"({"prompt":"x","resolution":""})"),
             "input.resolution must be one of 1k, 2k, 4k");
  expect_400(body_with(R"({"prompt":"x"})", R"(,"callback_url":"http://your-server.com/webhook")"),
             "callback_url must use https://");
  const std::string long_url = "https://h.example/" + std::string(2048 - 18, 'a');
  EXPECT_TRUE(parse(body_with(R"({"prompt":"x"})", R"(,"callback_url":")" + long_url + "\"")));
  expect_400(body_with(R"({"prompt":"x"})", R"(,"callback_url":")" + long_url + "a\""),
             "at most 2048 characters");
}

// --- rendering

core::Task sample_task(core::TaskState state) {
  core::Task t;
  t.id = "397ce9f2-c04e-4244-ac33-3af19a7cc297";
  t.request.model = "gpt-image-2";
  t.request.mode = core::Mode::kImageToImage;
  t.state = state;
  t.created_ms = 1775383908'120;
  if (state != core::TaskState::kQueued) {
    t.started_ms = 1775383910'000;
  }
  if (core::is_terminal(state)) {
    t.completed_ms = 1775383910'070;
  }
  return t;
}

TEST(GenerationsRender, CreatedIsTheSeedsResponse) {
  EXPECT_EQ(
      render_created(sample_task(core::TaskState::kQueued)),
      R"({"code":200,"msg":"success","data":{"taskId":"397ce9f2-c04e-4244-ac33-3af19a7cc297"}})");
}

TEST(GenerationsRender, CompletedIsTheSeedsExample) {
  const std::string body =
      render_task(sample_task(core::TaskState::kSucceeded),
                  {"https://file.aivideoapi.ai/images/2026/04/05/abc123.png"}, 1775470310);
  EXPECT_EQ(
      body,
      R"({"id":"397ce9f2-c04e-4244-ac33-3af19a7cc297","status":"completed","model":"gpt-image-2",)"
      R"("created_at":1775383908,"completed_at":1775383910,"output":{"urls":)"
      R"(["https://file.aivideoapi.ai/images/2026/04/05/abc123.png"],"metadata":)"
      R"({"model":"gpt-image-2-image-to-image","costTime":70}}})");
}

TEST(GenerationsRender, CompletedTextToImageMetadataAndCostFallback) {
  core::Task t = sample_task(core::TaskState::kSucceeded);
  t.request.mode = core::Mode::kTextToImage;
  t.started_ms = 0;  // never claimed: cost counts from creation
  auto o = json::parse(render_task(t, {"https://a/1.png", "https://a/2.png"}, 0)).as_object();
  const auto& out = o.at("output").as_object();
  EXPECT_EQ(out.at("urls").as_array().size(), 2u);
  EXPECT_EQ(out.at("metadata").at("model").as_string(), "gpt-image-2-text-to-image");
  EXPECT_EQ(out.at("metadata").at("costTime").as_int64(), 1950);
  EXPECT_FALSE(o.contains("error"));
  EXPECT_FALSE(o.contains("progress"));
}

TEST(GenerationsRender, FailedIsTheSeedsExample) {
  core::Task t = sample_task(core::TaskState::kFailed);
  t.id = "57c8772c-f834-46f3-9b7d-81f92e104050";
  t.fail_code = "upstream_error";
  t.fail_msg = "Generation failed";
  EXPECT_EQ(
      render_task(t, {}, 0),
      R"({"id":"57c8772c-f834-46f3-9b7d-81f92e104050","status":"failed","model":"gpt-image-2",)"
      R"("created_at":1775383908,"error":{"code":"upstream_error","message":"Generation failed"}})");
}

TEST(GenerationsRender, FailCodeIsPassedThroughAndBlanksAreFilled) {
  core::Task t = sample_task(core::TaskState::kFailed);
  t.fail_code = "input_refused";
  t.fail_msg = "input.image_urls[0]: refused";
  auto e = json::parse(render_task(t, {}, 0)).at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "input_refused");
  EXPECT_EQ(e.at("message").as_string(), "input.image_urls[0]: refused");
  t.fail_code.clear();
  t.fail_msg.clear();
  e = json::parse(render_task(t, {}, 0)).at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "internal_error");
  EXPECT_EQ(e.at("message").as_string(), "Generation failed");
}

// Seed 004: a failed generation reads `upstream_error`, moderation refusals included.
TEST(GenerationsRender, EveryUpstreamFailureIsUpstreamError) {
  core::Task t = sample_task(core::TaskState::kFailed);
  for (const char* code : {"moderation_blocked", "upstream_unknown_outcome", "upstream_timeout",
                           "upstream_rejected", "no_route", "generation_failed"}) {
    t.fail_code = code;
    auto e = json::parse(render_task(t, {}, 0)).at("error").as_object();
    EXPECT_EQ(e.at("code").as_string(), "upstream_error") << code;
  }
  t.fail_code = "too_many_attempts";
  auto e = json::parse(render_task(t, {}, 0)).at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "internal_error");
}

TEST(GenerationsRender, CancelledIsFailedWithCodeCancelled) {
  core::Task t = sample_task(core::TaskState::kCancelled);
  t.fail_code = "cancelled";
  t.fail_msg = "the task was cancelled";
  auto o = json::parse(render_task(t, {}, 0)).as_object();
  EXPECT_EQ(o.at("status").as_string(), "failed");
  EXPECT_EQ(json::serialize(o.at("error")),
            R"({"code":"cancelled","message":"the task was cancelled"})");
  EXPECT_FALSE(o.contains("completed_at"));
  EXPECT_FALSE(o.contains("output"));
}

TEST(GenerationsRender, PendingAndProcessingHaveNullProgress) {
  const std::pair<core::TaskState, const char*> cases[] = {
      {core::TaskState::kQueued, "pending"}, {core::TaskState::kRunning, "processing"}};
  for (auto [state, word] : cases) {
    EXPECT_EQ(render_task(sample_task(state), {}, 0),
              std::string(R"({"id":"397ce9f2-c04e-4244-ac33-3af19a7cc297","status":")") + word +
                  R"(","model":"gpt-image-2","created_at":1775383908,"progress":null})");
  }
}

TEST(GenerationsRender, StatusWords) {
  EXPECT_EQ(status_word(core::TaskState::kQueued), "pending");
  EXPECT_EQ(status_word(core::TaskState::kRunning), "processing");
  EXPECT_EQ(status_word(core::TaskState::kSucceeded), "completed");
  EXPECT_EQ(status_word(core::TaskState::kFailed), "failed");
  EXPECT_EQ(status_word(core::TaskState::kCancelled), "failed");
}

// --- error envelope

TEST(GenerationsErrorEnvelope, SeedExamples) {
  EXPECT_EQ(
      render_error(core::make_error(ErrorCode::kInsufficientCredits,
                                    "Your credit balance is too low. Please top up.")),
      R"({"error":{"code":"insufficient_credits","message":"Your credit balance is too low. Please top up.","type":"billing_error"}})");
  EXPECT_EQ(
      render_error(core::make_error(ErrorCode::kInvalidRequest, "'model' is required.")),
      R"({"error":{"code":"invalid_request","message":"'model' is required.","type":"invalid_request_error"}})");
}

TEST(GenerationsErrorEnvelope, EveryCodeFollowsTheSeedsTable) {
  struct Case {
    ErrorCode code;
    unsigned status;
    const char* word;
    const char* type;
  };
  const Case cases[] = {
      {ErrorCode::kInvalidRequest, 400, "invalid_request", "invalid_request_error"},
      {ErrorCode::kValidationFailed, 400, "invalid_request", "invalid_request_error"},
      {ErrorCode::kUnauthorized, 401, "invalid_api_key", "authentication_error"},
      {ErrorCode::kInsufficientCredits, 402, "insufficient_credits", "billing_error"},
      {ErrorCode::kForbidden, 403, "ip_not_allowed", "permission_error"},
      {ErrorCode::kModelNotFound, 404, "model_not_found", "invalid_request_error"},
      {ErrorCode::kNotFound, 404, "task_not_found", "invalid_request_error"},
      {ErrorCode::kMethodNotAllowed, 405, "method_not_allowed", "invalid_request_error"},
      {ErrorCode::kRequestTimeout, 408, "request_timeout", "invalid_request_error"},
      {ErrorCode::kConflict, 409, "conflict", "invalid_request_error"},
      {ErrorCode::kPayloadTooLarge, 413, "payload_too_large", "invalid_request_error"},
      {ErrorCode::kRateLimited, 429, "rate_limit_exceeded", "rate_limit_error"},
      {ErrorCode::kHeadersTooLarge, 431, "headers_too_large", "invalid_request_error"},
      {ErrorCode::kInternal, 500, "internal_error", "api_error"},
      {ErrorCode::kUpstream, 503, "upstream_error", "upstream_error"},
      {ErrorCode::kUnavailable, 503, "service_unavailable", "api_error"},
  };
  for (const Case& c : cases) {
    const core::Error e = core::make_error(c.code, "m");
    EXPECT_EQ(error_status(e), c.status) << c.word;
    EXPECT_EQ(error_words(c.code).code, c.word);
    EXPECT_EQ(error_words(c.code).type, c.type);
    auto v = json::parse(render_error(e)).as_object();
    EXPECT_EQ(v.at("error").at("code").as_string(), c.word);
    EXPECT_EQ(v.at("error").at("type").as_string(), c.type);
  }
}

}  // namespace
}  // namespace ig::api::generations
