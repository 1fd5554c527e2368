#include "api/dialects/tasks.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ig::api::tasks_dialect {
namespace {

namespace json = boost::json;
using core::ErrorCode;

const std::string kRef = R"("input_urls":["https://example.com/reference.png"])";

std::string i2i(const std::string& input, const std::string& rest = "") {
  return R"({"model":"gpt-image-2-image-to-image","input":)" + input + rest + "}";
}
std::string t2i(const std::string& input) {
  return R"({"model":"gpt-image-2-text-to-image","input":)" + input + "}";
}
// An image-to-image input with the seed's reference and `extra` fields.
std::string ref_input(const std::string& extra = "") {
  return R"({"prompt":"x",)" + kRef + extra + "}";
}

void expect_error(const std::string& body, ErrorCode code, unsigned status,
                  const std::string& error_code, const std::string& message_part) {
  auto r = parse_create(body);
  ASSERT_FALSE(r) << body;
  EXPECT_EQ(r.error().code, code) << body;
  EXPECT_EQ(error_status(r.error()), status) << body;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos)
      << "message: " << r.error().message;
  auto env = json::parse(render_error(r.error())).as_object();
  EXPECT_EQ(env.at("code").as_int64(), status);
  EXPECT_EQ(env.at("message").as_string(), r.error().message);
  EXPECT_TRUE(env.at("data").is_null());
  EXPECT_EQ(env.at("error_code").as_string(), error_code) << body;
  EXPECT_EQ(env.size(), 4u);
}

void expect_400(const std::string& body, const std::string& message_part) {
  expect_error(body, ErrorCode::kInvalidRequest, 400, "INVALID_REQUEST", message_part);
}
void expect_422(const std::string& body, const std::string& message_part) {
  expect_error(body, ErrorCode::kValidationFailed, 422, "VALIDATION_FAILED", message_part);
}

// --- create: the seed's examples

TEST(TasksParse, SeedExampleProductizeAReference) {
  const std::string body = R"({
  "model": "gpt-image-2-image-to-image",
  "input": {
    "prompt": "Turn the reference image into a clean commercial product photo on a white acrylic surface",
    "input_urls": [
      "https://example.com/reference.png"
    ],
    "aspect_ratio": "1:1",
    "resolution": "1K"
  }
})";
  auto r = parse_create(body);
  ASSERT_TRUE(r) << r.error().message;
  const core::GenerationRequest& q = r->request;
  EXPECT_EQ(q.dialect, core::Dialect::kTasks);
  EXPECT_EQ(q.model, "gpt-image-2-image-to-image");
  EXPECT_EQ(q.mode, core::Mode::kImageToImage);
  EXPECT_EQ(q.prompt,
            "Turn the reference image into a clean commercial product photo on a white acrylic "
            "surface");
  EXPECT_EQ(q.input_urls, std::vector<std::string>{"https://example.com/reference.png"});
  EXPECT_EQ(q.aspect_ratio, "1:1");
  EXPECT_EQ(q.tier, core::Tier::k1K);
  EXPECT_EQ(q.size, (core::Size{1024, 1024}));
  EXPECT_TRUE(q.callback_url.empty());
  EXPECT_TRUE(q.safety_checker);
  EXPECT_EQ(r->param, json::serialize(json::parse(body)));
  EXPECT_EQ(r->param.find('\n'), std::string::npos);
}

TEST(TasksParse, SeedExampleProductionRequestWithCallback) {
  auto r = parse_create(
      R"({"model":"gpt-image-2-image-to-image","input":{"prompt":"Restyle this product photo as a premium catalog image","input_urls":["https://example.com/reference.png"],"aspect_ratio":"4:5","resolution":"1K"},"callback":{"url":"https://your-domain.com/hiapi/callback","when":"final"}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->request.callback_url, "https://your-domain.com/hiapi/callback");
  EXPECT_EQ(r->request.aspect_ratio, "4:5");
  EXPECT_EQ(r->request.size, (core::Size{912, 1152}));  // seed 001: 5:4 at 1K, swapped
}

TEST(TasksParse, ParamIsTheOriginalBodyCompacted) {
  auto r = parse_create(
      "{ \"model\" : \"gpt-image-2-text-to-image\",\n \"input\": {\"prompt\": \"x\"} }");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->param, R"({"model":"gpt-image-2-text-to-image","input":{"prompt":"x"}})");
}

