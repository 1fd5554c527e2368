#include "api/dialects/unified.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/sizes.hpp"

namespace ig::api::unified {
namespace {

namespace json = boost::json;
using core::ErrorCode;
using core::Size;
using core::Tier;

core::Result<ParsedCreate> parse(const std::string& body) {
  return parse_create(body);
}

// A create body with model and prompt; `extra` is appended inside the object.
std::string body(const std::string& extra = "") {
  return R"({"model":"gpt-image-2","prompt":"a lighthouse")" +
         (extra.empty() ? std::string() : "," + extra) + "}";
}

std::string url_list(int count) {
  std::string out = "[";
  for (int i = 0; i < count; ++i) {
    out += std::string(i ? "," : "") + "\"https://a.example/" + std::to_string(i) + ".png\"";
  }
  return out + "]";
}

// Parses `b`, expects the error, and checks its envelope: status, code, type and param.
void expect_error(const std::string& b, ErrorCode code, unsigned status,
                  std::string_view envelope_code, std::string_view param,
                  const std::string& message_part) {
  auto r = parse(b);
  ASSERT_FALSE(r) << b;
  EXPECT_EQ(r.error().code, code) << b;
  EXPECT_EQ(error_status(r.error()), status) << b;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos)
      << "message: " << r.error().message;
  auto env = json::parse(render_error(r.error())).as_object();
  ASSERT_EQ(env.size(), 1u);
  const auto& e = env.at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), envelope_code) << b;
  EXPECT_EQ(e.at("message").as_string(), r.error().message);
  EXPECT_EQ(e.at("type").as_string(), "invalid_request_error");
  if (param.empty()) {
    EXPECT_TRUE(e.at("param").is_null());
  } else {
    EXPECT_EQ(e.at("param").as_string(), param) << b;
  }
}

// A client mistake in a field: 400 invalid_parameters naming the field.
void expect_invalid(const std::string& b, std::string_view param, const std::string& part,
                    ErrorCode code = ErrorCode::kValidationFailed) {
  expect_error(b, code, 400, "invalid_parameters", param, part);
}

Size size_of(const std::string& b) {
  auto r = parse(b);
  EXPECT_TRUE(r) << b << ": " << (r ? "" : r.error().message);
  return r ? r->request.size : Size{-1, -1};
}

// --- create: the happy path and defaults

TEST(UnifiedParse, MinimalBodyTakesTheSeedDefaults) {
  auto r = parse(R"({ "model" : "gpt-image-2",
                      "prompt": "A beautiful colorful sunset over the ocean" })");
  ASSERT_TRUE(r) << r.error().message;
  const core::GenerationRequest& q = r->request;
  EXPECT_EQ(q.dialect, core::Dialect::kUnified);
  EXPECT_EQ(q.model, "gpt-image-2");
  EXPECT_EQ(q.mode, core::Mode::kTextToImage);
  EXPECT_EQ(q.prompt, "A beautiful colorful sunset over the ocean");
  EXPECT_TRUE(q.input_urls.empty());
  EXPECT_TRUE(q.mask_url.empty());
  EXPECT_EQ(q.size_label, "auto");
  EXPECT_EQ(q.aspect_ratio, "auto");
  EXPECT_EQ(q.tier, Tier::k1K);
  EXPECT_EQ(q.size, (Size{1024, 1024}));
  EXPECT_EQ(q.quality, "medium");
  EXPECT_EQ(q.n, 1);
  EXPECT_TRUE(q.callback_url.empty());
  EXPECT_EQ(r->param,
            R"({"model":"gpt-image-2","prompt":"A beautiful colorful sunset over the ocean"})");
}

