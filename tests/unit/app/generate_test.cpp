#include "app/generate.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace ig::app {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

GenerateOptions options(Dialect d) {
  GenerateOptions o;
  o.server = "http://127.0.0.1:8080";
  o.key = "sk-test";
  o.dialect = d;
  o.prompt = "a red fox in snow";
  return o;
}

json::value body_of(const ApiCall& c) {
  return json::parse(c.body);
}

// --- usage

TEST(GenerateUsage, DialectNamesRoundTrip) {
  for (Dialect d : {Dialect::kJobs, Dialect::kTasks, Dialect::kGenerations, Dialect::kUnified}) {
    EXPECT_EQ(parse_dialect(to_string(d)), d);
  }
  EXPECT_FALSE(parse_dialect("openai"));
  EXPECT_FALSE(parse_dialect("Jobs"));
}

TEST(GenerateUsage, AcceptsAPlainRequestInEveryDialect) {
  for (Dialect d : {Dialect::kJobs, Dialect::kTasks, Dialect::kGenerations, Dialect::kUnified}) {
    EXPECT_EQ(usage_error(options(d)), std::nullopt) << to_string(d);
  }
}

TEST(GenerateUsage, MaskOnlyInUnifiedAndOnlyWithAReference) {
  auto o = options(Dialect::kJobs);
  o.image_urls = {"https://example.com/a.png"};
  o.mask_url = "https://example.com/mask.png";
  ASSERT_TRUE(usage_error(o));
  EXPECT_NE(usage_error(o)->find("--mask is only supported by the unified dialect"),
            std::string::npos);
  o.dialect = Dialect::kUnified;
  EXPECT_EQ(usage_error(o), std::nullopt);
  o.image_urls.clear();
  ASSERT_TRUE(usage_error(o));
  EXPECT_NE(usage_error(o)->find("-i"), std::string::npos);
}

TEST(GenerateUsage, CountOnlyInUnifiedUnlessOne) {
  auto o = options(Dialect::kTasks);
  o.n = 1;
  EXPECT_EQ(usage_error(o), std::nullopt);
  o.n = 2;
  ASSERT_TRUE(usage_error(o));
  EXPECT_NE(usage_error(o)->find("only supported by the unified dialect"), std::string::npos);
  o.dialect = Dialect::kUnified;
  EXPECT_EQ(usage_error(o), std::nullopt);
  o.n = 11;
  EXPECT_TRUE(usage_error(o));
  o.n = 0;
  EXPECT_TRUE(usage_error(o));
}

TEST(GenerateUsage, RefusesBadServerBlankPromptAndEmptyKey) {
  auto o = options(Dialect::kJobs);
  o.server = "127.0.0.1:8080";
  EXPECT_TRUE(usage_error(o));
  o.server = "ftp://example.com";
  EXPECT_TRUE(usage_error(o));
  o = options(Dialect::kJobs);
  o.prompt = "  \n";
  EXPECT_TRUE(usage_error(o));
  o = options(Dialect::kJobs);
  o.key.clear();
  EXPECT_TRUE(usage_error(o));
}

// --- request builders

TEST(GenerateRequest, JobsTextToImageIsTheSeedShape) {
  auto o = options(Dialect::kJobs);
  o.size = "1:1";
  o.resolution = "1k";
  const auto c = create_call(o);
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.path, "/api/v1/jobs/createTask");
  EXPECT_EQ(body_of(c), json::parse(R"({"model":"gpt-image-2-text-to-image",
      "input":{"prompt":"a red fox in snow","aspect_ratio":"1:1","resolution":"1K"}})"));
}

TEST(GenerateRequest, JobsImageToImageSendsInputUrlsAndOmitsDefaults) {
  auto o = options(Dialect::kJobs);
  o.image_urls = {"https://cdn.example.com/a.png", "https://cdn.example.com/b.png"};
  EXPECT_EQ(body_of(create_call(o)), json::parse(R"({"model":"gpt-image-2-image-to-image",
      "input":{"prompt":"a red fox in snow",
               "input_urls":["https://cdn.example.com/a.png","https://cdn.example.com/b.png"]}})"));
}

