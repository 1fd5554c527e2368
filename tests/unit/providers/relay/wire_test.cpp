#include "providers/relay/wire.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace ig::providers::relay {
namespace {

namespace json = boost::json;

core::GenerationRequest request(core::Size size, core::Tier tier = core::Tier::k1K) {
  core::GenerationRequest r;
  r.prompt = "a red fox in snow";
  r.size = size;
  r.tier = tier;
  return r;
}

ApiCall call_for(Dialect d, const core::GenerationRequest& r, std::vector<std::string> urls = {},
                 std::string mask = {}) {
  return create_call(d, relay_params(d, r, std::move(urls), std::move(mask), "gpt-image-2"));
}

// --- create bodies, exactly as each document shapes them

TEST(RelayWireCreate, JobsTextToImagePassesQualityAndFormatThrough) {
  auto r = request({2736, 1536}, core::Tier::k2K);
  r.quality = "high";
  r.output_format = "webp";
  const ApiCall c = call_for(Dialect::kJobs, r);
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.path, "/api/v1/jobs/createTask");
  EXPECT_EQ(json::parse(c.body), json::parse(R"({"model":"gpt-image-2-text-to-image",
      "input":{"prompt":"a red fox in snow","aspect_ratio":"16:9","resolution":"2K",
               "quality":"high","output_format":"webp"}})"));
}

TEST(RelayWireCreate, JobsImageToImageHasNo4KSquareAndNoPassThrough) {
  auto r = request({2880, 2880}, core::Tier::k4K);
  r.quality = "high";
  const ApiCall c = call_for(Dialect::kJobs, r, {"https://cdn.example.com/in.png"});
  EXPECT_EQ(json::parse(c.body), json::parse(R"({"model":"gpt-image-2-image-to-image",
      "input":{"prompt":"a red fox in snow","input_urls":["https://cdn.example.com/in.png"],
               "aspect_ratio":"1:1","resolution":"2K"}})"));
}

TEST(RelayWireCreate, JobsTakesTheNearestRatioItLists) {
  // 3:1 is not in seed 002's list: 21:9 is the nearest.
  const ApiCall c = call_for(Dialect::kJobs, request({1776, 592}));
  EXPECT_EQ(json::parse(c.body).at("input").at("aspect_ratio"), "21:9");
}

TEST(RelayWireCreate, TasksBody) {
  const ApiCall c = call_for(Dialect::kTasks, request({1776, 592}, core::Tier::k1K),
                             {"https://a.example/1.png", "https://a.example/2.png"});
  EXPECT_EQ(c.path, "/v1/tasks");
  EXPECT_EQ(json::parse(c.body), json::parse(R"({"model":"gpt-image-2-image-to-image",
      "input":{"prompt":"a red fox in snow",
               "input_urls":["https://a.example/1.png","https://a.example/2.png"],
               "aspect_ratio":"3:1","resolution":"1K"}})"));
}

TEST(RelayWireCreate, GenerationsBodyWithLowerCaseTierAndNsfwSwitch) {
  auto r = request({1024, 1024});
  r.safety_checker = false;
  const ApiCall c = call_for(Dialect::kGenerations, r, {"https://a.example/1.png"});
  EXPECT_EQ(c.path, "/v1/images/generations");
  EXPECT_EQ(json::parse(c.body), json::parse(R"({"model":"gpt-image-2",
      "input":{"prompt":"a red fox in snow","image_urls":["https://a.example/1.png"],
               "aspect_ratio":"1:1","resolution":"1k","nsfw_checker":false}})"));
  // The default (checker on) is the document's default: not sent.
  EXPECT_FALSE(json::parse(call_for(Dialect::kGenerations, request({1024, 1024})).body)
                   .at("input")
                   .as_object()
                   .contains("nsfw_checker"));
}

TEST(RelayWireCreate, UnifiedSendsTheExactSizeNMaskAndQuality) {
  auto r = request({1536, 1024});
  r.n = 3;
  r.quality = "medium";
  const ApiCall c =
      call_for(Dialect::kUnified, r, {"https://a.example/1.png"}, "https://a.example/mask.png");
  EXPECT_EQ(c.path, "/v1/images/generations");
  EXPECT_EQ(json::parse(c.body), json::parse(R"({"model":"gpt-image-2",
      "prompt":"a red fox in snow","image_urls":["https://a.example/1.png"],
      "mask_url":"https://a.example/mask.png","size":"1536x1024","quality":"medium","n":3})"));
}