TEST(UnifiedParse, FullSeedRequest) {
  auto r = parse(
      body(R"("image_urls":["https://example.com/image1.png","https://example.com/image2.png"],)"
           R"("mask_url":"https://example.com/mask.png","size":"16:9","resolution":"2K",)"
           R"("quality":"high","n":3,)"
           R"("callback_url":"https://your-domain.com/webhooks/image-task-completed")"));
  ASSERT_TRUE(r) << r.error().message;
  const core::GenerationRequest& q = r->request;
  EXPECT_EQ(q.mode, core::Mode::kImageToImage);
  EXPECT_EQ(q.input_urls, (std::vector<std::string>{"https://example.com/image1.png",
                                                    "https://example.com/image2.png"}));
  EXPECT_EQ(q.mask_url, "https://example.com/mask.png");
  EXPECT_EQ(q.size, (Size{2736, 1536}));
  EXPECT_EQ(q.size_label, "16:9");
  EXPECT_EQ(q.aspect_ratio, "16:9");
  EXPECT_EQ(q.tier, Tier::k2K);
  EXPECT_EQ(q.quality, "high");
  EXPECT_EQ(q.n, 3);
  EXPECT_EQ(q.callback_url, "https://your-domain.com/webhooks/image-task-completed");
}

TEST(UnifiedParse, UnknownFieldsAreIgnoredButKeptInParam) {
  auto r = parse(body(R"("style":"vivid")"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->param, R"({"model":"gpt-image-2","prompt":"a lighthouse","style":"vivid"})");
}

// --- model and structure

TEST(UnifiedErrors, StructuralProblemsAre400) {
  expect_invalid("{not json", "", "not valid JSON", ErrorCode::kInvalidRequest);
  expect_invalid("[1,2]", "", "must be a JSON object", ErrorCode::kInvalidRequest);
  expect_invalid(R"({"prompt":"x"})", "model", "model is required", ErrorCode::kInvalidRequest);
  expect_invalid(R"({"model":null,"prompt":"x"})", "model", "model is required",
                 ErrorCode::kInvalidRequest);
  expect_invalid(R"({"model":2,"prompt":"x"})", "model", "model must be a string",
                 ErrorCode::kInvalidRequest);
}

TEST(UnifiedErrors, OnlyGptImage2IsAModel) {
  for (const char* model :
       {"gpt-image-1", "GPT-IMAGE-2", "gpt-image-2 ", "gpt-image-2-text-to-image"}) {
    expect_error(std::string(R"({"model":")") + model + R"(","prompt":"x"})",
                 ErrorCode::kModelNotFound, 404, "model_not_found", "model", "use gpt-image-2");
  }
}

// --- prompt

TEST(UnifiedParse, PromptIsRequiredAndNotBlank) {
  expect_invalid(R"({"model":"gpt-image-2"})", "prompt", "prompt is required",
                 ErrorCode::kInvalidRequest);
  expect_invalid(R"({"model":"gpt-image-2","prompt":7})", "prompt", "prompt must be a string",
                 ErrorCode::kInvalidRequest);
  expect_invalid(R"({"model":"gpt-image-2","prompt":" \n"})", "prompt", "must not be empty");
}

TEST(UnifiedParse, PromptLimitIs32000CodePoints) {
  std::string cjk;
  for (int i = 0; i < 32000; ++i) {
    cjk += "字";  // 3 bytes, one code point
  }
  auto ok = parse(R"({"model":"gpt-image-2","prompt":")" + cjk + "\"}");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->request.prompt.size(), 96000u);
  expect_invalid(R"({"model":"gpt-image-2","prompt":")" + cjk + "字\"}", "prompt",
                 "prompt is 32001 characters; the maximum is 32000");
  EXPECT_TRUE(parse(R"({"model":"gpt-image-2","prompt":")" + std::string(32000, 'a') + "\"}"));
  expect_invalid(R"({"model":"gpt-image-2","prompt":")" + std::string(32001, 'a') + "\"}", "prompt",
                 "maximum is 32000");
}

// --- image_urls and mask_url

