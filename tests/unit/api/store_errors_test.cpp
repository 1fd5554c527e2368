// When the store cannot be read, a client is told the server failed (500/503), never that its
// key is invalid (401) or its task does not exist (404): those answers make clients drop keys
// and tasks that are fine.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include "api/auth.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "storage/result_storage.hpp"
#include "store/store.hpp"
#include "tasks/task_service.hpp"

namespace ig::api {
namespace {

namespace asio = boost::asio;
using core::ErrorCode;

/// Every read and write fails with `code_`, as a database that is locked or broken does.
class FailingStore final : public store::Store {
 public:
  explicit FailingStore(ErrorCode code) : code_(code) {}

  core::Result<store::ApiKey> create_key(const store::ApiKey&) override { return fail(); }
  core::Result<std::optional<store::ApiKey>> find_key_by_hash(const std::string&) override {
    ++reads_;
    return fail();
  }
  core::Result<std::optional<store::ApiKey>> find_key_by_prefix(const std::string&) override {
    return fail();
  }
  std::int64_t count_keys() override { return -1; }
  core::Result<store::ApiKey> create_key_in_account(const store::ApiKey&,
                                                   std::optional<std::int64_t>) override {
    return fail();
  }
  core::Result<std::optional<store::ApiKey>> get_key(std::int64_t) override { return fail(); }
  core::Result<std::vector<store::ApiKey>> list_keys() override { return fail(); }
  core::Result<std::optional<store::ApiKey>> update_key(std::int64_t,
                                                        const store::KeyPatch&) override {
    return fail();
  }
  core::Result<std::optional<store::ApiKey>> rotate_key(std::int64_t, const std::string&,
                                                        const std::string&) override {
    return fail();
  }
  core::Result<std::optional<store::Account>> get_account(std::int64_t) override {
    ++reads_;
    return fail();
  }
  core::Result<std::optional<store::Account>> add_credits(std::int64_t, const std::string&,
                                                          std::int64_t, const std::string&,
                                                          std::int64_t) override {
    return fail();
  }
  core::Result<std::vector<store::LedgerEntry>> list_ledger(std::int64_t) override {
    return fail();
  }
  core::Result<store::TaskPage> list_all_tasks(const store::TaskFilter&, std::int64_t,
                                               int) override {
    return fail();
  }
  core::Result<std::vector<store::UsageDay>> usage(std::int64_t, std::int64_t,
                                                   std::int64_t) override {
    return fail();
  }
  core::Result<std::vector<store::UsageRow>> usage_rows(const store::UsageQuery&) override {
    return fail();
  }
  core::Result<store::AccountPage> list_accounts(std::int64_t, int) override { return fail(); }
  core::Result<store::KeyPage> list_keys_page(std::string_view, std::int64_t, int) override {
    return fail();
  }
  core::Result<store::LedgerPage> ledger_page(std::int64_t, std::int64_t, int) override {
    return fail();
  }
  core::Result<std::vector<store::LedgerEntry>> task_ledger(std::int64_t) override {
    return fail();
  }
  core::Result<std::vector<store::RouteStats>> upstream_stats(std::int64_t,
                                                              std::int64_t) override {
    return fail();
  }
  core::Result<std::vector<store::CallbackDelivery>> claim_callbacks(int, std::int64_t,
                                                                     std::int64_t) override {
    return fail();
  }
  core::Status record_callback_attempt(std::int64_t, const store::CallbackAttempt&,
                                       const std::string&, std::int64_t) override {
    return fail();
  }
  core::Result<std::optional<std::pair<store::CallbackDelivery,
                                       std::vector<store::CallbackAttempt>>>>
  task_callback(std::int64_t) override {
    return fail();
  }
  core::Result<bool> redeliver_callback(std::int64_t, std::int64_t) override { return fail(); }
  core::Result<std::optional<std::int64_t>> next_callback_due() override { return fail(); }
  core::Result<std::optional<std::string>> webhook_secret(std::int64_t,
                                                          const std::string&) override {
    return fail();
  }
  core::Result<bool> set_webhook_secret(std::int64_t, const std::string&) override {
    return fail();
  }
  core::Result<store::IdempotentBegin> begin_idempotent(std::int64_t, const std::string&,
                                                        const std::string&, std::int64_t,
                                                        std::int64_t) override {
    return fail();
  }
  core::Status finish_idempotent(std::int64_t, const std::string&, const std::string&, int,
                                 const std::string&) override {
    return fail();
  }
  core::Status abandon_idempotent(std::int64_t, const std::string&) override { return fail(); }
  core::Status insert_task(const core::Task&) override { return fail(); }
  core::Result<store::Claim> insert_claimed_task(const core::Task&, const std::string&,
                                                 std::int64_t) override {
    return fail();
  }
  core::Result<std::optional<core::Task>> get_task(const std::string&) override {
    ++reads_;
    return fail();
  }
  core::Result<store::ClaimBatch> claim_tasks(const std::string&, int, std::int64_t, std::int64_t,
                                              int) override {
    return fail();
  }
  core::Result<store::Fence> renew_lease(std::int64_t, int, std::int64_t) override {
    return fail();
  }
  core::Result<store::Fence> complete_task(std::int64_t, int, const core::TaskOutcome&) override {
    return fail();
  }
  core::Result<store::Fence> release_task(std::int64_t, int) override { return fail(); }
  core::Result<store::Fence> set_task_size(std::int64_t, int, int, int) override { return fail(); }
  core::Result<store::Fence> set_upstream(std::int64_t, int, const std::string&,
                                          const std::string&) override {
    return fail();
  }
  core::Result<store::TaskPage> list_tasks(std::int64_t, std::int64_t, int) override {
    return fail();
  }
  core::Result<bool> cancel_task(std::int64_t, std::int64_t) override { return fail(); }
  core::Result<std::int64_t> begin_upstream_call(const store::UpstreamCall&) override {
    return fail();
  }
  core::Status finish_upstream_call(std::int64_t, int, std::int64_t, const std::string&,
                                    const std::string&, const std::string&,
                                    const std::string&) override {
    return fail();
  }
  core::Result<std::vector<store::UpstreamCall>> list_upstream_calls(std::int64_t) override {
    return fail();
  }
  std::map<core::TaskState, std::int64_t> count_tasks_by_state() override { return {}; }
  bool healthy() override { return false; }

