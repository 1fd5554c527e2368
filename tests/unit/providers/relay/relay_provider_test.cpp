#include "providers/relay/relay_provider.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <map>
#include <optional>
#include <string>

#include "http/async_client.hpp"
#include "unit/providers/relay/fake_upstream.hpp"
#include "unit/providers/vips_helpers.hpp"

namespace ig::providers::relay {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::milliseconds;
using testing::FakeUpstream;
using testing::Reply;
using testing::SeenRequest;

// --- configuration

ProviderSettings section(std::map<std::string, std::string> options) {
  ProviderSettings s;
  s.name = "up";
  s.kind = "relay";
  s.options = std::move(options);
  return s;
}

TEST(RelayConfig, ReadsDialectCommonAndOwnKeys) {
  ::setenv("IG_RELAY_TEST_KEY", "sk-secret", 1);
  auto c = read_relay_config(section({{"dialect", "tasks"},
                                      {"base_url", "https://api.example.com/"},
                                      {"api_key_env", "IG_RELAY_TEST_KEY"},
                                      {"poll_interval_ms", "250"},
                                      {"poll_max_interval_ms", "4000"},
                                      {"download_max_bytes", "1048576"},
                                      {"max_retries", "1"}}));  // a router key: left to it
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->name, "up");
  EXPECT_EQ(c->dialect, Dialect::kTasks);
  EXPECT_EQ(c->common.base_url, "https://api.example.com");
  EXPECT_EQ(c->common.api_key, "sk-secret");
  EXPECT_EQ(c->poll_interval, milliseconds(250));
  EXPECT_EQ(c->poll_max_interval, milliseconds(4000));
  EXPECT_EQ(c->download_max_bytes, 1048576u);
  EXPECT_EQ(c->download_attempts, 3);
}

TEST(RelayConfig, RefusesMissingOrUnknownDialectAndUnknownKeys) {
  const std::map<std::string, std::string> base = {{"base_url", "http://127.0.0.1:1"}};
  auto missing = read_relay_config(section(base));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("providers.up.dialect"), std::string::npos);
  auto with = [&](std::string key, std::string value) {
    auto o = base;
    o["dialect"] = "jobs";
    o[key] = value;
    return read_relay_config(section(o));
  };
  auto wrong = with("dialect", "openai");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("jobs, tasks, generations or unified"), std::string::npos);
  auto typo = with("poll_intervall_ms", "5");
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("poll_intervall_ms"), std::string::npos);
  EXPECT_FALSE(with("poll_interval_ms", "0"));
  EXPECT_FALSE(with("poll_max_interval_ms", "20"));  // below the 1000 ms first interval
}

// --- failure classes

TEST(RelayFailures, CreateAnswers) {
  WireError e;
  e.status = 503;
  e.message = "HTTP 503: busy";
  auto busy = create_failure("up", e, milliseconds(7000));
  EXPECT_EQ(busy.cls, FailureClass::kNoWork);
  EXPECT_EQ(busy.code, "upstream_error");
  EXPECT_EQ(busy.retry_after, milliseconds(7000));
  EXPECT_EQ(busy.http_status, 503);
  for (unsigned s : {429u, 500u, 502u, 409u}) {
    e.status = s;
    EXPECT_EQ(create_failure("up", e, milliseconds(-1)).cls, FailureClass::kNoWork) << s;
  }
  for (unsigned s : {401u, 402u, 403u, 404u, 405u, 302u}) {
    e.status = s;
    EXPECT_EQ(create_failure("up", e, milliseconds(-1)).cls, FailureClass::kRouteFault) << s;
  }
  e.status = 422;
  e.message = "HTTP 422: input.aspect_ratio must be one of … (INVALID)";
  e.detail = "input.aspect_ratio must be one of …";
  auto rejected = create_failure("up", e, milliseconds(-1));
  EXPECT_EQ(rejected.cls, FailureClass::kRejected);
  EXPECT_EQ(rejected.code, "upstream_rejected");
  EXPECT_EQ(rejected.message, "input.aspect_ratio must be one of …");
  e.status = 400;
  e.code = "content_policy_violation";
  auto moderated = create_failure("up", e, milliseconds(-1));
  EXPECT_EQ(moderated.cls, FailureClass::kRejected);
  EXPECT_EQ(moderated.code, "moderation_blocked");
  e = WireError{"unexpected answer (no task id): {}", 0, "", ""};
  auto idless = create_failure("up", e, milliseconds(-1));
  EXPECT_EQ(idless.cls, FailureClass::kUnknown);
  EXPECT_EQ(idless.code, "upstream_unknown_outcome");
}