TEST(RelayWireCreate, UnifiedFallsBackToTheRatioWhenTheSizeBreaksItsRules) {
  // 1881x836 (seed 004's 1K 3:1 cell) is not a multiple of 16: the nearest ratio and the tier.
  const ApiCall c = call_for(Dialect::kUnified, request({1881, 836}));
  EXPECT_EQ(json::parse(c.body), json::parse(R"({"model":"gpt-image-2",
      "prompt":"a red fox in snow","size":"21:9","resolution":"1K","n":1})"));
}

TEST(RelayWireCreate, OnlyUnifiedCarriesNAndMask) {
  auto r = request({1024, 1024});
  r.n = 2;
  for (Dialect d : {Dialect::kJobs, Dialect::kTasks, Dialect::kGenerations}) {
    const json::value body =
        json::parse(call_for(d, r, {"https://a.example/1.png"}, "https://a.example/m.png").body);
    EXPECT_EQ(body.as_object().size(), 2u) << to_string(d);  // model and input
    EXPECT_FALSE(body.at("input").as_object().contains("n")) << to_string(d);
    EXPECT_FALSE(body.at("input").as_object().contains("mask_url")) << to_string(d);
  }
}

TEST(RelayWireCreate, ModelBaseIsConfigurable) {
  CreateParams p;
  p.model = "gpt-image-2-pro";
  p.prompt = "x";
  EXPECT_EQ(json::parse(create_call(Dialect::kTasks, p).body).at("model"),
            "gpt-image-2-pro-text-to-image");
  EXPECT_EQ(json::parse(create_call(Dialect::kUnified, p).body).at("model"), "gpt-image-2-pro");
}

TEST(RelayWireCalls, StatusPathsAndJoin) {
  EXPECT_EQ(status_call(Dialect::kJobs, "a b").path, "/api/v1/jobs/recordInfo?taskId=a%20b");
  EXPECT_EQ(status_call(Dialect::kTasks, "tk-1").path, "/v1/tasks/tk-1");
  EXPECT_EQ(status_call(Dialect::kGenerations, "x/y").path, "/v1/tasks/x%2Fy");
  EXPECT_EQ(status_call(Dialect::kUnified, "task-unified-1-a").path, "/v1/tasks/task-unified-1-a");
  EXPECT_EQ(join_url("https://api.kie.ai//", "/v1/tasks"), "https://api.kie.ai/v1/tasks");
  EXPECT_EQ(parse_dialect("unified"), Dialect::kUnified);
  EXPECT_FALSE(parse_dialect("openai"));
}

// --- answers

TEST(RelayWireRead, CreatedIdsOfEveryDialect) {
  EXPECT_EQ(*read_created(Dialect::kJobs, 200,
                          R"({"code":200,"msg":"success","data":{"taskId":"task_1"}})"),
            "task_1");
  EXPECT_EQ(*read_created(Dialect::kTasks, 200,
                          R"({"code":200,"message":"success","data":{"taskId":"tk-hiapi-1"}})"),
            "tk-hiapi-1");
  EXPECT_EQ(*read_created(Dialect::kGenerations, 200,
                          R"({"code":200,"msg":"success","data":{"taskId":"397ce9f2"}})"),
            "397ce9f2");
  EXPECT_EQ(*read_created(Dialect::kUnified, 200,
                          R"({"created":1757156493,"id":"task-unified-1757156493-imcg5zqt",
                              "object":"image.generation.task","status":"pending"})"),
            "task-unified-1757156493-imcg5zqt");
}