TEST(GenerateRequest, TasksUsesV1TasksWithTheSameInputObject) {
  auto o = options(Dialect::kTasks);
  o.image_urls = {"https://example.com/reference.png"};
  o.size = "4:5";
  o.resolution = "2K";
  const auto c = create_call(o);
  EXPECT_EQ(c.path, "/v1/tasks");
  EXPECT_EQ(body_of(c), json::parse(R"({"model":"gpt-image-2-image-to-image",
      "input":{"prompt":"a red fox in snow","input_urls":["https://example.com/reference.png"],
               "aspect_ratio":"4:5","resolution":"2K"}})"));
  o.image_urls.clear();
  EXPECT_EQ(body_of(create_call(o)).at("model"), "gpt-image-2-text-to-image");
}

TEST(GenerateRequest, GenerationsWrapsInputWithLowerCaseResolution) {
  auto o = options(Dialect::kGenerations);
  o.image_urls = {"https://example.com/source.png"};
  o.size = "16:9";
  o.resolution = "4K";
  const auto c = create_call(o);
  EXPECT_EQ(c.path, "/v1/images/generations");
  EXPECT_EQ(body_of(c), json::parse(R"({"model":"gpt-image-2",
      "input":{"prompt":"a red fox in snow","image_urls":["https://example.com/source.png"],
               "aspect_ratio":"16:9","resolution":"4k"}})"));
}

TEST(GenerateRequest, UnifiedIsFlatWithMaskSizeAndCount) {
  auto o = options(Dialect::kUnified);
  o.image_urls = {"https://example.com/image1.png"};
  o.mask_url = "https://example.com/mask.png";
  o.size = "1536x1024";
  o.resolution = "2k";
  o.n = 3;
  const auto c = create_call(o);
  EXPECT_EQ(c.path, "/v1/images/generations");
  EXPECT_EQ(body_of(c), json::parse(R"({"model":"gpt-image-2","prompt":"a red fox in snow",
      "image_urls":["https://example.com/image1.png"],"mask_url":"https://example.com/mask.png",
      "size":"1536x1024","resolution":"2K","n":3})"));
  EXPECT_EQ(body_of(create_call(options(Dialect::kUnified))),
            json::parse(R"({"model":"gpt-image-2","prompt":"a red fox in snow"})"));
}

TEST(GenerateRequest, StatusCallsEncodeTheId) {
  EXPECT_EQ(status_call(Dialect::kJobs, "3ebe82c2-3abc").path,
            "/api/v1/jobs/recordInfo?taskId=3ebe82c2-3abc");
  EXPECT_EQ(status_call(Dialect::kJobs, "a b&c").path, "/api/v1/jobs/recordInfo?taskId=a%20b%26c");
  EXPECT_EQ(status_call(Dialect::kUnified, "task-unified-1757156493-imcg5zqt").path,
            "/v1/tasks/task-unified-1757156493-imcg5zqt");
  EXPECT_EQ(status_call(Dialect::kTasks, "x/../y").path, "/v1/tasks/x%2F..%2Fy");
  EXPECT_EQ(status_call(Dialect::kGenerations, "id").method, "GET");
  EXPECT_TRUE(status_call(Dialect::kGenerations, "id").body.empty());
}

TEST(GenerateRequest, LongPollCallsAddTheWaitToTheStatusCall) {
  EXPECT_EQ(long_poll_call(Dialect::kJobs, "a b", std::chrono::seconds(30)).path,
            "/api/v1/jobs/recordInfo?taskId=a%20b&wait=30");
  EXPECT_EQ(long_poll_call(Dialect::kTasks, "tk-hiapi-1", std::chrono::seconds(7)).path,
            "/v1/tasks/tk-hiapi-1?wait=7");
  EXPECT_EQ(long_poll_call(Dialect::kUnified, "t", std::chrono::seconds(1)).method, "GET");
}

