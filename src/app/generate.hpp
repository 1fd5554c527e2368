#pragma once

#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include "providers/relay/wire.hpp"

/// `imagegate generate`: a client that creates a task in one of the four dialects, polls it,
/// and downloads the results. The request builders and response readers are pure functions
/// (thread-safe, no I/O) speaking each provider's exact JSON, so the client also works against
/// the providers themselves; `run_generate` does the I/O. The wire itself (calls, readers of
/// answers and envelopes) is the relay provider's (providers/relay/wire.hpp), shared.
namespace ig::app {

using providers::relay::ApiCall;
using providers::relay::Dialect;
using providers::relay::error_message;
using providers::relay::join_url;
using providers::relay::parse_dialect;
using providers::relay::Phase;
using providers::relay::read_created;
using providers::relay::read_status;
using providers::relay::status_call;
using providers::relay::TaskStatus;
using providers::relay::to_string;

/// Exit codes of `generate`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

struct GenerateOptions {
  std::string server;  // base URL, e.g. http://127.0.0.1:8080
  std::string key;
  Dialect dialect = Dialect::kJobs;
  std::string prompt;
  std::vector<std::string> image_urls;
  std::string mask_url;  // unified only
  std::string size;      // aspect_ratio (jobs, tasks, generations) or size (unified); "" = default
  std::string resolution;  // 1K/2K/4K in any case; "" = the provider's default
  std::optional<int> n;    // unified only (1 is accepted everywhere)
  std::filesystem::path out_dir = ".";
  std::chrono::seconds timeout{600};
};

/// What a user is told on stderr when `generate` fails. A plain value.
struct Failure {
  std::string message;
};

[[noreturn]] void throw_exception_from_error(const Failure& f, const boost::source_location& loc);

template <class T>
using Outcome = boost::system::result<T, Failure>;

/// The usage mistakes the command line cannot express (`--mask` outside `unified`, …), or
/// nullopt when the options are usable.
std::optional<std::string> usage_error(const GenerateOptions& o);

/// The create call of each dialect, shaped exactly as its provider documents it
/// (providers::relay::create_call with the options' values as given).
ApiCall create_call(const GenerateOptions& o);

/// Delay before poll number `attempt` (0-based): 500 ms, ×1.5 each time, at most 5 s.
std::chrono::milliseconds poll_delay(int attempt);

/// The header with which an imagegate query answer says it takes `wait=N` (a long-poll, N up
/// to its value in seconds). The providers do not send it; to them the client only polls.
inline constexpr std::string_view kLongPollHeader = "X-Long-Poll-Max-Wait";

/// The status call of `d` that the server holds until the task changes or `wait` passes.
ApiCall long_poll_call(Dialect d, std::string_view task_id, std::chrono::seconds wait);

/// How long the next status call may be held, given the kLongPollHeader of the last answer
/// ("" when it had none) and the time left: at most 30 s and the advertised maximum, leaving 5 s
/// for the answer. 0 s: poll with backoff instead.
std::chrono::seconds long_poll_wait(std::string_view advertised,
                                    std::chrono::milliseconds remaining);

/// File extension for a result: from Content-Type, else from the URL's path, else "bin".
std::string result_extension(std::string_view content_type, std::string_view url);

/// `<taskId>-<n>.<ext>`, with characters unsafe in a file name replaced by '_'.
std::string result_file_name(std::string_view task_id, int n, std::string_view ext);

/// The terminal line (redrawn with \r) or the plain line for a state.
std::string status_line(std::string_view task_id, const TaskStatus& s,
                        std::chrono::milliseconds elapsed, bool terminal);

/// Runs the whole command: saved paths on `out`, progress and errors on `err`. `terminal`
/// selects the redrawn progress line. Returns an exit code.
int run_generate(const GenerateOptions& o, std::ostream& out, std::ostream& err, bool terminal);

}  // namespace ig::app