TEST(RelayWireRead, ErrorsKeepStatusCodeAndMessageApart) {
  auto tasks = read_created(Dialect::kTasks, 400, R"({"code":400,"message":"invalid request",
      "data":null,"error_code":"INVALID_REQUEST"})");
  ASSERT_FALSE(tasks);
  EXPECT_EQ(tasks.error().status, 400u);
  EXPECT_EQ(tasks.error().code, "INVALID_REQUEST");
  EXPECT_EQ(tasks.error().detail, "invalid request");
  EXPECT_EQ(tasks.error().message, "HTTP 400: invalid request (INVALID_REQUEST)");

  // An error code inside a 200: the envelope's code is the status.
  auto jobs = read_created(Dialect::kJobs, 200, R"({"code":402,"msg":"Insufficient credits"})");
  ASSERT_FALSE(jobs);
  EXPECT_EQ(jobs.error().status, 402u);
  EXPECT_EQ(jobs.error().detail, "Insufficient credits");

  auto unified =
      read_created(Dialect::kUnified, 422, R"({"error":{"code":"content_policy_violation",
      "message":"refused","type":"invalid_request_error"}})");
  ASSERT_FALSE(unified);
  EXPECT_EQ(unified.error().code, "content_policy_violation");
  EXPECT_EQ(unified.error().detail, "refused");

  auto idless = read_created(Dialect::kGenerations, 200, R"({"code":200,"data":{}})");
  ASSERT_FALSE(idless);
  EXPECT_EQ(idless.error().status, 0u);

  auto html = read_error(Dialect::kJobs, 502, "<html>Bad Gateway</html>");
  EXPECT_EQ(html.message, "HTTP 502: <html>Bad Gateway</html>");
  EXPECT_TRUE(html.code.empty());
}

TEST(RelayWireRead, FailedTasksKeepTheirCodeAndMessage) {
  auto jobs = read_status(Dialect::kJobs, 200, R"({"code":200,"msg":"success","data":{
      "taskId":"t","state":"fail","failCode":"content_policy_violation","failMsg":"no"}})");
  ASSERT_TRUE(jobs);
  EXPECT_EQ(jobs->phase, Phase::kFailed);
  EXPECT_EQ(jobs->error_code, "content_policy_violation");
  EXPECT_EQ(jobs->error_message, "no");
  EXPECT_EQ(jobs->error, "no (content_policy_violation)");

  auto numeric = read_status(Dialect::kJobs, 200, R"({"code":200,"data":{
      "state":"fail","failCode":501,"failMsg":"generation failed"}})");
  ASSERT_TRUE(numeric);
  EXPECT_EQ(numeric->error_code, "501");

  auto tasks = read_status(Dialect::kTasks, 200, R"({"code":200,"data":{"status":"fail",
      "error":{"code":"generation_failed","message":"boom"}}})");
  ASSERT_TRUE(tasks);
  EXPECT_EQ(tasks->error_code, "generation_failed");
  EXPECT_EQ(tasks->error_message, "boom");

  auto unified = read_status(Dialect::kUnified, 200, R"({"id":"t","status":"failed",
      "error":{"code":"request_cancelled","message":"cancelled","type":"task_error"}})");
  ASSERT_TRUE(unified);
  EXPECT_EQ(unified->phase, Phase::kFailed);
  EXPECT_EQ(unified->error_code, "request_cancelled");
}

TEST(RelayWireRead, SucceededTasksListTheirUrls) {
  auto jobs = read_status(Dialect::kJobs, 200, R"({"code":200,"data":{"state":"success",
      "resultJson":"{\"resultUrls\":[\"https://r.example/1.png\"]}"}})");
  ASSERT_TRUE(jobs);
  EXPECT_EQ(jobs->urls, std::vector<std::string>{"https://r.example/1.png"});
  auto generations =
      read_status(Dialect::kGenerations, 200,
                  R"({"id":"g","status":"completed","output":{"urls":["/f/1.png"]}})");
  ASSERT_TRUE(generations);
  EXPECT_EQ(generations->phase, Phase::kSucceeded);
  EXPECT_EQ(generations->urls, std::vector<std::string>{"/f/1.png"});
}

TEST(RelayWireRead, ModerationCodes) {
  for (std::string_view code : {"content_policy_violation", "moderation_blocked",
                                "SENSITIVE_CONTENT", "nsfw_detected", "safety_violation"}) {
    EXPECT_TRUE(is_moderation_code(code)) << code;
  }
  for (std::string_view code : {"", "upstream_error", "generation_failed", "501", "timeout"}) {
    EXPECT_FALSE(is_moderation_code(code)) << code;
  }
}

}  // namespace
}  // namespace ig::providers::relay