TEST(RelayFailures, CreateWithoutAnAnswer) {
  auto refused = create_transport_failure(
      "up", http::make_error(http::ErrorKind::kConnect, "connection refused", false));
  EXPECT_EQ(refused.cls, FailureClass::kNoWork);
  auto lost = create_transport_failure(
      "up", http::make_error(http::ErrorKind::kTimeout, "timed out", true));
  EXPECT_EQ(lost.cls, FailureClass::kUnknown);
  EXPECT_EQ(lost.code, "upstream_unknown_outcome");
  auto tls = create_transport_failure(
      "up", http::make_error(http::ErrorKind::kTls, "certificate verify failed", false));
  EXPECT_EQ(tls.cls, FailureClass::kRouteFault);
}

TEST(RelayFailures, FailedTasks) {
  TaskStatus s;
  s.phase = Phase::kFailed;
  s.error_code = "content_policy_violation";
  s.error_message = "the prompt was refused";
  auto moderated = task_failure("t-1", s);
  EXPECT_EQ(moderated.cls, FailureClass::kRejected);
  EXPECT_EQ(moderated.code, "moderation_blocked");
  s.error_code = "generation_failed";
  s.error_message = std::string(500, 'x');
  auto failed = task_failure("t-1", s);
  EXPECT_EQ(failed.cls, FailureClass::kFailed);
  EXPECT_EQ(failed.code, "upstream_error");
  EXPECT_TRUE(failed.message.starts_with("upstream task t-1 failed: xxx"));
  EXPECT_LT(failed.message.size(), 260u);  // their message is shortened
}

// --- generate() against a fake upstream

Reply reply(unsigned status, std::string body, std::string type = "application/json") {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(type);
  return r;
}

/// One dialect's task API, scripted: tasks finish after `polls_before_done` status calls.
struct ScriptedUpstream {
  Dialect dialect = Dialect::kJobs;
  std::string png;
  std::string base;  // set once the server runs
  int polls_before_done = 2;
  int images = 1;
  bool relative_urls = false;
  bool never_finish = false;
  std::optional<Reply> create_reply;  // instead of creating a task
  int status_errors = 0;              // 503s before the real status answers
  std::string fail_code;              // non-empty: the task fails with it
  std::string fail_message = "it broke";
  int file_errors = 0;  // 503s before a result file is served
  std::map<std::string, int> polls;
  int created = 0;

  std::string new_id() {
    ++created;
    return dialect == Dialect::kUnified ? "task-unified-1757156493-" + std::to_string(created)
                                        : "id-" + std::to_string(created);
  }

  Reply operator()(const SeenRequest& r) {
    if (r.target.starts_with("/files/")) {
      if (file_errors > 0) {
        --file_errors;
        return reply(503, "busy");
      }
      return reply(200, png, "image/png");
    }
    if (r.method == "POST") {
      if (create_reply) {
        return *create_reply;
      }
      const std::string id = new_id();
      if (dialect == Dialect::kUnified) {
        return reply(200, R"({"id":")" + id + R"(","status":"pending","progress":0})");
      }
      return reply(200, R"({"code":200,"msg":"success","data":{"taskId":")" + id + R"("}})");
    }
    if (status_errors > 0) {
      --status_errors;
      return reply(503, R"({"error":{"code":"internal_error","message":"busy"}})");
    }
    const std::string id = id_of(r.target);
    const bool done = !never_finish && ++polls[id] > polls_before_done;
    return reply(200, status_body(id, done));
  }

  std::string id_of(const std::string& target) const {
    const auto eq = target.find("taskId=");
    return eq != std::string::npos ? target.substr(eq + 7) : target.substr(target.rfind('/') + 1);
  }

  json::array urls(const std::string& id) const {
    json::array a;
    for (int i = 1; i <= images; ++i) {
      const std::string path = "/files/" + id + "-" + std::to_string(i) + ".png";
      a.emplace_back(relative_urls ? path : base + path);
    }
    return a;
  }

