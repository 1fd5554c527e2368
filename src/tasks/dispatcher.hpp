#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "core/clock.hpp"
#include "providers/provider.hpp"
#include "runtime/offload.hpp"
#include "store/store.hpp"
#include "tasks/task_starter.hpp"

namespace ig::storage {
class ResultStorage;
}

namespace ig::tasks {

class InputSource;
class UpstreamRouter;
class TaskEvents;
class CallLog;
namespace detail {
class StoreCallLog;
}

struct DispatcherConfig {
  int concurrency = 4;                     // tasks run at once by this process
  std::chrono::milliseconds lease{30'000};  // a running task's lease; renewed every lease/3
  std::size_t lease_slice = 512;            // leases renewed per commit (paced; keep_leases)
  std::chrono::milliseconds poll{500};      // how often to look for work without a wake-up
  std::string owner;                        // lease owner name ("host:pid:random")
  int max_attempts = 3;  // claims of one task before it fails with too_many_attempts
};

/// Runs queued tasks: claims them under a lease, loads inputs, sends the work down the task's
/// routes (UpstreamRouter), logs every upstream call, stores the results and writes the
/// terminal state fenced by the attempt number. A task whose lease
/// expires (its process died) is claimed again by any dispatcher. Thread-safe.
class Dispatcher final : public TaskStarter {
 public:
  Dispatcher(boost::asio::io_context& ioc, runtime::BlockingExecutor pool, store::Store& store,
             UpstreamRouter& router, InputSource& inputs,
             storage::ResultStorage& results, const core::Clock& clock, DispatcherConfig config);
  ~Dispatcher() override;

  void start();
  /// A task was queued: look for work now rather than at the next poll.
  void wake();
  /// The task was cancelled by its owner: stop this process's run of it, if any. Its state is
  /// already terminal, so the run writes nothing.
  void abandon(std::int64_t row_id);
  /// Stops claiming, cancels running tasks and returns their leases (state queued) so another
  /// process may run them at once. Completes when every run has ended or at the deadline.
  boost::asio::awaitable<void> stop(std::chrono::milliseconds deadline);

  int running() const { return running_.load(); }

  // TaskStarter: a created task runs at once when a slot is free. A reserved slot counts as
  // running, so the claim loop does not hand it out as well.
  std::optional<Slot> reserve() override;
  void unreserve() override;
  void start(store::Claim claim) override;

  /// Where task ends are announced (synchronous waiters); may stay unset.
  void set_events(TaskEvents* events) { events_ = events; }


 private:
  struct Run {
    std::shared_ptr<boost::asio::cancellation_signal> cancel;
    boost::asio::any_io_executor executor;
    bool cancel_requested = false;  // under mu_: stop() or abandon() asked for it
  };
  // A run is one attempt of one task: the same row may be claimed again (its lease lapsed)
  // while an older attempt is still winding down here.
  using RunKey = std::pair<std::int64_t, int>;  // row id, attempt

  boost::asio::awaitable<void> loop();
  void wake_loop();
  /// Runs a claimed task; `slot_taken` when its slot was reserved (running_ counts it).
  void launch(store::Claim claim, bool slot_taken = false);
  /// Under mu_: asks a run to stop (its strand delivers the cancellation).
  static void request_cancel(Run& run);
  /// One run of a claimed task, from its inputs to its end written (fenced by the attempt).
  boost::asio::awaitable<void> run(store::Claim claim);
  /// Runs the task into `outcome`; on success the stored images' bytes are moved to `images`.
  boost::asio::awaitable<void> produce(core::Task& task, int attempt,
                                       std::vector<std::string>& images,
                                       core::TaskOutcome& outcome);
  /// Before the upstream call: what earlier runs left (earlier_calls), the inputs, the size.
  /// True with `outcome` set when the run ends here instead of calling; false with `job` ready
  /// but for its request, which produce() lends it from the task for the call.
  boost::asio::awaitable<bool> prepare(core::Task& task, int attempt, std::string& resume_route,
                                       providers::GenerateJob& job, core::TaskOutcome& outcome);
  /// After the call: the failure, or the images stored and the outcome that names them.
  boost::asio::awaitable<void> conclude(const core::Task& task, int attempt,
                                        providers::GenerateResult& generated,
                                        detail::StoreCallLog& log,
                                        std::vector<std::string>& images,
                                        core::TaskOutcome& outcome);
  /// Writes the images to result storage under the attempt's keys, adding them to `outcome`.
  boost::asio::awaitable<core::Status> store_results(const core::Task& task, int attempt,
                                                     std::vector<providers::ImageBytes>& images,
                                                     core::TaskOutcome& outcome);
  /// For a task claimed again: the outcome it must end with instead of a new upstream call
  /// (an earlier call's outcome is unknown and may not be repeated), or nullopt to go on.
  /// Sets `resume_route` when the earlier work can be continued by its upstream id.
  boost::asio::awaitable<std::optional<core::TaskOutcome>> earlier_calls(
      const core::Task& task, int attempt, std::string& resume_route);
  /// Writes the outcome, retrying database errors with backoff while the run still holds the
  /// task. The fenced result, or nullopt when the store never answered.
  boost::asio::awaitable<std::optional<store::Fence>> complete(const core::Task& task,
                                                               int attempt,
                                                               const core::TaskOutcome& outcome);
  /// Whether this run still counts the task as its own (lease not lost, not abandoned).
  bool holds(std::int64_t row, int attempt);
  /// Renews the leases of every run in flight each lease/3, in slices of `lease_slice` spread
  /// over the first half of that period; a run whose lease was lost (another process took the
  /// task over) is cancelled.
  boost::asio::awaitable<void> keep_leases();
  /// Renews one slice of leases (one store call) and cancels the runs that lost theirs.
  boost::asio::awaitable<void> renew(const std::vector<store::RunRef>& runs);
  static boost::asio::awaitable<bool> cancelled();

  boost::asio::io_context& ioc_;
  runtime::BlockingExecutor pool_;
  store::Store& store_;
  UpstreamRouter& router_;
  TaskEvents* events_ = nullptr;
  InputSource& inputs_;
  storage::ResultStorage& results_;
  const core::Clock& clock_;
  DispatcherConfig config_;

  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer timer_;  // the idle wait of loop(); on strand_
  bool wake_pending_ = false;        // on strand_
  boost::asio::steady_timer keeper_timer_;  // the wait of keep_leases(); on strand_
  std::atomic<bool> keeper_done_{true};
  std::atomic<bool> backlog_{true};  // queued tasks may be waiting (the last claim was full)
  std::atomic<bool> stopping_{false};
  std::atomic<bool> loop_done_{true};
  std::atomic<int> running_{0};

  std::mutex mu_;
  std::map<RunKey, Run> runs_;      // the runs in flight
  std::set<RunKey> unfinished_;     // claimed, terminal state not written, lease not lost
};

}  // namespace ig::tasks