  int reads() const { return reads_.load(); }

 private:
  core::Error fail() const {
    return core::make_error(code_, code_ == ErrorCode::kUnavailable ? "store: database busy"
                                                                    : "store: get_task failed");
  }
  ErrorCode code_;
  std::atomic<int> reads_{0};
};

class NoUploads final : public storage::ResultStorage {
 public:
  core::Status put(std::string_view, std::string_view) override { return core::ok_status(); }
  std::optional<std::uint64_t> size(std::string_view) override { return std::nullopt; }
  core::Result<std::string> read(std::string_view, std::uint64_t, std::uint64_t) override {
    return std::string();
  }
  std::size_t delete_older_than(std::int64_t) override { return 0; }
};

class StoreErrorsTest : public ::testing::TestWithParam<ErrorCode> {
 protected:
  StoreErrorsTest() : io_thread_([this] { ioc_.run(); }) {}
  ~StoreErrorsTest() override {
    guard_.reset();
    io_thread_.join();
    pool_.join();
  }

  template <class T>
  T run(asio::awaitable<T> a) {
    return asio::co_spawn(ioc_, std::move(a), asio::use_future).get();
  }

  FailingStore store_{GetParam()};
  core::ManualClock clock_{1'700'000'000'000};
  asio::thread_pool pool_{2};
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(ioc_);
  std::thread io_thread_;
  NoUploads uploads_;
  tasks::TaskService service_{
      store_, uploads_, pool_.get_executor(), clock_, core::default_random(), {}};
  store::ApiKey key_ = [] {
    store::ApiKey k;
    k.id = 1;
    return k;
  }();
};

// A read error is the server's failure: 503 when the store is busy, else 500.
ErrorCode served_as(ErrorCode store_code) {
  return store_code == ErrorCode::kUnavailable ? ErrorCode::kUnavailable : ErrorCode::kInternal;
}

TEST_P(StoreErrorsTest, AuthenticationIsUnavailableNotUnauthorized) {
  Authenticator auth(store_, pool_.get_executor(), clock_, std::chrono::seconds(5));
  auto r = run(auth.authenticate("Bearer sk-perfectly-good-key"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(core::http_status(r.error().code), 503);
  EXPECT_EQ(r.error().message, "the key store is unavailable");
  EXPECT_EQ(store_.reads(), 1);
  // Nothing was cached: the next request asks the store again.
  auto again = run(auth.authenticate("Bearer sk-perfectly-good-key"));
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(store_.reads(), 2);
  // A malformed header is still the client's fault.
  EXPECT_EQ(run(auth.authenticate("Bearer nope")).error().code, ErrorCode::kUnauthorized);
}

TEST_P(StoreErrorsTest, TaskReadsAreServerErrorsNotNotFound) {
  for (auto r : {run(service_.get(key_, "task-1")), run(service_.cancel(key_, "task-1")),
                 run(service_.wait(key_, "task-1", std::chrono::milliseconds(30),
                                   std::chrono::milliseconds(10)))}) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, served_as(GetParam())) << r.error().message;
    EXPECT_NE(core::http_status(r.error().code), 404);
    EXPECT_EQ(r.error().message.find("not found"), std::string::npos) << r.error().message;
  }
  auto listed = run(service_.list(key_, 1, 10));
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, served_as(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(BrokenOrBusy, StoreErrorsTest,
                         ::testing::Values(ErrorCode::kInternal, ErrorCode::kUnavailable),
                         [](const auto& info) { return std::string(core::to_string(info.param)); });

}  // namespace
}  // namespace ig::api