  std::string status_body(const std::string& id, bool done) const {
    const bool failed = done && !fail_code.empty();
    const json::object error{{"code", fail_code}, {"message", fail_message}};
    switch (dialect) {
      case Dialect::kJobs: {
        json::object data{{"taskId", id},
                          {"state", !done    ? "generating"
                                    : failed ? "fail"
                                             : "success"}};
        if (done && !failed) {
          data["resultJson"] = json::serialize(json::object{{"resultUrls", urls(id)}});
        }
        if (failed) {
          data["failCode"] = fail_code;
          data["failMsg"] = fail_message;
        }
        return json::serialize(json::object{{"code", 200}, {"msg", "success"}, {"data", data}});
      }
      case Dialect::kTasks: {
        json::object data{{"taskId", id},
                          {"status", !done    ? "handling"
                                     : failed ? "fail"
                                              : "success"}};
        if (done && !failed) {
          json::array output;
          for (const auto& u : urls(id)) {
            output.emplace_back(json::object{{"url", u}, {"type", "image"}});
          }
          data["output"] = output;
        }
        if (failed) {
          data["error"] = error;
        }
        return json::serialize(json::object{{"code", 200}, {"message", "success"}, {"data", data}});
      }
      case Dialect::kGenerations: {
        json::object o{{"id", id},
                       {"status", !done    ? "processing"
                                  : failed ? "failed"
                                           : "completed"}};
        if (done && !failed) {
          o["output"] = json::object{{"urls", urls(id)}};
        }
        if (failed) {
          o["error"] = error;
        }
        return json::serialize(o);
      }
      case Dialect::kUnified: {
        json::object o{{"id", id},
                       {"status", !done    ? "processing"
                                  : failed ? "failed"
                                           : "completed"}};
        if (done && !failed) {
          o["results"] = urls(id);
        }
        if (failed) {
          o["error"] = error;
        }
        return json::serialize(o);
      }
    }
    return "{}";
  }
};

class FakeObserver final : public CallObserver {
 public:
  explicit FakeObserver(bool answer, const FakeUpstream* upstream)
      : answer_(answer), upstream_(upstream) {}
  asio::awaitable<bool> upstream_accepted(std::string upstream_id) override {
    ids.push_back(std::move(upstream_id));
    polls_before.push_back(upstream_->count("GET", "/api/v1/jobs/recordInfo") +
                           upstream_->count("GET", "/v1/tasks/"));
    co_return answer_;
  }
  std::vector<std::string> ids;
  std::vector<int> polls_before;

 private:
  bool answer_;
  const FakeUpstream* upstream_;
};

class RelayProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_.png =
        providers::test::png(providers::test::reference_picture(80, 60, {200, 30, 60})).bytes;
  }

  void fresh_script() {
    upstream_.reset();  // its handler reads the script
    ScriptedUpstream fresh;
    fresh.png = script_.png;
    script_ = std::move(fresh);
  }

  void start(Dialect d) {
    script_.dialect = d;
    upstream_ = std::make_unique<FakeUpstream>([this](const SeenRequest& r) { return script_(r); });
    script_.base = upstream_->base_url();
  }

  RelayConfig config(Dialect d) const {
    RelayConfig c;
    c.name = "up";
    c.dialect = d;
    c.common.base_url = upstream_->base_url();
    c.common.api_key = "sk-upstream-secret";
    c.common.timeout = milliseconds(10'000);
    c.poll_interval = milliseconds(10);
    c.poll_max_interval = milliseconds(40);
    return c;
  }

  GenerateJob job(core::Size size = {64, 48}) const {
    GenerateJob j;
    j.request.prompt = "a small test picture";
    j.request.size = size;
    j.request.aspect_ratio = "4:3";
    j.task_id = "task-1";
    return j;
  }

  /// Runs generate() on a fresh io_context; `cancel_after` emits a terminal cancellation.
  GenerateResult run(
      RelayConfig cfg, GenerateJob j, std::optional<milliseconds> cancel_after = std::nullopt,
      std::function<std::string(std::string_view, std::chrono::seconds)> public_url = {}) {
    asio::io_context ioc;
    // Declared after the io_context, so joined before it goes: a pool thread that has just
    // resumed the awaiter still holds a work-counting executor of it.
    asio::thread_pool pool(1);
    auto client = std::make_shared<http::AsyncClient>(ioc.get_executor());
    ProviderContext ctx{ioc.get_executor(), pool.get_executor(), std::move(public_url), {}};
    RelayProvider provider(std::move(cfg), client, ctx);
    std::optional<GenerateResult> result;
    std::exception_ptr error;
    asio::cancellation_signal signal;
    asio::steady_timer timer(ioc);
    asio::co_spawn(
        ioc, provider.generate(j),
        asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, GenerateResult r) {
          error = e;
          result = std::move(r);
          timer.cancel();
          ioc.stop();  // pooled connections would keep it running
        }));
    if (cancel_after) {
      timer.expires_after(*cancel_after);
      timer.async_wait([&](boost::system::error_code ec) {
        if (!ec) {
          signal.emit(asio::cancellation_type::terminal);
        }
      });
    }
    ioc.run();
    EXPECT_FALSE(error) << "generate threw";
    EXPECT_TRUE(result.has_value());
    return result ? std::move(*result) : GenerateResult{};
  }

  ScriptedUpstream script_;
  std::unique_ptr<FakeUpstream> upstream_;
};