TEST(GeneratePolling, LongPollOnlyWhereTheServerSaysItMayAndWithinTheTimeLeft) {
  using std::chrono::seconds;
  EXPECT_EQ(long_poll_wait("", milliseconds(600'000)), seconds(0));  // a provider: poll
  EXPECT_EQ(long_poll_wait("sixty", milliseconds(600'000)), seconds(0));
  EXPECT_EQ(long_poll_wait("60x", milliseconds(600'000)), seconds(0));
  EXPECT_EQ(long_poll_wait("0", milliseconds(600'000)), seconds(0));
  EXPECT_EQ(long_poll_wait("60", milliseconds(600'000)), seconds(30));
  EXPECT_EQ(long_poll_wait("10", milliseconds(600'000)), seconds(10));
  EXPECT_EQ(long_poll_wait("60", milliseconds(12'500)), seconds(7));  // 5 s left for the answer
  EXPECT_EQ(long_poll_wait("60", milliseconds(4'000)), seconds(0));
}

TEST(GenerateRequest, JoinUrlDropsTrailingSlashesAndKeepsABasePath) {
  EXPECT_EQ(join_url("http://h:1/", "/v1/tasks"), "http://h:1/v1/tasks");
  EXPECT_EQ(join_url("https://api.example.com/proxy//", "/v1/tasks"),
            "https://api.example.com/proxy/v1/tasks");
}

// --- create answers (the seeds' examples)

TEST(GenerateCreated, JobsSeedAnswer) {
  auto id = read_created(Dialect::kJobs, 200,
                         R"({"code":200,"msg":"success",
                             "data":{"taskId":"3ebe82c2-3abc-4015-9608-901baca54948"}})");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "3ebe82c2-3abc-4015-9608-901baca54948");
}

TEST(GenerateCreated, JobsErrorEnvelope) {
  auto id = read_created(Dialect::kJobs, 422,
                         R"({"code":422,"msg":"input.aspect_ratio must be one of auto, 1:1",
                             "data":null})");
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().message, "HTTP 422: input.aspect_ratio must be one of auto, 1:1");
}

TEST(GenerateCreated, AnErrorCodeInsideA200IsAFailure) {
  auto id =
      read_created(Dialect::kJobs, 200, R"({"code":402,"msg":"Insufficient credits","data":null})");
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().message, "code 402: Insufficient credits");
}

TEST(GenerateCreated, TasksAnswerAndErrorEnvelope) {
  auto id = read_created(Dialect::kTasks, 200,
                         R"({"code":200,"message":"success",
                             "data":{"taskId":"tk-hiapi-01hx0000000000000000000000"}})");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "tk-hiapi-01hx0000000000000000000000");
  auto bad = read_created(Dialect::kTasks, 400,
                          R"({"code":400,"message":"invalid request","data":null,
                              "error_code":"INVALID_REQUEST"})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "HTTP 400: invalid request (INVALID_REQUEST)");
}

TEST(GenerateCreated, GenerationsAnswerAndErrorEnvelope) {
  auto id = read_created(Dialect::kGenerations, 200,
                         R"({"code":200,"msg":"success",
                             "data":{"taskId":"397ce9f2-c04e-4244-ac33-3af19a7cc297"}})");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "397ce9f2-c04e-4244-ac33-3af19a7cc297");
  auto bad = read_created(Dialect::kGenerations, 402, R"({"error":{
      "code":"insufficient_credits","message":"Your credit balance is too low. Please top up.",
      "type":"billing_error"}})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "HTTP 402: Your credit balance is too low. Please top up. (insufficient_credits)");
}

TEST(GenerateCreated, UnifiedTaskObjectAndErrorEnvelope) {
  auto id = read_created(Dialect::kUnified, 200, R"({"created":1757156493,
      "id":"task-unified-1757156493-imcg5zqt","model":"gpt-image-2",
      "object":"image.generation.task","progress":0,"status":"pending","type":"image",
      "task_info":{"can_cancel":true,"estimated_time":100},
      "usage":{"billing_rule":"per_call","credits_reserved":2.5,"user_group":"default"}})");
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(*id, "task-unified-1757156493-imcg5zqt");
  auto bad = read_created(Dialect::kUnified, 401, R"({"error":{"code":"unauthorized",
      "message":"Invalid API key","type":"authentication_error","param":null}})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "HTTP 401: Invalid API key (unauthorized)");
}

TEST(GenerateCreated, NonJsonAndIdlessAnswers) {
  auto proxy = read_created(Dialect::kUnified, 502, "<html>Bad Gateway</html>");
  ASSERT_FALSE(proxy);
  EXPECT_EQ(proxy.error().message, "HTTP 502: <html>Bad Gateway</html>");
  EXPECT_EQ(read_created(Dialect::kJobs, 503, "").error().message, "HTTP 503");
  auto garbage = read_created(Dialect::kJobs, 200, "ok");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("not a JSON object"), std::string::npos);
  auto idless = read_created(Dialect::kJobs, 200, R"({"code":200,"msg":"success","data":{}})");
  ASSERT_FALSE(idless);
  EXPECT_NE(idless.error().message.find("no task id"), std::string::npos);
}

TEST(GenerateCreated, ErrorMessageFallsBackToAnyKnownEnvelope) {
  // A jobs client talking to something that answers in another envelope still shows the text.
  EXPECT_EQ(error_message(Dialect::kJobs, 401, R"({"error":{"message":"bad key"}})"),
            "HTTP 401: bad key");
  EXPECT_EQ(error_message(Dialect::kUnified, 404, R"({"code":404,"message":"not found"})"),
            "HTTP 404: not found");
}

// --- status answers

TEST(GenerateStatus, JobsSeedWaiting) {
  auto s = read_status(Dialect::kJobs, 200, R"({"code":200,"msg":"success","data":{
      "taskId":"task_xxxxxxxxxxxxx","model":"gpt-image-2-text-to-image","state":"waiting",
      "param":"{\"model\":\"gpt-image-2-text-to-image\",\"input\":{\"prompt\":\"A cinematic\"}}",
      "resultJson":null,"failCode":null,"failMsg":null,"costTime":null,"completeTime":null,
      "createTime":1757584164490}})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->state, "waiting");
  EXPECT_EQ(s->phase, Phase::kQueued);
  EXPECT_FALSE(s->progress);
  EXPECT_TRUE(s->urls.empty());
}

TEST(GenerateStatus, JobsSeedSuccessReadsTheResultJsonString) {
  auto s = read_status(Dialect::kJobs, 200,
                       R"({"code":200,"msg":"success","data":{
      "taskId":"3ebe82c2-3abc-4015-9608-901baca54948","model":"gpt-image-2-text-to-image",
      "state":"success","param":"{}",
      "resultJson":"{\"resultUrls\":[\"https://cdn.aigptimage.com/generation/image/)"
                       R"(3ebe82c2-3abc-4015-9608-901baca54948/1.png\"]}",
      "failCode":null,"failMsg":null,"costTime":59699,"completeTime":1777467267840,
      "createTime":1777467208141}})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->phase, Phase::kSucceeded);
  ASSERT_EQ(s->urls.size(), 1u);
  EXPECT_EQ(
      s->urls[0],
      "https://cdn.aigptimage.com/generation/image/3ebe82c2-3abc-4015-9608-901baca54948/1.png");
}

TEST(GenerateStatus, JobsFailCarriesCodeAndMessage) {
  auto s = read_status(Dialect::kJobs, 200, R"j({"code":200,"msg":"success","data":{
      "taskId":"t","state":"fail","resultJson":null,"failCode":"generation_failed",
      "failMsg":"the sandbox provider failed (simulated)"}})j");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->phase, Phase::kFailed);
  EXPECT_EQ(s->error, "the sandbox provider failed (simulated) (generation_failed)");
}