TEST(UnifiedParse, ImageUrlsAre1To16HttpsUrls) {
  auto one = parse(body(R"("image_urls":["https://a.example/i.png"])"));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->request.mode, core::Mode::kImageToImage);
  auto sixteen = parse(body(R"("image_urls":)" + url_list(16)));
  ASSERT_TRUE(sixteen);
  EXPECT_EQ(sixteen->request.input_urls.size(), 16u);
  auto null_list = parse(body(R"("image_urls":null)"));
  ASSERT_TRUE(null_list);
  EXPECT_EQ(null_list->request.mode, core::Mode::kTextToImage);

  expect_invalid(body(R"("image_urls":[])"), "image_urls", "1 to 16 URLs; it has 0");
  expect_invalid(body(R"("image_urls":)" + url_list(17)), "image_urls", "1 to 16 URLs; it has 17");
  expect_invalid(body(R"("image_urls":"https://a.example/i.png")"), "image_urls",
                 "must be an array of strings", ErrorCode::kInvalidRequest);
  expect_invalid(body(R"("image_urls":[1])"), "image_urls", "must be an array of strings",
                 ErrorCode::kInvalidRequest);
  expect_invalid(body(R"("image_urls":["https://a.example/0.png","http://a.example/1.png"])"),
                 "image_urls[1]", "image_urls[1] must use https://");
  expect_invalid(body(R"("image_urls":["data:image/png;base64,AAAA"])"), "image_urls[0]",
                 "data: URLs are not supported");
  expect_invalid(body(R"("image_urls":["not a url"])"), "image_urls[0]", "is not a valid URL");
}

TEST(UnifiedParse, MaskIsKeptWithReferencesAndSilentlyIgnoredWithout) {
  auto with = parse(
      body(R"("image_urls":["https://a.example/i.png"],"mask_url":"https://a.example/m.png")"));
  ASSERT_TRUE(with);
  EXPECT_EQ(with->request.mask_url, "https://a.example/m.png");

  auto without = parse(body(R"("mask_url":"https://a.example/m.png")"));
  ASSERT_TRUE(without);
  EXPECT_TRUE(without->request.mask_url.empty());
  EXPECT_EQ(without->request.mode, core::Mode::kTextToImage);
  EXPECT_EQ(without->request.size, (Size{1024, 1024}));
  // Ignored means unchecked too, but a mask of the wrong JSON type is still refused.
  EXPECT_TRUE(parse(body(R"("mask_url":"http://a.example/m.png")")));
  expect_invalid(body(R"("mask_url":["https://a.example/m.png"])"), "mask_url",
                 "mask_url must be a string", ErrorCode::kInvalidRequest);
  expect_invalid(
      body(R"("image_urls":["https://a.example/i.png"],"mask_url":"http://a.example/m.png")"),
      "mask_url", "mask_url must use https://");
}

// --- size and resolution

TEST(UnifiedSize, EveryRatioAtEveryTierFollowsTheBudgetRule) {
  const char* ratios[] = {"1:1", "1:2", "2:1", "1:3",  "3:1",  "2:3",  "3:2", "3:4",
                          "4:3", "4:5", "5:4", "9:16", "16:9", "9:21", "21:9"};
  for (const char* ratio : ratios) {
    for (const char* tier : {"1K", "2K", "4K", "1k", "4k"}) {
      auto r =
          parse(body(std::string(R"("size":")") + ratio + R"(","resolution":")" + tier + "\""));
      ASSERT_TRUE(r) << ratio << " " << tier;
      EXPECT_EQ(r->request.size,
                core::unified_budget_size(*core::parse_ratio(ratio), *core::parse_tier(tier)))
          << ratio << " " << tier;
      EXPECT_EQ(r->request.aspect_ratio, ratio);
      EXPECT_EQ(r->request.size_label, ratio);
    }
  }
}

TEST(UnifiedSize, SeedTableCellsIncludingDownscaledOnes) {
  EXPECT_EQ(size_of(body(R"("size":"1:1")")), (Size{1024, 1024}));
  EXPECT_EQ(size_of(body(R"("size":"9:16")")), (Size{768, 1360}));
  EXPECT_EQ(size_of(body(R"("size":"3:2","resolution":"2K")")), (Size{2512, 1680}));
  EXPECT_EQ(size_of(body(R"("size":"2:1","resolution":"4K")")), (Size{3840, 1920}));
  EXPECT_EQ(size_of(body(R"("size":"16:9","resolution":"4K")")), (Size{3840, 2160}));
  EXPECT_EQ(size_of(body(R"("size":"21:9","resolution":"4K")")), (Size{3840, 1632}));
  EXPECT_EQ(size_of(body(R"("size":"3:4","resolution":"4K")")), (Size{2480, 3312}));
  EXPECT_EQ(size_of(body(R"("size":"1:1","resolution":"4K")")), (Size{2880, 2880}));
}

TEST(UnifiedSize, AutoIsSquare1KOrFromTheReferenceAndIgnoresResolution) {
  for (const char* size : {R"("size":"auto")", R"("size":"AUTO")", R"("size":"Auto")"}) {
    auto r = parse(body(std::string(size) + R"(,"resolution":"4K")"));
    ASSERT_TRUE(r) << size;
    EXPECT_EQ(r->request.size, (Size{1024, 1024}));
    EXPECT_EQ(r->request.tier, Tier::k1K);
    EXPECT_EQ(r->request.aspect_ratio, "auto");
  }
  auto i2i = parse(body(R"("image_urls":["https://a.example/i.png"],"resolution":"2K")"));
  ASSERT_TRUE(i2i);
  EXPECT_EQ(i2i->request.size, (Size{0, 0}));
  EXPECT_EQ(i2i->request.tier, Tier::k1K);
  EXPECT_EQ(i2i->request.size_label, "auto");
}

TEST(UnifiedSize, ExplicitPixelsInEveryNotation) {
  struct Case {
    const char* label;
    Size size;
  } cases[] = {{"1024x1024", {1024, 1024}}, {"1536X1024", {1536, 1024}},
               {"1024×1024", {1024, 1024}}, {"3840×2160", {3840, 2160}},
               {"1024x640", {1024, 640}},   {"3840x1280", {3840, 1280}},
               {"1280x3840", {1280, 3840}}, {"2880x2880", {2880, 2880}}};
  for (const Case& c : cases) {
    auto r = parse(body(std::string(R"("size":")") + c.label + "\""));
    ASSERT_TRUE(r) << c.label << ": " << r.error().message;
    EXPECT_EQ(r->request.size, c.size) << c.label;
    EXPECT_EQ(r->request.size_label, c.label);  // as sent, even "×" and "X"
  }
  auto r = parse(body(R"("size":"1536x1024")"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.aspect_ratio, "3:2");
  EXPECT_EQ(r->request.tier, Tier::k2K);  // 1.57 MP: over the 1K budget
}

TEST(UnifiedSize, ResolutionIsIgnoredWithExplicitPixels) {
  for (const char* tier : {"1K", "2K", "4K"}) {
    auto r = parse(body(std::string(R"("size":"1024x1024","resolution":")") + tier + "\""));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->request.size, (Size{1024, 1024})) << tier;
    EXPECT_EQ(r->request.tier, Tier::k1K) << tier;
  }
}

TEST(UnifiedSize, ExplicitPixelRules) {
  expect_invalid(body(R"("size":"1000x1000")"), "size",
                 "size 1000x1000: width and height must be multiples of 16");
  expect_invalid(body(R"("size":"1024x1000")"), "size", "multiples of 16");
  expect_invalid(body(R"("size":"3840x3840")"), "size",
                 "width x height is 14745600 pixels; it must be between 655,360 and 8,294,400");
  expect_invalid(body(R"("size":"16x16")"), "size", "is 256 pixels; it must be between 655,360");
  expect_invalid(body(R"("size":"1008x640")"), "size", "between 655,360 and 8,294,400");
  expect_invalid(body(R"("size":"4000x1000")"), "size",
                 "size 4000x1000: each edge must be between 16 and 3840 pixels");
  expect_invalid(body(R"("size":"1024x3856")"), "size", "each edge");
  expect_invalid(body(R"("size":"0x1024")"), "size", "each edge");
  expect_invalid(body(R"("size":"3840x1024")"), "size",
                 "size 3840x1024: the aspect ratio must be at most 3:1");
  expect_invalid(body(R"("size":"1024×3520")"), "size", "at most 3:1");
}

TEST(UnifiedSize, UnknownSizeFormsAreRefused) {
  for (const char* size : {"7:5", "1:4", "16:10", "2:2", "", "square", "1024*1024", "x1024",
                           "1024x", "1024 x 1024", "-1024x1024", "100000x1000", "1024x1024x2"}) {
    expect_invalid(body(std::string(R"("size":")") + size + "\""), "size",
                   "size must be auto, one of 1:1, 1:2, 2:1");
  }
  expect_invalid(body(R"("size":1024)"), "size", "size must be a string",
                 ErrorCode::kInvalidRequest);
}

TEST(UnifiedSize, ResolutionValues) {
  expect_invalid(body(R"("size":"1:1","resolution":"8K")"), "resolution",
                 "resolution must be one of 1K, 2K, 4K");
  expect_invalid(body(R"("resolution":"1080p")"), "resolution", "one of 1K, 2K, 4K");
  // Ignored, yet still one of the documented values.
  expect_invalid(body(R"("size":"1024x1024","resolution":"8K")"), "resolution", "1K, 2K, 4K");
  expect_invalid(body(R"("resolution":4)"), "resolution", "resolution must be a string",
                 ErrorCode::kInvalidRequest);
}

// --- quality, n, callback_url

TEST(UnifiedParse, Quality) {
  for (const char* q : {"low", "medium", "high"}) {
    auto r = parse(body(std::string(R"("quality":")") + q + "\""));
    ASSERT_TRUE(r) << q;
    EXPECT_EQ(r->request.quality, q);
  }
  auto upper = parse(body(R"("quality":"HIGH")"));
  ASSERT_TRUE(upper);
  EXPECT_EQ(upper->request.quality, "high");
  expect_invalid(body(R"("quality":"auto")"), "quality",
                 "quality must be one of low, medium, high");
  expect_invalid(body(R"("quality":"ultra")"), "quality", "one of low, medium, high");
  expect_invalid(body(R"("quality":3)"), "quality", "quality must be a string",
                 ErrorCode::kInvalidRequest);
}

TEST(UnifiedParse, NIsAnInteger1To10) {
  for (const char* n : {"1", "10", "2.0"}) {
    auto r = parse(body(std::string(R"("n":)") + n));
    ASSERT_TRUE(r) << n;
    EXPECT_EQ(r->request.n, std::stoi(n)) << n;
  }
  expect_invalid(body(R"("n":0)"), "n", "n must be between 1 and 10");
  expect_invalid(body(R"("n":11)"), "n", "n must be between 1 and 10");
  expect_invalid(body(R"("n":-3)"), "n", "between 1 and 10");
  expect_invalid(body(R"("n":"2")"), "n", "n must be an integer", ErrorCode::kInvalidRequest);
  expect_invalid(body(R"("n":2.5)"), "n", "n must be an integer", ErrorCode::kInvalidRequest);
  expect_invalid(body(R"("n":true)"), "n", "n must be an integer", ErrorCode::kInvalidRequest);
}

TEST(UnifiedParse, CallbackUrlIsHttpsAndAtMost2048Characters) {
  const std::string prefix = "https://hooks.example.com/";
  const std::string at_limit = prefix + std::string(2048 - prefix.size(), 'a');
  auto r = parse(body(R"("callback_url":")" + at_limit + "\""));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->request.callback_url, at_limit);
  expect_invalid(body(R"("callback_url":")" + at_limit + "a\""), "callback_url",
                 "callback_url must be at most 2048 characters");
  expect_invalid(body(R"("callback_url":"http://hooks.example.com/done")"), "callback_url",
                 "callback_url must use https://");
  expect_invalid(body(R"("callback_url":"")"), "callback_url", "must not be empty");
  expect_invalid(body(R"("callback_url":{})"), "callback_url", "callback_url must be a string",
                 ErrorCode::kInvalidRequest);
}

// --- credits

core::GenerationRequest request_of(const std::string& b) {
  auto r = parse(b);
  EXPECT_TRUE(r) << b;
  return r ? r->request : core::GenerationRequest{};
}

TEST(UnifiedCredits, ShowsThePriceTheTaskHolds) {
  core::Task t;
  t.id = "task-unified-1-abcdefgh";
  t.request = request_of(body());
  t.price = 4'700'000;
  EXPECT_NE(render_task(t, {}).find(R"("credits_reserved":4.7,)"), std::string::npos)
      << render_task(t, {});
  t.price = 0;
  EXPECT_NE(render_task(t, {}).find(R"("credits_reserved":0,)"), std::string::npos);
}

// --- the task object

core::Task task_in(core::TaskState state) {
  core::Task t;
  t.id = "task-unified-1757156493-imcg5zqt";
  t.request = request_of(body());
  t.param = body();
  t.state = state;
  t.price = 2'500'000;  // held at create: the seed's example's 2.5 credits
  t.created_ms = 1757156493123;
  if (core::is_terminal(state)) {
    t.completed_ms = t.created_ms + 42000;
  }
  return t;
}

json::object render(const core::Task& t, const std::vector<std::string>& urls = {}) {
  return json::parse(render_task(t, urls)).as_object();
}

void expect_common_fields(const json::object& v) {
  EXPECT_EQ(v.at("created").as_int64(), 1757156493);
  EXPECT_EQ(v.at("id").as_string(), "task-unified-1757156493-imcg5zqt");
  EXPECT_EQ(v.at("model").as_string(), "gpt-image-2");
  EXPECT_EQ(v.at("object").as_string(), "image.generation.task");
  EXPECT_EQ(v.at("type").as_string(), "image");
  const auto& usage = v.at("usage").as_object();
  EXPECT_EQ(usage.at("billing_rule").as_string(), "per_call");
  // What the task holds; a failed or cancelled task was refunded and holds nothing.
  const bool refunded = v.at("status").as_string() == "failed";
  EXPECT_DOUBLE_EQ(usage.at("credits_reserved").to_number<double>(), refunded ? 0.0 : 2.5);
  EXPECT_EQ(usage.at("user_group").as_string(), "default");
  EXPECT_EQ(usage.size(), 3u);
}

TEST(UnifiedRender, CreateAnswerIsThePendingTask) {
  const std::string text = render_task(task_in(core::TaskState::kQueued), {});
  // Plain decimal, as in the seed, not Boost.JSON's 2.5E0.
  EXPECT_NE(text.find(R"("credits_reserved":2.5,)"), std::string::npos) << text;
  auto v = json::parse(text).as_object();
  expect_common_fields(v);
  EXPECT_EQ(v.at("status").as_string(), "pending");
  EXPECT_EQ(v.at("progress").as_int64(), 0);
  const auto& info = v.at("task_info").as_object();
  EXPECT_TRUE(info.at("can_cancel").as_bool());
  EXPECT_EQ(info.at("estimated_time").as_int64(), 100);
  EXPECT_FALSE(v.contains("results"));
  EXPECT_FALSE(v.contains("error"));
  EXPECT_EQ(v.size(), 9u);
}

TEST(UnifiedRender, CreditsReservedIsThePriceTheTaskHolds) {
  core::Task t = task_in(core::TaskState::kQueued);
  t.price = 280'000;
  EXPECT_NE(render_task(t, {}).find(R"("credits_reserved":0.28,)"), std::string::npos);
  t.price = 10'000'000;
  EXPECT_NE(render_task(t, {}).find(R"("credits_reserved":10,)"), std::string::npos);
}

TEST(UnifiedRender, RunningTask) {
  auto v = render(task_in(core::TaskState::kRunning));
  expect_common_fields(v);
  EXPECT_EQ(v.at("status").as_string(), "processing");
  EXPECT_EQ(v.at("progress").as_int64(), 50);
  EXPECT_TRUE(v.at("task_info").at("can_cancel").as_bool());
  EXPECT_EQ(v.at("task_info").at("estimated_time").as_int64(), 100);
  EXPECT_FALSE(v.contains("results"));
}

TEST(UnifiedRender, CompletedTaskListsItsResults) {
  auto v = render(task_in(core::TaskState::kSucceeded),
                  {"https://gw.example/files/1.png", "https://gw.example/files/2.png"});
  expect_common_fields(v);
  EXPECT_EQ(v.at("status").as_string(), "completed");
  EXPECT_EQ(v.at("progress").as_int64(), 100);
  const auto& results = v.at("results").as_array();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].as_string(), "https://gw.example/files/1.png");
  EXPECT_EQ(results[1].as_string(), "https://gw.example/files/2.png");
  const auto& info = v.at("task_info").as_object();
  EXPECT_FALSE(info.at("can_cancel").as_bool());
  EXPECT_FALSE(info.contains("estimated_time"));
  EXPECT_FALSE(v.contains("error"));
}

TEST(UnifiedRender, FailedTaskCarriesItsCode) {
  core::Task t = task_in(core::TaskState::kFailed);
  t.fail_code = "invalid_mask";
  t.fail_msg = "Invalid mask image format - mask image missing alpha channel";
  auto v = render(t);
  expect_common_fields(v);
  EXPECT_EQ(v.at("status").as_string(), "failed");
  EXPECT_EQ(v.at("progress").as_int64(), 100);
  const auto& e = v.at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "invalid_mask");
  EXPECT_EQ(e.at("message").as_string(), t.fail_msg);
  EXPECT_EQ(e.at("type").as_string(), "task_error");
  EXPECT_EQ(e.size(), 3u);
  EXPECT_FALSE(v.contains("results"));
  EXPECT_FALSE(v.at("task_info").at("can_cancel").as_bool());

  t.fail_code.clear();
  t.fail_msg.clear();
  auto bare = render(t).at("error").as_object();
  EXPECT_EQ(bare.at("code").as_string(), "unknown_error");
  EXPECT_EQ(bare.at("message").as_string(), "Generation failed");
}

TEST(UnifiedRender, ModerationIsAContentPolicyViolation) {
  core::Task t = task_in(core::TaskState::kFailed);
  t.fail_code = "moderation_blocked";
  t.fail_msg = "Your request was rejected by the safety system.";
  const auto v = render(t);
  const auto& e = v.at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "content_policy_violation");
  EXPECT_EQ(e.at("message").as_string(), t.fail_msg);
  t.fail_code = "upstream_timeout";
  EXPECT_EQ(render(t).at("error").at("code").as_string(), "upstream_timeout");
}

TEST(UnifiedRender, CancelledTaskReadsAsFailedWithRequestCancelled) {
  core::Task t = task_in(core::TaskState::kCancelled);
  t.fail_code = "cancelled";  // as the store writes it
  t.fail_msg = "the task was cancelled";
  auto v = render(t);
  expect_common_fields(v);
  EXPECT_EQ(v.at("status").as_string(), "failed");
  EXPECT_EQ(v.at("progress").as_int64(), 100);
  const auto& e = v.at("error").as_object();
  EXPECT_EQ(e.at("code").as_string(), "request_cancelled");
  EXPECT_EQ(e.at("message").as_string(), "the task was cancelled");
  EXPECT_EQ(e.at("type").as_string(), "task_error");
  EXPECT_FALSE(v.at("task_info").at("can_cancel").as_bool());
  EXPECT_FALSE(v.at("task_info").as_object().contains("estimated_time"));
}

TEST(UnifiedRender, StatusWords) {
  EXPECT_EQ(status_word(core::TaskState::kQueued), "pending");
  EXPECT_EQ(status_word(core::TaskState::kRunning), "processing");
  EXPECT_EQ(status_word(core::TaskState::kSucceeded), "completed");
  EXPECT_EQ(status_word(core::TaskState::kFailed), "failed");
  EXPECT_EQ(status_word(core::TaskState::kCancelled), "failed");
}

TEST(UnifiedRender, ModelOfTheTaskOrTheDefault) {
  core::Task t = task_in(core::TaskState::kQueued);
  t.request.model = "gpt-image-1";  // an `openai` task polled here
  EXPECT_EQ(render(t).at("model").as_string(), "gpt-image-1");
  t.request.model.clear();
  EXPECT_EQ(render(t).at("model").as_string(), "gpt-image-2");
}

// --- errors and task ids

TEST(UnifiedErrors, EnvelopeForEachDocumentedCode) {
  struct Case {
    ErrorCode code;
    std::string param;
    unsigned status;
    const char* word;
    const char* type;
  } cases[] = {
      {ErrorCode::kInvalidRequest, "task_id", 400, "invalid_task_id", "invalid_request_error"},
      {ErrorCode::kInvalidRequest, "", 400, "invalid_parameters", "invalid_request_error"},
      {ErrorCode::kValidationFailed, "size", 400, "invalid_parameters", "invalid_request_error"},
      {ErrorCode::kUnauthorized, "", 401, "unauthorized", "authentication_error"},
      {ErrorCode::kInsufficientCredits, "", 402, "insufficient_quota", "insufficient_quota_error"},
      {ErrorCode::kForbidden, "", 403, "permission_denied", "permission_error"},
      {ErrorCode::kNotFound, "", 404, "task_not_found", "invalid_request_error"},
      {ErrorCode::kModelNotFound, "model", 404, "model_not_found", "invalid_request_error"},
      {ErrorCode::kConflict, "", 409, "conflict", "invalid_request_error"},
      {ErrorCode::kPayloadTooLarge, "", 413, "request_too_large", "invalid_request_error"},
      {ErrorCode::kRateLimited, "", 429, "rate_limit_exceeded", "rate_limit_error"},
      {ErrorCode::kInternal, "", 500, "internal_error", "api_error"},
      {ErrorCode::kUpstream, "", 503, "service_error", "api_error"},
      {ErrorCode::kUnavailable, "", 503, "service_unavailable", "api_error"},
  };
  for (const Case& c : cases) {
    core::Error e{c.code, "what went wrong", c.param};
    EXPECT_EQ(error_status(e), c.status) << c.word;
    auto v = json::parse(render_error(e)).as_object();
    const auto& err = v.at("error").as_object();
    EXPECT_EQ(err.at("code").as_string(), c.word);
    EXPECT_EQ(err.at("message").as_string(), "what went wrong");
    EXPECT_EQ(err.at("type").as_string(), c.type) << c.word;
    if (c.param.empty()) {
      EXPECT_TRUE(err.at("param").is_null()) << c.word;
    } else {
      EXPECT_EQ(err.at("param").as_string(), c.param);
    }
    EXPECT_EQ(err.size(), 4u);
  }
}

TEST(UnifiedTaskId, AcceptsTheIdsWeIssue) {
  for (const char* id : {"task-unified-1757156493-imcg5zqt", "task-unified-1-zzzzzzzz",
                         "task-unified-1757156493-00000000"}) {
    EXPECT_TRUE(check_task_id(id)) << id;
  }
}

TEST(UnifiedTaskId, AnythingElseIsInvalidTaskId) {
  for (const char* id :
       {"", "task-unified-", "task-unified-x", "task-unified-1757156493",
        "task-unified-1757156493-", "task-unified-1757156493-imcg5zq",
        "task-unified-1757156493-imcg5zqtx", "task-unified-1757156493-IMCG5ZQT",
        "task-unified-abc-imcg5zqt", "task-unified--imcg5zqt", "task-unified-1757156493_imcg5zqt",
        "task-unified-1757156493-imcg5zq!", "Task-Unified-1757156493-imcg5zqt",
        "tk-01hx0000000000000000000000", "3ebe82c2-3abc-4015-9608-901baca54948",
        "task-unified-12345678901234567890-imcg5zqt"}) {
    auto st = check_task_id(id);
    ASSERT_FALSE(st) << id;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(error_status(st.error()), 400u);
    auto err = json::parse(render_error(st.error())).at("error").as_object();
    EXPECT_EQ(err.at("code").as_string(), "invalid_task_id") << id;
    EXPECT_EQ(err.at("type").as_string(), "invalid_request_error");
    EXPECT_EQ(err.at("param").as_string(), "task_id");
    EXPECT_NE(err.at("message").as_string().find("must start with 'task-unified-'"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace ig::api::unified