TEST_F(RelayProviderTest, EveryDialectCreatesPollsDownloadsAndFits) {
  for (Dialect d : {Dialect::kJobs, Dialect::kTasks, Dialect::kGenerations, Dialect::kUnified}) {
    SCOPED_TRACE(std::string(to_string(d)));
    fresh_script();
    start(d);
    GenerateResult r = run(config(d), job({96, 64}));
    ASSERT_FALSE(r.error) << r.error->message;
    ASSERT_EQ(r.images.size(), 1u);
    EXPECT_EQ(r.images[0].width, 96);
    EXPECT_EQ(r.images[0].height, 64);
    EXPECT_EQ(r.images[0].mime, "image/png");
    const vips::VImage decoded = providers::test::decode(r.images[0].bytes);
    EXPECT_EQ(decoded.width(), 96);
    EXPECT_EQ(decoded.height(), 64);
    EXPECT_FALSE(r.upstream_id.empty());
    EXPECT_EQ(script_.created, 1);
    const auto seen = upstream_->requests();
    ASSERT_GE(seen.size(), 5u);  // create, 3 polls, 1 download
    EXPECT_EQ(seen[0].method, "POST");
    EXPECT_EQ(seen[0].authorization, "Bearer sk-upstream-secret");
    EXPECT_EQ(json::parse(seen[0].body).at("model").as_string().starts_with("gpt-image-2"), true);
    EXPECT_EQ(seen.back().target.substr(0, 7), "/files/");
    EXPECT_TRUE(seen.back().authorization.empty());  // results are fetched without the key
  }
}

TEST_F(RelayProviderTest, ReportsTheIdBeforePollingAndConvertsTheFormat) {
  start(Dialect::kTasks);
  script_.relative_urls = true;  // "/files/…" resolved against the base URL
  FakeObserver observer(true, upstream_.get());
  GenerateJob j = job();
  j.observer = &observer;
  j.request.output_format = "jpeg";
  GenerateResult r = run(config(Dialect::kTasks), std::move(j));
  ASSERT_FALSE(r.error) << r.error->message;
  ASSERT_EQ(observer.ids, std::vector<std::string>{"id-1"});
  EXPECT_EQ(observer.polls_before, std::vector<int>{0});
  EXPECT_EQ(r.upstream_id, "id-1");
  EXPECT_EQ(r.images.at(0).mime, "image/jpeg");
  EXPECT_EQ(r.images.at(0).width, 64);
}

TEST_F(RelayProviderTest, ATaskNoLongerOursStopsBeforePolling) {
  start(Dialect::kJobs);
  FakeObserver observer(false, upstream_.get());
  GenerateJob j = job();
  j.observer = &observer;
  GenerateResult r = run(config(Dialect::kJobs), std::move(j));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kFailed);
  EXPECT_EQ(r.upstream_id, "id-1");
  EXPECT_EQ(upstream_->count("GET", "/"), 0);
}