TEST(GenerateStatus, JobsIntermediateStatesKeepPolling) {
  auto generating = read_status(Dialect::kJobs, 200,
                                R"({"code":200,"msg":"success","data":{"state":"generating"}})");
  ASSERT_TRUE(generating);
  EXPECT_EQ(generating->phase, Phase::kRunning);
  auto queuing = read_status(Dialect::kJobs, 200,
                             R"({"code":200,"msg":"success","data":{"state":"queuing"}})");
  ASSERT_TRUE(queuing);
  EXPECT_EQ(queuing->phase, Phase::kQueued);
}

TEST(GenerateStatus, JobsNotFoundEnvelope) {
  auto s = read_status(Dialect::kJobs, 404, R"({"code":404,"msg":"task not found","data":null})");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "HTTP 404: task not found");
}

TEST(GenerateStatus, TasksQueuedHandlingSuccessFail) {
  auto queued = read_status(Dialect::kTasks, 200, R"({"code":200,"message":"success",
      "data":{"taskId":"tk-1","model":"gpt-image-2-text-to-image","status":"queued",
              "created":1757156493,"completed":0}})");
  ASSERT_TRUE(queued) << queued.error().message;
  EXPECT_EQ(queued->phase, Phase::kQueued);
  auto handling = read_status(Dialect::kTasks, 200,
                              R"({"code":200,"message":"success","data":{"status":"handling"}})");
  ASSERT_TRUE(handling);
  EXPECT_EQ(handling->phase, Phase::kRunning);
  EXPECT_EQ(handling->state, "handling");
  auto success = read_status(Dialect::kTasks, 200, R"({"code":200,"message":"success","data":{
      "taskId":"tk-1","status":"success","created":1757156493,"completed":1757156553,
      "output":[{"url":"https://cdn.example.com/1.png","type":"image","expireAt":1757242953},
                {"url":"https://cdn.example.com/2.png","type":"image","expireAt":1757242953}]}})");
  ASSERT_TRUE(success) << success.error().message;
  EXPECT_EQ(success->phase, Phase::kSucceeded);
  EXPECT_EQ(success->urls, (std::vector<std::string>{"https://cdn.example.com/1.png",
                                                     "https://cdn.example.com/2.png"}));
  auto fail = read_status(Dialect::kTasks, 200, R"({"code":200,"message":"success","data":{
      "taskId":"tk-1","status":"fail","error":{"code":"generation_failed","message":"boom"}}})");
  ASSERT_TRUE(fail);
  EXPECT_EQ(fail->phase, Phase::kFailed);
  EXPECT_EQ(fail->error, "boom (generation_failed)");
}