// --- create: defaults and sizes

TEST(TasksParse, DefaultsAreAutoAnd1KAndImageToImageAutoIsSizedFromTheReference) {
  auto r = parse_create(i2i(ref_input()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.aspect_ratio, "auto");
  EXPECT_EQ(r->request.tier, core::Tier::k1K);
  EXPECT_EQ(r->request.size, (core::Size{0, 0}));
}

TEST(TasksParse, TextToImageModelIsPromptOnlyAndAutoIsSquare) {
  auto r = parse_create(t2i(R"({"prompt":"a cute cat"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.model, "gpt-image-2-text-to-image");
  EXPECT_EQ(r->request.mode, core::Mode::kTextToImage);
  EXPECT_TRUE(r->request.input_urls.empty());
  EXPECT_EQ(r->request.size, (core::Size{1024, 1024}));
  auto two_k = parse_create(t2i(R"({"prompt":"x","resolution":"2K"})"));
  ASSERT_TRUE(two_k);
  EXPECT_EQ(two_k->request.size, (core::Size{2048, 2048}));
  // An empty list is no reference at all.
  EXPECT_TRUE(parse_create(t2i(R"({"prompt":"x","input_urls":[]})")));
}

TEST(TasksParse, EveryRatioOfTheEnumUsesSeed001Table) {
  struct Case {
    const char* ratio;
    const char* resolution;
    core::Size size;
  };
  const Case cases[] = {
      {"1:1", "1K", {1024, 1024}}, {"3:2", "1K", {1248, 832}},   {"2:3", "1K", {832, 1248}},
      {"4:3", "2K", {2368, 1776}}, {"3:4", "2K", {1776, 2368}},  {"5:4", "4K", {3216, 2576}},
      {"4:5", "4K", {2576, 3216}}, {"16:9", "2K", {2736, 1536}}, {"9:16", "1K", {768, 1360}},
      {"2:1", "4K", {3840, 1920}}, {"1:2", "1K", {720, 1456}},   {"3:1", "2K", {3552, 1184}},
      {"1:3", "4K", {1280, 3840}}, {"21:9", "1K", {1568, 672}},  {"9:21", "2K", {1344, 3136}},
  };
  for (const Case& c : cases) {
    auto r = parse_create(i2i(ref_input(std::string(R"(,"aspect_ratio":")") + c.ratio +
                                        R"(","resolution":")" + c.resolution + "\"")));
    ASSERT_TRUE(r) << c.ratio;
    EXPECT_EQ(r->request.aspect_ratio, c.ratio);
    EXPECT_EQ(r->request.size, c.size) << c.ratio << " " << c.resolution;
  }
}

TEST(TasksParse, Seed000ImageToImageRestrictionsAreNotApplied) {
  auto auto_2k = parse_create(i2i(ref_input(R"(,"resolution":"2K")")));
  ASSERT_TRUE(auto_2k);
  EXPECT_EQ(auto_2k->request.tier, core::Tier::k2K);
  EXPECT_EQ(auto_2k->request.size, (core::Size{0, 0}));
  auto square_4k = parse_create(i2i(ref_input(R"(,"aspect_ratio":"1:1","resolution":"4K")")));
  ASSERT_TRUE(square_4k);
  EXPECT_EQ(square_4k->request.size, (core::Size{2880, 2880}));
}

TEST(TasksParse, ResolutionIsCaseInsensitive) {
  auto r = parse_create(t2i(R"({"prompt":"x","resolution":"4k"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.tier, core::Tier::k4K);
}

TEST(TasksParse, PromptLimitCountsCodePoints) {
  std::string cjk;
  for (int i = 0; i < 20000; ++i) {
    cjk += "字";  // 60000 bytes, 20000 characters
  }
  EXPECT_TRUE(parse_create(t2i(R"({"prompt":")" + cjk + "\"}")));
  expect_422(t2i(R"({"prompt":")" + cjk + "字\"}"), "20001 characters; the maximum is 20000");
}

TEST(TasksParse, SixteenReferencesAreTheMaximum) {
  std::string urls;
  for (int i = 0; i < 16; ++i) {
    urls += std::string(i ? "," : "") + "\"https://a.example/" + std::to_string(i) + ".png\"";
  }
  auto r = parse_create(i2i(R"({"prompt":"x","input_urls":[)" + urls + "]}"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.input_urls.size(), 16u);
  EXPECT_EQ(r->request.input_urls[15], "https://a.example/15.png");
  expect_422(i2i(R"({"prompt":"x","input_urls":[)" + urls + R"(,"https://a.example/x.png"]})"),
             "at most 16");
}

TEST(TasksParse, CallbackWhenDefaultsToFinal) {
  auto r = parse_create(i2i(ref_input(), R"(,"callback":{"url":"https://hooks.example/cb"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.callback_url, "https://hooks.example/cb");
  auto none = parse_create(i2i(ref_input(), R"(,"callback":null)"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->request.callback_url.empty());
}

// HiAPI's pages name the model `gpt-image-2` too (the mode follows input_urls), and
// `gpt-image-2/text-to-image` / `gpt-image-2/image-to-image`.
TEST(TasksCreate, HiApiLiveModelNames) {
  auto family = parse_create(R"({"model":"gpt-image-2","input":{"prompt":"x"}})");
  ASSERT_TRUE(family);
  EXPECT_EQ(family->request.mode, core::Mode::kTextToImage);
  EXPECT_EQ(family->request.model, "gpt-image-2");
  auto family_i2i = parse_create(
      R"({"model":"gpt-image-2","input":{"prompt":"x","input_urls":["https://example.com/a.png"]}})");
  ASSERT_TRUE(family_i2i);
  EXPECT_EQ(family_i2i->request.mode, core::Mode::kImageToImage);
  auto slash = parse_create(R"({"model":"gpt-image-2/text-to-image","input":{"prompt":"x"}})");
  ASSERT_TRUE(slash);
  EXPECT_EQ(slash->request.mode, core::Mode::kTextToImage);
  auto slash_i2i = parse_create(
      R"({"model":"gpt-image-2/image-to-image","input":{"prompt":"x","input_urls":["https://example.com/a.png"]}})");
  ASSERT_TRUE(slash_i2i);
  EXPECT_EQ(slash_i2i->request.mode, core::Mode::kImageToImage);
  expect_error(R"({"model":"gpt-image-2/image-to-image","input":{"prompt":"x"}})",
               ErrorCode::kInvalidRequest, 400, "INVALID_REQUEST", "input.input_urls is required");
}

// --- create: errors

TEST(TasksErrors, ModelProblems) {
  expect_400(R"({"input":{"prompt":"x"}})", "model is required");
  expect_400(R"({"model":7,"input":{"prompt":"x"}})", "model must be a string");
  expect_error(R"({"model":"gpt-image-3","input":{"prompt":"x"}})", ErrorCode::kModelNotFound, 404,
               "MODEL_NOT_FOUND", "does not exist");
  expect_error(R"({"model":"GPT-IMAGE-2-IMAGE-TO-IMAGE","input":{"prompt":"x"}})",
               ErrorCode::kModelNotFound, 404, "MODEL_NOT_FOUND", "does not exist");
}

TEST(TasksErrors, StructuralProblemsAre400) {
  expect_400("{not json", "not valid JSON");
  expect_400("[1]", "must be a JSON object");
  expect_400(R"({"model":"gpt-image-2-image-to-image"})", "input is required");
  expect_400(R"({"model":"gpt-image-2-image-to-image","input":[]})", "input must be an object");
  expect_400(i2i(R"({)" + kRef + "}"), "input.prompt is required");
  expect_400(i2i(R"({"prompt":["x"],)" + kRef + "}"), "input.prompt must be a string");
  expect_400(i2i(R"({"prompt":"x"})"), "input.input_urls is required");
  expect_400(i2i(R"({"prompt":"x","input_urls":"https://a.example/i.png"})"),
             "input.input_urls must be an array of strings");
  expect_400(i2i(R"({"prompt":"x","input_urls":[5]})"), "must be an array of strings");
  expect_400(i2i(ref_input(R"(,"aspect_ratio":1)")), "input.aspect_ratio must be a string");
  expect_400(i2i(ref_input(R"(,"resolution":2)")), "input.resolution must be a string");
}

TEST(TasksErrors, RuleViolationsAre422) {
  expect_422(i2i(R"({"prompt":" \n",)" + kRef + "}"), "input.prompt must not be empty");
  expect_422(i2i(R"({"prompt":"x","input_urls":[]})"), "at least one image URL");
  expect_422(i2i(R"({"prompt":"x","input_urls":["http://a.example/i.png"]})"),
             "input.input_urls[0] must use https://");
  expect_422(
      i2i(R"({"prompt":"x","input_urls":["https://a.example/1.png","data:image/png;base64,AA"]})"),
      "input.input_urls[1]: data: URLs are not supported");
  expect_422(t2i(R"({"prompt":"x","input_urls":["https://a.example/i.png"]})"),
             "not supported by gpt-image-2-text-to-image");
  for (const char* bad : {"7:5", "1:1 ", "AUTO", "1024x1024", ""}) {
    expect_422(i2i(ref_input(std::string(R"(,"aspect_ratio":")") + bad + "\"")),
               "input.aspect_ratio must be one of auto, 1:1, 3:2");
  }
  for (const char* bad : {"8K", "3K", "1080p", ""}) {
    expect_422(i2i(ref_input(std::string(R"(,"resolution":")") + bad + "\"")),
               "input.resolution must be one of 1K, 2K, 4K");
  }
}

TEST(TasksErrors, CallbackRules) {
  const std::string in = ref_input();
  expect_400(i2i(in, R"(,"callback":"https://hooks.example/cb")"), "callback must be an object");
  expect_400(i2i(in, R"(,"callback":{})"), "callback.url is required");
  expect_400(i2i(in, R"(,"callback":{"when":"final"})"), "callback.url is required");
  expect_400(i2i(in, R"(,"callback":{"url":1})"), "callback.url must be a string");
  expect_422(i2i(in, R"(,"callback":{"url":"http://insecure.example/cb"})"),
             "callback.url must use https://");
  expect_422(i2i(in, R"(,"callback":{"url":"https://h.example/cb","when":"always"})"),
             "callback.when must be final");
  expect_400(i2i(in, R"(,"callback":{"url":"https://h.example/cb","when":1})"),
             "callback.when must be a string");
  const std::string at_limit = "https://h.example/" + std::string(2048 - 18, 'a');
  ASSERT_EQ(at_limit.size(), 2048u);
  EXPECT_TRUE(parse_create(i2i(in, R"(,"callback":{"url":")" + at_limit + "\"}")));
  expect_422(i2i(in, R"(,"callback":{"url":")" + at_limit + "a\"}"),
             "callback.url must be at most 2048 characters");
}

// --- rendering

core::Task sample_task(core::TaskState state) {
  core::Task t;
  t.id = "tk-01HZTQ8BX2N3GM3YFK4Z9D7VQR";
  t.request.model = "gpt-image-2-image-to-image";
  t.state = state;
  t.created_ms = 1777282033'456;
  if (core::is_terminal(state)) {
    t.completed_ms = 1777282099'999;
  }
  return t;
}

json::object data_of(const std::string& body) {
  auto v = json::parse(body).as_object();
  EXPECT_EQ(v.at("code").as_int64(), 200);
  EXPECT_EQ(v.at("message").as_string(), "success");
  EXPECT_EQ(v.size(), 3u);
  return v.at("data").as_object();
}

TEST(TasksRender, CreatedEnvelopeIsTheSeeds) {
  core::Task t = sample_task(core::TaskState::kQueued);
  EXPECT_EQ(
      render_created(t),
      R"({"code":200,"message":"success","data":{"taskId":"tk-01HZTQ8BX2N3GM3YFK4Z9D7VQR"}})");
}

TEST(TasksRender, QueuedAndHandling) {
  const std::pair<core::TaskState, const char*> cases[] = {{core::TaskState::kQueued, "queued"},
                                                           {core::TaskState::kRunning, "handling"}};
  for (auto [state, word] : cases) {
    core::Task t = sample_task(state);
    t.completed_ms = 5;  // never shown before the task is terminal
    auto d = data_of(render_task(t, {}, 0));
    EXPECT_EQ(d.at("taskId").as_string(), "tk-01HZTQ8BX2N3GM3YFK4Z9D7VQR");
    EXPECT_EQ(d.at("model").as_string(), "gpt-image-2-image-to-image");
    EXPECT_EQ(d.at("status").as_string(), word);
    EXPECT_EQ(d.at("created").as_int64(), 1777282033);
    EXPECT_EQ(d.at("completed").as_int64(), 0);
    EXPECT_TRUE(d.at("output").as_array().empty());
    EXPECT_FALSE(d.contains("error"));
    EXPECT_EQ(d.size(), 6u);
  }
}

TEST(TasksRender, SuccessListsEachImageWithItsExpiry) {
  core::Task t = sample_task(core::TaskState::kSucceeded);
  const std::string body = render_task(
      t, {"https://gw.example/files/a/1.png", "https://gw.example/files/a/2.png"}, 1777886899);
  EXPECT_EQ(body.find(R"({"code":200,"message":"success","data":{"taskId":)"), 0u);
  auto d = data_of(body);
  EXPECT_EQ(d.at("status").as_string(), "success");
  EXPECT_EQ(d.at("created").as_int64(), 1777282033);
  EXPECT_EQ(d.at("completed").as_int64(), 1777282099);
  const auto& out = d.at("output").as_array();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(json::serialize(out[0]),
            R"({"url":"https://gw.example/files/a/1.png","type":"image","expireAt":1777886899})");
  EXPECT_EQ(out[1].at("url").as_string(), "https://gw.example/files/a/2.png");
  EXPECT_FALSE(d.contains("error"));
}

TEST(TasksRender, FieldOrderFollowsHiAPI) {
  auto body = render_task(sample_task(core::TaskState::kFailed), {}, 0);
  const std::vector<std::string> keys = {"\"taskId\"",    "\"model\"",  "\"status\"", "\"created\"",
                                         "\"completed\"", "\"output\"", "\"error\""};
  std::size_t last = 0;
  for (const auto& k : keys) {
    const auto at = body.find(k);
    ASSERT_NE(at, std::string::npos) << k;
    EXPECT_GT(at, last) << k;
    last = at;
  }
}

TEST(TasksRender, UpstreamFailCodes) {
  core::Task t = sample_task(core::TaskState::kFailed);
  t.fail_code = "moderation_blocked";
  auto d = data_of(render_task(t, {}, 0));
  EXPECT_EQ(d.at("error").at("code").as_string(), "content_policy_violation");
  t.fail_code = "upstream_error";
  d = data_of(render_task(t, {}, 0));
  EXPECT_EQ(d.at("error").at("code").as_string(), "upstream_error");
}

TEST(TasksRender, FailCarriesTheTaskFailure) {
  core::Task t = sample_task(core::TaskState::kFailed);
  t.fail_code = "upstream_error";
  t.fail_msg = "the provider returned 500";
  auto d = data_of(render_task(t, {"https://ignored.example/x.png"}, 9));
  EXPECT_EQ(d.at("status").as_string(), "fail");
  EXPECT_EQ(d.at("completed").as_int64(), 1777282099);
  EXPECT_TRUE(d.at("output").as_array().empty());
  EXPECT_EQ(json::serialize(d.at("error")),
            R"({"code":"upstream_error","message":"the provider returned 500"})");
  t.fail_code.clear();
  auto blank = data_of(render_task(t, {}, 0));
  EXPECT_EQ(blank.at("error").at("code").as_string(), "internal_error");
}

TEST(TasksRender, CancelledIsFailWithCodeCancelled) {
  core::Task t = sample_task(core::TaskState::kCancelled);
  t.fail_code = "whatever";
  t.fail_msg = "the task was cancelled";
  auto d = data_of(render_task(t, {}, 0));
  EXPECT_EQ(d.at("status").as_string(), "fail");
  EXPECT_EQ(d.at("error").at("code").as_string(), "cancelled");
  EXPECT_EQ(d.at("error").at("message").as_string(), "the task was cancelled");
  EXPECT_EQ(d.at("completed").as_int64(), 1777282099);
  t.fail_msg.clear();
  EXPECT_EQ(data_of(render_task(t, {}, 0)).at("error").at("message").as_string(),
            "the task was cancelled");
}

TEST(TasksRender, StatusWords) {
  EXPECT_EQ(status_word(core::TaskState::kQueued), "queued");
  EXPECT_EQ(status_word(core::TaskState::kRunning), "handling");
  EXPECT_EQ(status_word(core::TaskState::kSucceeded), "success");
  EXPECT_EQ(status_word(core::TaskState::kFailed), "fail");
  EXPECT_EQ(status_word(core::TaskState::kCancelled), "fail");
}

// --- list

TEST(TasksList, ShapeAndEntriesMatchTheDetailObject) {
  core::Task done = sample_task(core::TaskState::kSucceeded);
  core::Task waiting = sample_task(core::TaskState::kQueued);
  waiting.id = "tk-01HZTQ8BX2N3GM3YFK4Z9D7VQS";
  const std::string url = "https://gw.example/files/t/1.png?expires=1777369299&signature=ab";
  auto d = data_of(render_list({done, waiting}, {{url}, {}}, 1777300000, 2, 10, 42));
  EXPECT_EQ(d.at("page").as_int64(), 2);
  EXPECT_EQ(d.at("size").as_int64(), 10);
  EXPECT_EQ(d.at("total").as_int64(), 42);
  EXPECT_EQ(d.size(), 4u);
  const auto& items = d.at("tasks").as_array();
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], data_of(render_task(done, {url}, 1777369299)));
  EXPECT_EQ(items[1], data_of(render_task(waiting, {}, 0)));
}

TEST(TasksList, ExpiryComesFromTheSignedUrlElseNow) {
  core::Task done = sample_task(core::TaskState::kSucceeded);
  auto d = data_of(render_list(
      {done, done},
      {{"https://g.example/f/1.png?signature=x&expires=1777400000", "https://g.example/f/2.png"},
       {"https://g.example/f/3.png?expires=12ab"}},
      1777300000, 1, 20, 2));
  const auto& items = d.at("tasks").as_array();
  EXPECT_EQ(items[0].at("output").at(0).at("expireAt").as_int64(), 1777400000);
  EXPECT_EQ(items[0].at("output").at(1).at("expireAt").as_int64(), 1777300000);
  EXPECT_EQ(items[1].at("output").at(0).at("expireAt").as_int64(), 1777300000);
}

TEST(TasksList, EmptyPageAndMissingUrlLists) {
  auto d = data_of(render_list({}, {}, 0, 3, 20, 0));
  EXPECT_TRUE(d.at("tasks").as_array().empty());
  EXPECT_EQ(d.at("page").as_int64(), 3);
  core::Task done = sample_task(core::TaskState::kSucceeded);
  auto short_urls = data_of(render_list({done}, {}, 0, 1, 20, 1));
  EXPECT_TRUE(short_urls.at("tasks").at(0).at("output").as_array().empty());
}

TEST(TasksList, QueryDefaultsAndBounds) {
  EXPECT_EQ(*parse_list_query("", ""), (std::pair<int, int>{1, 20}));
  EXPECT_EQ(*parse_list_query("3", ""), (std::pair<int, int>{3, 20}));
  EXPECT_EQ(*parse_list_query("", "1"), (std::pair<int, int>{1, 1}));
  EXPECT_EQ(*parse_list_query("7", "100"), (std::pair<int, int>{7, 100}));
  for (const char* bad : {"0", "-1", "abc", "1.5", " 1", "+1", "99999999999"}) {
    auto r = parse_list_query(bad, "");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(r.error().param, "page");
    EXPECT_EQ(error_status(r.error()), 400u);
  }
  for (const char* bad : {"0", "101", "-5", "ten", "20x"}) {
    auto r = parse_list_query("1", bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(r.error().param, "page_size");
    EXPECT_NE(r.error().message.find("1 to 100"), std::string::npos);
  }
}

// --- error envelope

TEST(TasksErrorEnvelope, SeedShape) {
  EXPECT_EQ(
      render_error(core::make_error(ErrorCode::kInvalidRequest, "invalid request")),
      R"({"code":400,"message":"invalid request","data":null,"error_code":"INVALID_REQUEST"})");
}

TEST(TasksErrorEnvelope, EveryCodeHasItsWordAndStatus) {
  struct Case {
    ErrorCode code;
    unsigned status;
    const char* word;
  };
  const Case cases[] = {
      {ErrorCode::kInvalidRequest, 400, "INVALID_REQUEST"},
      {ErrorCode::kUnauthorized, 401, "UNAUTHORIZED"},
      {ErrorCode::kInsufficientCredits, 402, "INSUFFICIENT_CREDITS"},
      {ErrorCode::kForbidden, 403, "FORBIDDEN"},
      {ErrorCode::kNotFound, 404, "TASK_NOT_FOUND"},
      {ErrorCode::kModelNotFound, 404, "MODEL_NOT_FOUND"},
      {ErrorCode::kMethodNotAllowed, 405, "METHOD_NOT_ALLOWED"},
      {ErrorCode::kRequestTimeout, 408, "REQUEST_TIMEOUT"},
      {ErrorCode::kConflict, 409, "CONFLICT"},
      {ErrorCode::kPayloadTooLarge, 413, "PAYLOAD_TOO_LARGE"},
      {ErrorCode::kValidationFailed, 422, "VALIDATION_FAILED"},
      {ErrorCode::kRateLimited, 429, "RATE_LIMITED"},
      {ErrorCode::kHeadersTooLarge, 431, "HEADERS_TOO_LARGE"},
      {ErrorCode::kInternal, 500, "INTERNAL_ERROR"},
      {ErrorCode::kUpstream, 503, "UPSTREAM_ERROR"},
      {ErrorCode::kUnavailable, 503, "SERVICE_UNAVAILABLE"},
  };
  for (const Case& c : cases) {
    const core::Error e = core::make_error(c.code, "m");
    EXPECT_EQ(error_status(e), c.status) << c.word;
    EXPECT_EQ(error_code_word(c.code), c.word);
    auto v = json::parse(render_error(e)).as_object();
    EXPECT_EQ(v.at("code").as_int64(), c.status) << c.word;
    EXPECT_EQ(v.at("error_code").as_string(), c.word);
    EXPECT_TRUE(v.at("data").is_null());
  }
}

}  // namespace
}  // namespace ig::api::tasks_dialect