TEST_F(RelayProviderTest, ResumeByIdPollsWithoutCreating) {
  start(Dialect::kUnified);
  GenerateJob j = job();
  j.resume_upstream_id = "task-unified-1757156493-old";
  FakeObserver observer(true, upstream_.get());
  j.observer = &observer;
  GenerateResult r = run(config(Dialect::kUnified), std::move(j));
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.images.size(), 1u);
  EXPECT_EQ(r.upstream_id, "task-unified-1757156493-old");
  EXPECT_EQ(script_.created, 0);
  EXPECT_EQ(upstream_->count("POST", "/"), 0);
  EXPECT_EQ(upstream_->count("GET", "/v1/tasks/task-unified-1757156493-old"), 3);
  EXPECT_TRUE(observer.ids.empty());  // already recorded by the run that created it
}

TEST_F(RelayProviderTest, UnifiedMakesNImagesInOneTask) {
  start(Dialect::kUnified);
  script_.images = 3;
  GenerateJob j = job();
  j.request.n = 3;
  GenerateResult r = run(config(Dialect::kUnified), std::move(j));
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(r.images.size(), 3u);
  EXPECT_EQ(script_.created, 1);
  EXPECT_EQ(json::parse(upstream_->requests().at(0).body).at("n"), 3);
}

TEST_F(RelayProviderTest, NAboveOneIsARouteFaultForOtherDialects) {
  start(Dialect::kGenerations);
  GenerateJob j = job();
  j.request.n = 2;
  GenerateResult r = run(config(Dialect::kGenerations), std::move(j));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kRouteFault);
  EXPECT_EQ(r.error->message, "the generations upstream makes one image per task");
  EXPECT_TRUE(upstream_->requests().empty());
}

TEST_F(RelayProviderTest, CreateAnswered500IsNoWorkWithRetryAfter) {
  start(Dialect::kJobs);
  script_.create_reply = reply(500, R"({"code":500,"msg":"Internal error"})");
  script_.create_reply->headers = {{"Retry-After", "2"}};
  GenerateResult r = run(config(Dialect::kJobs), job());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kNoWork);
  EXPECT_EQ(r.error->http_status, 500);
  EXPECT_EQ(r.error->retry_after, milliseconds(2000));
  EXPECT_TRUE(r.upstream_id.empty());
}

TEST_F(RelayProviderTest, CreateAnswered400IsRejectedWithTheirMessage) {
  start(Dialect::kTasks);
  script_.create_reply = reply(400, R"({"code":400,"message":"input.prompt is required",
      "data":null,"error_code":"INVALID_REQUEST"})");
  GenerateResult r = run(config(Dialect::kTasks), job());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kRejected);
  EXPECT_EQ(r.error->code, "upstream_rejected");
  EXPECT_EQ(r.error->message, "input.prompt is required");
  EXPECT_EQ(r.error->message.find("sk-upstream-secret"), std::string::npos);
}

TEST_F(RelayProviderTest, AKeyEchoedByTheUpstreamIsMasked) {
  start(Dialect::kUnified);
  script_.create_reply = reply(403, R"({"error":{"code":"permission_denied",
      "message":"key sk-upstream-secret may not use this model"}})");
  GenerateResult r = run(config(Dialect::kUnified), job());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kRouteFault);
  EXPECT_EQ(r.error->message.find("upstream-secret"), std::string::npos) << r.error->message;
  EXPECT_NE(r.error->message.find("may not use this model"), std::string::npos);
}

TEST_F(RelayProviderTest, CreateAnswered401IsARouteFault) {
  start(Dialect::kUnified);
  script_.create_reply = reply(401, R"({"error":{"code":"unauthorized","message":"Invalid key"}})");
  GenerateResult r = run(config(Dialect::kUnified), job());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kRouteFault);
  EXPECT_EQ(r.error->message.find("sk-upstream-secret"), std::string::npos);
}

TEST_F(RelayProviderTest, UnreachableUpstreamIsNoWork) {
  start(Dialect::kJobs);
  RelayConfig cfg = config(Dialect::kJobs);
  cfg.common.base_url = "http://127.0.0.1:1";  // nothing listens there
  GenerateResult r = run(std::move(cfg), job());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kNoWork);
}

TEST_F(RelayProviderTest, ACreateWhoseAnswerIsLostIsUnknown) {
  start(Dialect::kJobs);
  Reply drop;
  drop.drop = true;
  script_.create_reply = drop;
  GenerateResult r = run(config(Dialect::kJobs), job());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kUnknown);
  EXPECT_EQ(r.error->code, "upstream_unknown_outcome");
}