TEST(GenerateStatus, TasksErrorEnvelope) {
  auto s = read_status(Dialect::kTasks, 401, R"({"code":401,"message":"invalid api key",
      "data":null,"error_code":"UNAUTHORIZED"})");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "HTTP 401: invalid api key (UNAUTHORIZED)");
}

TEST(GenerateStatus, GenerationsSeedCompletedAndFailed) {
  auto done = read_status(Dialect::kGenerations, 200, R"({
      "id":"397ce9f2-c04e-4244-ac33-3af19a7cc297","status":"completed","model":"gpt-image-2",
      "created_at":1775383908,"completed_at":1775383910,
      "output":{"urls":["https://file.aivideoapi.ai/images/2026/04/05/abc123.png"],
                "metadata":{"model":"gpt-image-2-image-to-image","costTime":70}}})");
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ(done->phase, Phase::kSucceeded);
  EXPECT_EQ(done->urls,
            std::vector<std::string>{"https://file.aivideoapi.ai/images/2026/04/05/abc123.png"});
  auto failed = read_status(Dialect::kGenerations, 200, R"({
      "id":"57c8772c-f834-46f3-9b7d-81f92e104050","status":"failed","model":"gpt-image-2",
      "created_at":1775383908,"error":{"code":"upstream_error","message":"Generation failed"}})");
  ASSERT_TRUE(failed) << failed.error().message;
  EXPECT_EQ(failed->phase, Phase::kFailed);
  EXPECT_EQ(failed->error, "Generation failed (upstream_error)");
}

TEST(GenerateStatus, GenerationsPendingWithNullProgressAndNotFound) {
  auto pending = read_status(Dialect::kGenerations, 200,
                             R"({"id":"x","status":"processing","progress":null})");
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->phase, Phase::kRunning);
  EXPECT_FALSE(pending->progress);
  auto missing = read_status(Dialect::kGenerations, 404, R"({"error":{"code":"task_not_found",
      "message":"Task ID does not exist","type":"invalid_request_error"}})");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "HTTP 404: Task ID does not exist (task_not_found)");
}

TEST(GenerateStatus, UnifiedProgressResultsAndFailure) {
  auto pending = read_status(Dialect::kUnified, 200, R"({"created":1757156493,
      "id":"task-unified-1757156493-imcg5zqt","model":"gpt-image-2",
      "object":"image.generation.task","progress":0,"status":"pending","type":"image"})");
  ASSERT_TRUE(pending) << pending.error().message;
  EXPECT_EQ(pending->phase, Phase::kQueued);
  EXPECT_EQ(pending->progress, 0);
  auto running =
      read_status(Dialect::kUnified, 200, R"({"id":"t","status":"processing","progress":45})");
  ASSERT_TRUE(running);
  EXPECT_EQ(running->phase, Phase::kRunning);
  EXPECT_EQ(running->progress, 45);
  auto done = read_status(Dialect::kUnified, 200, R"({"id":"t","status":"completed",
      "progress":100,"results":["https://r.example/1.png","https://r.example/2.png"],
      "task_info":{"can_cancel":false},"type":"image"})");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->phase, Phase::kSucceeded);
  EXPECT_EQ(done->urls.size(), 2u);
  auto failed = read_status(Dialect::kUnified, 200, R"({"id":"t","status":"failed",
      "progress":0,"error":{"code":"content_policy_violation","message":"refused",
      "type":"task_error"}})");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->phase, Phase::kFailed);
  EXPECT_EQ(failed->error, "refused (content_policy_violation)");
}

