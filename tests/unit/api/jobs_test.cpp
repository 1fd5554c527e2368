#include "api/dialects/jobs.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/fail_codes.hpp"

namespace ig::api::jobs {
namespace {

namespace json = boost::json;
using core::ErrorCode;

core::Result<ParsedCreate> parse(const std::string& body) { return parse_create(body); }

std::string t2i(const std::string& input) {
  return R"({"model":"gpt-image-2-text-to-image","input":)" + input + "}";
}
std::string i2i(const std::string& input) {
  return R"({"model":"gpt-image-2-image-to-image","input":)" + input + "}";
}

void expect_error(const std::string& body, ErrorCode code, unsigned status,
                  const std::string& message_part) {
  auto r = parse(body);
  ASSERT_FALSE(r) << body;
  EXPECT_EQ(r.error().code, code) << body;
  EXPECT_EQ(error_status(r.error()), status) << body;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos)
      << "message: " << r.error().message;
  auto env = json::parse(render_error(r.error())).as_object();
  EXPECT_EQ(env.at("code").as_int64(), status);
  EXPECT_EQ(env.at("msg").as_string(), r.error().message);
  EXPECT_TRUE(env.at("data").is_null());
}

TEST(JobsParse, SeedTextToImageExample) {
  auto r = parse(t2i(R"({"prompt":"A cinematic product photo","aspect_ratio":"1:1","resolution":"1K"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.model, "gpt-image-2-text-to-image");
  EXPECT_EQ(r->request.mode, core::Mode::kTextToImage);
  EXPECT_EQ(r->request.size, (core::Size{1024, 1024}));
  EXPECT_EQ(r->param,
            R"({"model":"gpt-image-2-text-to-image","input":{"prompt":"A cinematic product photo","aspect_ratio":"1:1","resolution":"1K"}})");
}

TEST(JobsParse, ParamIsTheOriginalRequestCompacted) {
  auto r = parse("{ \"model\" : \"gpt-image-2-text-to-image\",\n \"input\": {\"prompt\": \"x\"} }");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->param, R"({"model":"gpt-image-2-text-to-image","input":{"prompt":"x"}})");
}

TEST(JobsParse, DefaultsAreAutoAnd1K) {
  auto r = parse(t2i(R"({"prompt":"x"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.aspect_ratio, "auto");
  EXPECT_EQ(r->request.tier, core::Tier::k1K);
  EXPECT_EQ(r->request.size, (core::Size{1024, 1024}));
  auto four_k = parse(t2i(R"({"prompt":"x","aspect_ratio":"3:4","resolution":"4K"})"));
  ASSERT_TRUE(four_k);
  EXPECT_EQ(four_k->request.size, (core::Size{2480, 3312}));
}

TEST(JobsParse, ImageToImageWithEachAlias) {
  for (const char* field : {"input_urls", "image_urls", "image_input"}) {
    auto r = parse(i2i(std::string(R"({"prompt":"x",")") + field +
                       R"(":["https://cdn.example.com/input.png"]})"));
    ASSERT_TRUE(r) << field;
    ASSERT_EQ(r->request.input_urls.size(), 1u);
    EXPECT_EQ(r->request.input_urls[0], "https://cdn.example.com/input.png");
    EXPECT_EQ(r->request.mode, core::Mode::kImageToImage);
    // auto aspect: sized from the reference once it is fetched.
    EXPECT_EQ(r->request.size, (core::Size{0, 0}));
  }
}

TEST(JobsParse, ImageToImageExplicitRatio) {
  auto r = parse(i2i(R"({"prompt":"x","input_urls":["https://a.example/i.png"],"aspect_ratio":"16:9","resolution":"2K"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.size, (core::Size{2736, 1536}));
}

TEST(JobsParse, PassThroughFields) {
  auto r = parse(t2i(R"({"prompt":"x","quality":"high","output_format":"JPG"})"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->request.quality, "high");
  EXPECT_EQ(r->request.output_format, "jpeg");
}

TEST(JobsParse, PromptLimitCountsCharacters) {
  std::string cjk;
  for (int i = 0; i < 20000; ++i) {
    cjk += "字";  // 3 bytes each: 60000 bytes but 20000 characters
  }
  EXPECT_TRUE(parse(t2i(R"({"prompt":")" + cjk + "\"}")));
  expect_error(t2i(R"({"prompt":")" + std::string(20001, 'a') + "\"}"),
               ErrorCode::kValidationFailed, 422, "maximum is 20000");
}

TEST(JobsErrors, StructuralProblemsAre400) {
  expect_error("{not json", ErrorCode::kInvalidRequest, 400, "not valid JSON");
  expect_error("[1,2]", ErrorCode::kInvalidRequest, 400, "must be a JSON object");
  expect_error(R"({"input":{"prompt":"x"}})", ErrorCode::kInvalidRequest, 400,
               "model is required");
  expect_error(R"({"model":5,"input":{"prompt":"x"}})", ErrorCode::kInvalidRequest, 400,
               "model must be a string");
  expect_error(R"({"model":"gpt-image-2-text-to-image"})", ErrorCode::kInvalidRequest, 400,
               "input is required");
  expect_error(R"({"model":"gpt-image-2-text-to-image","input":"x"})",
               ErrorCode::kInvalidRequest, 400, "input must be an object");
  expect_error(t2i("{}"), ErrorCode::kInvalidRequest, 400, "input.prompt is required");
  expect_error(t2i(R"({"prompt":42})"), ErrorCode::kInvalidRequest, 400,
               "input.prompt must be a string");
  expect_error(t2i(R"({"prompt":"x","aspect_ratio":1})"), ErrorCode::kInvalidRequest, 400,
               "input.aspect_ratio must be a string");
  expect_error(t2i(R"({"prompt":"x","resolution":true})"), ErrorCode::kInvalidRequest, 400,
               "input.resolution must be a string");
  expect_error(i2i(R"({"prompt":"x"})"), ErrorCode::kInvalidRequest, 400,
               "input.input_urls is required");
  expect_error(i2i(R"({"prompt":"x","input_urls":"https://a/b.png"})"),
               ErrorCode::kInvalidRequest, 400, "must be an array");
  expect_error(i2i(R"({"prompt":"x","input_urls":[1]})"), ErrorCode::kInvalidRequest, 400,
               "must be an array of URL strings");
}

TEST(JobsErrors, RuleViolationsAre422) {
  expect_error(R"({"model":"gpt-image-2","input":{"prompt":"x"}})", ErrorCode::kModelNotFound,
               422, "model must be exactly");
  expect_error(R"({"model":"GPT-IMAGE-2-TEXT-TO-IMAGE","input":{"prompt":"x"}})",
               ErrorCode::kModelNotFound, 422, "model must be exactly");
  expect_error(t2i(R"({"prompt":"  "})"), ErrorCode::kValidationFailed, 422,
               "must not be empty");
  expect_error(t2i(R"({"prompt":"x","aspect_ratio":"7:5"})"), ErrorCode::kValidationFailed,
               422, "input.aspect_ratio must be one of");
  expect_error(t2i(R"({"prompt":"x","resolution":"8K"})"), ErrorCode::kValidationFailed, 422,
               "input.resolution must be one of 1K, 2K, 4K");
  expect_error(t2i(R"({"prompt":"x","quality":"ultra"})"), ErrorCode::kValidationFailed, 422,
               "input.quality must be one of");
  expect_error(t2i(R"({"prompt":"x","output_format":"gif"})"), ErrorCode::kValidationFailed,
               422, "input.output_format must be one of");
  expect_error(t2i(R"({"prompt":"x","input_urls":["https://a.example/i.png"]})"),
               ErrorCode::kValidationFailed, 422, "not supported by gpt-image-2-text-to-image");
  expect_error(i2i(R"({"prompt":"x","input_urls":[]})"), ErrorCode::kValidationFailed, 422,
               "at least one image URL");
  expect_error(i2i(R"({"prompt":"x","input_urls":["http://a.example/i.png"]})"),
               ErrorCode::kValidationFailed, 422, "input.input_urls[0] must use https://");
  expect_error(i2i(R"({"prompt":"x","image_urls":["data:image/png;base64,AAAA"]})"),
               ErrorCode::kValidationFailed, 422, "data: URLs are not supported");
  expect_error(i2i(R"({"prompt":"x","input_urls":["not a url"]})"),
               ErrorCode::kValidationFailed, 422, "is not a valid URL");
  std::string many = "[";
  for (int i = 0; i < 17; ++i) {
    many += std::string(i ? "," : "") + "\"https://a.example/" + std::to_string(i) + ".png\"";
  }
  expect_error(i2i(R"({"prompt":"x","input_urls":)" + many + "]}"),
               ErrorCode::kValidationFailed, 422, "at most 16");
}

TEST(JobsErrors, SeedCombinationRulesForImageToImage) {
  const std::string url = R"("input_urls":["https://a.example/i.png"])";
  expect_error(i2i(R"({"prompt":"x",)" + url + R"(,"resolution":"2K"})"),
               ErrorCode::kValidationFailed, 422, "only 1K");
  expect_error(i2i(R"({"prompt":"x",)" + url + R"(,"aspect_ratio":"auto","resolution":"4K"})"),
               ErrorCode::kValidationFailed, 422, "only 1K");
  expect_error(i2i(R"({"prompt":"x",)" + url + R"(,"aspect_ratio":"1:1","resolution":"4K"})"),
               ErrorCode::kValidationFailed, 422, "4K is not supported with aspect_ratio 1:1");
  EXPECT_TRUE(parse(i2i(R"({"prompt":"x",)" + url + R"(,"aspect_ratio":"1:1","resolution":"2K"})")));
  EXPECT_TRUE(parse(i2i(R"({"prompt":"x",)" + url + R"(,"aspect_ratio":"16:9","resolution":"4K"})")));
  // Text-to-image has neither restriction.
  EXPECT_TRUE(parse(t2i(R"({"prompt":"x","aspect_ratio":"1:1","resolution":"4K"})")));
  EXPECT_TRUE(parse(t2i(R"({"prompt":"x","resolution":"2K"})")));
}

TEST(JobsRender, CreatedEnvelope) {
  auto v = json::parse(render_created("3ebe82c2-3abc-4015-9608-901baca54948")).as_object();
  EXPECT_EQ(v.at("code").as_int64(), 200);
  EXPECT_EQ(v.at("msg").as_string(), "success");
  EXPECT_EQ(v.at("data").at("taskId").as_string(), "3ebe82c2-3abc-4015-9608-901baca54948");
}

core::Task sample_task() {
  core::Task t;
  t.id = "3ebe82c2-3abc-4015-9608-901baca54948";
  t.request.model = "gpt-image-2-text-to-image";
  t.param = R"({"model":"gpt-image-2-text-to-image","input":{"prompt":"x"}})";
  t.created_ms = 1777467208141;
  return t;
}

// createTask's answer, written by hand: the text boost::json made of it.
TEST(JobsRender, CreatedTextIsWhatBoostJsonWrites) {
  for (std::string_view id : {"3ebe82c2-3abc-4015-9608-901baca54948", "a\"b\\c\n", ""}) {
    json::object o{{"code", 200}, {"msg", "success"}, {"data", json::object{{"taskId", id}}}};
    EXPECT_EQ(render_created(id), json::serialize(o)) << id;
  }
}

// recordInfo's answer is written by hand; it must be, byte for byte, what boost::json made of
// the same members before (clients may compare answers as text), in every state.
TEST(JobsRender, RecordTextIsWhatBoostJsonWrites) {
  auto old_render = [](const core::Task& task, const std::vector<std::string>& result_urls) {
    json::object data;
    data["taskId"] = task.id;
    data["model"] = task.request.model;
    const bool waiting = !core::is_terminal(task.state);
    data["state"] = waiting ? "waiting" : task.state == core::TaskState::kSucceeded ? "success"
                                                                                    : "fail";
    data["param"] = task.param;
    data["resultJson"] = nullptr;
    if (task.state == core::TaskState::kSucceeded) {
      json::array urls;
      for (const auto& u : result_urls) {
        urls.emplace_back(u);
      }
      data["resultJson"] = json::serialize(json::object{{"resultUrls", std::move(urls)}});
    }
    const bool failed =
        task.state == core::TaskState::kFailed || task.state == core::TaskState::kCancelled;
    data["failCode"] =
        failed ? json::value(core::fail::public_code(core::Dialect::kJobs, task.fail_code))
               : json::value(nullptr);
    data["failMsg"] = failed ? json::value(task.fail_msg) : json::value(nullptr);
    if (core::is_terminal(task.state) && task.completed_ms > 0) {
      data["costTime"] = task.completed_ms - task.created_ms;
      data["completeTime"] = task.completed_ms;
    } else {
      data["costTime"] = nullptr;
      data["completeTime"] = nullptr;
    }
    data["createTime"] = task.created_ms;
    json::object o{{"code", 200}, {"msg", "success"}, {"data", std::move(data)}};
    return json::serialize(o);
  };
  core::Task t = sample_task();
  t.param = "{\"prompt\":\"quotes \\\" and \\\\, a tab\\t\"}\n\x01 ✓";
  t.fail_code = "upstream_timeout";
  t.fail_msg = "the \"provider\" said:\n\tno";
  const std::vector<std::string> urls = {"https://cdn.example/1.png?sig=a&b=\"c\"",
                                         "https://cdn.example/2.png"};
  for (auto state : {core::TaskState::kQueued, core::TaskState::kRunning,
                     core::TaskState::kSucceeded, core::TaskState::kFailed,
                     core::TaskState::kCancelled}) {
    for (std::int64_t completed : {std::int64_t{0}, t.created_ms + 4321}) {
      t.state = state;
      t.completed_ms = completed;
      EXPECT_EQ(render_record(t, urls), old_render(t, urls)) << core::to_string(state);
      EXPECT_EQ(render_record(t, {}), old_render(t, {})) << core::to_string(state);
    }
  }
}

TEST(JobsRender, WaitingRecordHasNullsAndParamAsString) {
  core::Task t = sample_task();
  for (auto state : {core::TaskState::kQueued, core::TaskState::kRunning}) {
    t.state = state;
    auto v = json::parse(render_record(t, {})).as_object();
    EXPECT_EQ(v.at("code").as_int64(), 200);
    const auto& d = v.at("data").as_object();
    EXPECT_EQ(d.at("taskId").as_string(), t.id);
    EXPECT_EQ(d.at("model").as_string(), "gpt-image-2-text-to-image");
    EXPECT_EQ(d.at("state").as_string(), "waiting");
    EXPECT_EQ(d.at("param").as_string(), t.param);
    EXPECT_TRUE(d.at("resultJson").is_null());
    EXPECT_TRUE(d.at("failCode").is_null());
    EXPECT_TRUE(d.at("failMsg").is_null());
    EXPECT_TRUE(d.at("costTime").is_null());
    EXPECT_TRUE(d.at("completeTime").is_null());
    EXPECT_EQ(d.at("createTime").as_int64(), 1777467208141);
    EXPECT_EQ(d.size(), 10u);
  }
}

TEST(JobsRender, SuccessRecordLikeTheSeed) {
  core::Task t = sample_task();
  t.state = core::TaskState::kSucceeded;
  t.completed_ms = 1777467267840;
  auto v = json::parse(render_record(t, {"https://cdn.example/1.png"})).as_object();
  const auto& d = v.at("data").as_object();
  EXPECT_EQ(d.at("state").as_string(), "success");
  EXPECT_EQ(d.at("resultJson").as_string(), R"({"resultUrls":["https://cdn.example/1.png"]})");
  EXPECT_EQ(d.at("costTime").as_int64(), 59699);
  EXPECT_EQ(d.at("completeTime").as_int64(), 1777467267840);
  EXPECT_TRUE(d.at("failCode").is_null());
}

TEST(JobsRender, FailedRecordCarriesCodeAndMessage) {
  core::Task t = sample_task();
  t.state = core::TaskState::kFailed;
  t.completed_ms = t.created_ms + 5;
  t.fail_code = "input_refused";
  t.fail_msg = "input_urls[0]: refused";
  auto d = json::parse(render_record(t, {})).as_object().at("data").as_object();
  EXPECT_EQ(d.at("state").as_string(), "fail");
  EXPECT_EQ(d.at("failCode").as_string(), "input_refused");
  EXPECT_EQ(d.at("failMsg").as_string(), "input_urls[0]: refused");
  EXPECT_TRUE(d.at("resultJson").is_null());
  EXPECT_EQ(d.at("costTime").as_int64(), 5);
}

// Upstream failures keep their canonical code; a moderation refusal reads as a content policy
// violation.
TEST(JobsRender, UpstreamFailCodes) {
  core::Task t = sample_task();
  t.state = core::TaskState::kFailed;
  t.fail_code = "moderation_blocked";
  auto d = json::parse(render_record(t, {})).as_object().at("data").as_object();
  EXPECT_EQ(d.at("failCode").as_string(), "content_policy_violation");
  t.fail_code = "upstream_unknown_outcome";
  d = json::parse(render_record(t, {})).as_object().at("data").as_object();
  EXPECT_EQ(d.at("failCode").as_string(), "upstream_unknown_outcome");
}

TEST(JobsRender, ErrorStatusEqualsBodyCode) {
  for (auto code : {ErrorCode::kInvalidRequest, ErrorCode::kUnauthorized, ErrorCode::kNotFound,
                    ErrorCode::kValidationFailed, ErrorCode::kInternal}) {
    core::Error e{code, "m", ""};
    auto v = json::parse(render_error(e)).as_object();
    EXPECT_EQ(v.at("code").as_int64(), static_cast<std::int64_t>(error_status(e)));
  }
}

}  // namespace
}  // namespace ig::api::jobs