TEST_F(RelayProviderTest, AFailedUpstreamTaskIsFailedWithASafeSummary) {
  start(Dialect::kGenerations);
  script_.fail_code = "upstream_error";
  script_.fail_message = "Generation failed";
  GenerateResult r = run(config(Dialect::kGenerations), job());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kFailed);
  EXPECT_EQ(r.error->code, "upstream_error");
  EXPECT_EQ(r.error->message, "upstream task id-1 failed: Generation failed");
  EXPECT_EQ(r.upstream_id, "id-1");
}

TEST_F(RelayProviderTest, AModerationRefusalIsRejected) {
  start(Dialect::kJobs);
  script_.fail_code = "content_policy_violation";
  script_.fail_message = "The request was refused by the safety system";
  GenerateResult r = run(config(Dialect::kJobs), job());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kRejected);
  EXPECT_EQ(r.error->code, "moderation_blocked");
}

TEST_F(RelayProviderTest, PollErrorsAreRetriedAndDownloadsTooWithinLimits) {
  start(Dialect::kTasks);
  script_.status_errors = 3;
  script_.file_errors = 1;
  GenerateResult r = run(config(Dialect::kTasks), job());
  ASSERT_FALSE(r.error) << r.error->message;
  EXPECT_EQ(upstream_->count("GET", "/files/"), 2);

  fresh_script();
  start(Dialect::kTasks);
  script_.file_errors = 10;
  RelayConfig cfg = config(Dialect::kTasks);
  cfg.download_attempts = 2;
  GenerateResult failed = run(std::move(cfg), job());
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->cls, FailureClass::kFailed);
  EXPECT_EQ(failed.error->code, "upstream_error");
  EXPECT_EQ(upstream_->count("GET", "/files/"), 2);
}

TEST_F(RelayProviderTest, APollTimeoutWithAnIdIsUnknownAndResumable) {
  start(Dialect::kJobs);
  script_.never_finish = true;
  RelayConfig cfg = config(Dialect::kJobs);
  cfg.common.timeout = milliseconds(300);
  GenerateResult r = run(std::move(cfg), job());
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kUnknown);
  EXPECT_EQ(r.error->code, "upstream_timeout");
  EXPECT_EQ(r.upstream_id, "id-1");
}

TEST_F(RelayProviderTest, CancellationWhilePollingStopsPromptly) {
  start(Dialect::kUnified);
  script_.never_finish = true;
  RelayConfig cfg = config(Dialect::kUnified);
  cfg.poll_interval = milliseconds(5000);
  cfg.poll_max_interval = milliseconds(5000);
  const auto start_time = std::chrono::steady_clock::now();
  GenerateResult r = run(std::move(cfg), job(), milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, milliseconds(3000));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kUnknown);
  EXPECT_FALSE(r.upstream_id.empty());
}

TEST_F(RelayProviderTest, UploadsNeedAPublicUrl) {
  start(Dialect::kUnified);
  GenerateJob j = job();
  j.request.input_urls = {"upload:task-1/in-1.png"};
  j.request.mode = core::Mode::kImageToImage;
  GenerateResult refused = run(config(Dialect::kUnified), j);
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->cls, FailureClass::kRouteFault);
  EXPECT_EQ(refused.error->message, "relay cannot pass uploaded images without server.public_url");
  EXPECT_TRUE(upstream_->requests().empty());

  GenerateResult sent = run(config(Dialect::kUnified), j, std::nullopt,
                            [](std::string_view key, std::chrono::seconds ttl) {
                              return "https://gate.example/files/" + std::string(key) +
                                     "?ttl=" + std::to_string(ttl.count());
                            });
  ASSERT_FALSE(sent.error) << sent.error->message;
  EXPECT_EQ(json::parse(upstream_->requests().at(0).body).at("image_urls"),
            json::parse(R"(["https://gate.example/files/task-1/in-1.png?ttl=3600"])"));
}

TEST_F(RelayProviderTest, AMaskNeedsTheUnifiedDialect) {
  start(Dialect::kJobs);
  GenerateJob j = job();
  j.request.input_urls = {"https://a.example/in.png"};
  j.request.mask_url = "https://a.example/mask.png";
  GenerateResult r = run(config(Dialect::kJobs), std::move(j));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->cls, FailureClass::kRouteFault);
}

}  // namespace
}  // namespace ig::providers::relay