TEST(GenerateStatus, UnifiedErrorEnvelopeAndMissingStatus) {
  auto bad = read_status(Dialect::kUnified, 400, R"({"error":{"code":"invalid_task_id",
      "message":"task id must start with task-unified-","type":"invalid_request_error"}})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "HTTP 400: task id must start with task-unified- (invalid_task_id)");
  auto statusless = read_status(Dialect::kUnified, 200, R"({"id":"t"})");
  ASSERT_FALSE(statusless);
  EXPECT_NE(statusless.error().message.find("no task status"), std::string::npos);
}

TEST(GenerateStatus, FailedWithoutMessageStillSaysSomething) {
  auto s = read_status(Dialect::kUnified, 200, R"({"id":"t","status":"failed"})");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->error.empty());
}

// --- backoff, file names, progress line

TEST(GeneratePolling, BackoffStartsAtHalfASecondGrowsByHalfAndStopsAtFive) {
  const std::vector<milliseconds> expected = {
      milliseconds(500),  milliseconds(750),  milliseconds(1125), milliseconds(1687),
      milliseconds(2531), milliseconds(3796), milliseconds(5000), milliseconds(5000)};
  for (int i = 0; i < static_cast<int>(expected.size()); ++i) {
    EXPECT_EQ(poll_delay(i), expected[static_cast<std::size_t>(i)]) << "attempt " << i;
  }
  EXPECT_EQ(poll_delay(1000), milliseconds(5000));
}

TEST(GenerateFiles, ExtensionFromContentTypeThenUrl) {
  EXPECT_EQ(result_extension("image/png", "https://x/a.bin"), "png");
  EXPECT_EQ(result_extension("IMAGE/JPEG; charset=binary", ""), "jpg");
  EXPECT_EQ(result_extension("image/webp", ""), "webp");
  EXPECT_EQ(result_extension("application/octet-stream", "https://x/r/1.WEBP?sig=a.b"), "webp");
  EXPECT_EQ(result_extension("", "https://cdn.example.com/p/photo.jpeg#frag"), "jpg");
  EXPECT_EQ(result_extension("", "https://cdn.example.com/files/1"), "bin");
  EXPECT_EQ(result_extension("", "https://cdn.example.com"), "bin");
  EXPECT_EQ(result_extension("", "https://cdn.example.com/a.verylongext"), "bin");
}

TEST(GenerateFiles, NamesAreTaskIdAndOneBasedIndex) {
  EXPECT_EQ(result_file_name("3ebe82c2-3abc", 1, "png"), "3ebe82c2-3abc-1.png");
  EXPECT_EQ(result_file_name("task-unified-1757156493-imcg5zqt", 2, "webp"),
            "task-unified-1757156493-imcg5zqt-2.webp");
  EXPECT_EQ(result_file_name("../etc/passwd", 1, "png"), ".._etc_passwd-1.png");
  EXPECT_EQ(result_file_name("", 1, "png"), "task-1.png");
}

TEST(GenerateProgress, PlainLineAndTerminalBar) {
  TaskStatus s;
  s.state = "processing";
  EXPECT_EQ(status_line("t1", s, milliseconds(12345), false), "task t1: processing (12.3s)");
  EXPECT_EQ(status_line("t1", s, milliseconds(500), true), "processing  0.5s  task t1");
  s.progress = 45;
  EXPECT_EQ(status_line("t1", s, milliseconds(12345), false), "task t1: processing (12.3s) 45%");
  EXPECT_EQ(status_line("t1", s, milliseconds(1000), true),
            "processing  1.0s  [#########-----------] 45%  task t1");
}

}  // namespace
}  // namespace ig::app
