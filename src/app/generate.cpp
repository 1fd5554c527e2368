// `generate`: the run. Create, poll (long-poll on imagegate, backoff elsewhere) with a progress
// line, download the results.
#include "app/generate.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <future>
#include <ostream>
#include <thread>

#include <sys/ioctl.h>
#include <unistd.h>

#include "http/client.hpp"
#include "http/url.hpp"

namespace ig::app {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kApiBodyCap = 4 * 1024 * 1024;
constexpr std::size_t kResultBodyCap = 256 * 1024 * 1024;
constexpr milliseconds kApiCallTimeout{60'000};
constexpr milliseconds kDownloadTimeout{300'000};
constexpr int kDownloadRedirects = 3;
// Polling survives a server restart or a proxy hiccup, not a server that is gone.
constexpr int kMaxTransientErrors = 5;
constexpr milliseconds kRedrawEvery{250};

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

bool transient(const http::Result<http::Response>& r) {
  if (!r) {
    return r.error().kind != http::ErrorKind::kInvalidUrl;
  }
  return r->status == 429 || r->status >= 500;
}

struct Ok {};

std::size_t terminal_columns() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) != 0) {
    return 0;
  }
  return ws.ws_col;
}

/// One `generate` run: the client, the clock and what the user has been shown.
class Runner {
 public:
  Runner(const GenerateOptions& o, std::ostream& out, std::ostream& err, bool terminal)
      : o_(o), out_(out), err_(err), terminal_(terminal), client_(http::ClientConfig{}) {}

  Outcome<Ok> run() {
    auto id = create();
    if (!id) {
      return Failure{"creating the task failed: " + id.error().message};
    }
    task_id_ = *id;
    auto done = poll();
    end_line();
    if (!done) {
      return done.error();
    }
    if (done->phase == Phase::kFailed) {
      return Failure{"task " + task_id_ + " failed: " + done->error};
    }
    if (done->urls.empty()) {
      return Failure{"task " + task_id_ + " succeeded but returned no result URLs"};
    }
    for (std::size_t i = 0; i < done->urls.size(); ++i) {
      auto saved = download(done->urls[i], static_cast<int>(i + 1));
      if (!saved) {
        return saved.error();
      }
      out_ << saved->string() << "\n" << std::flush;
    }
    return Ok{};
  }

 private:
  milliseconds elapsed() const {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - start_);
  }
  milliseconds remaining() const {
    return std::chrono::duration_cast<milliseconds>(deadline_ - Clock::now());
  }

  http::Result<http::Response> call(const ApiCall& c) {
    http::Request req{c.method, join_url(o_.server, c.path), {}, c.body};
    req.headers = {{"Authorization", "Bearer " + o_.key}, {"Accept", "application/json"}};
    if (!c.body.empty()) {
      req.headers.emplace_back("Content-Type", "application/json");
    }
    const http::Limits limits{std::min(kApiCallTimeout, remaining()), kApiBodyCap, 0};
    return client_.send(req, limits);
  }

  Outcome<std::string> create() {
    auto r = call(create_call(o_));
    if (!r) {
      return Failure{r.error().message};
    }
    auto id = read_created(o_.dialect, r->status, r->body);
    if (!id) {
      return Failure{id.error().message};
    }
    return {boost::system::in_place_value, std::move(*id)};
  }

  // Polls with backoff; once an answer says the server takes `wait=` (imagegate does, the
  // providers do not), each call is held there until the task changes instead.
  Outcome<TaskStatus> poll() {
    TaskStatus last;
    last.state = "created";
    show(last);
    int errors = 0;
    int delays = 0;
    std::string advertised;  // kLongPollHeader of the last answer
    bool hurried = false;    // the last long-poll came back at once with nothing new
    for (;;) {
      const auto hold = errors == 0 && !hurried ? long_poll_wait(advertised, remaining())
                                                : std::chrono::seconds(0);
      if (hold.count() == 0) {
        wait(poll_delay(delays++), last);
      }
      if (remaining().count() <= 0) {
        return Failure{"gave up after " + std::to_string(o_.timeout.count()) + " s: task " +
                       task_id_ + " is still " + last.state};
      }
      const auto asked = Clock::now();
      auto r = hold.count() > 0 ? held_call(long_poll_call(o_.dialect, task_id_, hold), last)
                                : call(status_call(o_.dialect, task_id_));
      if (transient(r) && ++errors < kMaxTransientErrors) {
        end_line();
        err_ << "imagegate: polling failed, retrying: "
             << (r ? error_message(o_.dialect, r->status, r->body) : r.error().message) << "\n";
        continue;
      }
      if (!r) {
        return Failure{"polling task " + task_id_ + " failed: " + r.error().message};
      }
      auto s = read_status(o_.dialect, r->status, r->body);
      if (!s) {
        return Failure{"polling task " + task_id_ + " failed: " + s.error().message};
      }
      errors = 0;
      advertised = std::string(r->header(kLongPollHeader));
      // A server that answers a long-poll at once with the same status is not holding it (or
      // saw a change this dialect does not show): the next call waits first, so it cannot spin.
      hurried = hold.count() > 0 && s->state == last.state && s->progress == last.progress &&
                Clock::now() - asked < milliseconds(hold) / 2;
      last = std::move(*s);
      show(last);
      if (last.phase == Phase::kSucceeded || last.phase == Phase::kFailed) {
        return last;
      }
    }
  }

  // A call the server may hold for a while: on a terminal the line keeps being redrawn (the
  // call runs on another thread meanwhile; the client is not used by this one until it ends).
  http::Result<http::Response> held_call(const ApiCall& c, const TaskStatus& last) {
    if (!terminal_) {
      return call(c);
    }
    auto answer = std::async(std::launch::async, [this, &c] { return call(c); });
    while (answer.wait_for(kRedrawEvery) != std::future_status::ready) {
      show(last);
    }
    return answer.get();
  }

  // Waits `delay` (never past the deadline), redrawing the elapsed time on a terminal.
  void wait(milliseconds delay, const TaskStatus& last) {
    const auto until = std::min(Clock::now() + delay, deadline_);
    for (auto now = Clock::now(); now < until; now = Clock::now()) {
      const Clock::duration left = until - now;  // not truncated: 0 ms would spin
      std::this_thread::sleep_for(terminal_ ? std::min<Clock::duration>(kRedrawEvery, left) : left);
      if (terminal_) {
        show(last);
      }
    }
  }

  void show(const TaskStatus& s) {
    if (terminal_) {
      std::string line = status_line(task_id_, s, elapsed(), true);
      if (columns_ > 1 && line.size() >= columns_) {
        line.resize(columns_ - 1);  // a wrapped line cannot be redrawn with \r
      }
      err_ << "\r\033[K" << line << std::flush;
      line_open_ = true;
      return;
    }
    if (s.state != last_state_) {
      err_ << status_line(task_id_, s, elapsed(), false) << "\n" << std::flush;
      last_state_ = s.state;
    }
  }

  void end_line() {
    if (line_open_) {
      err_ << "\n" << std::flush;
      line_open_ = false;
    }
  }

  Outcome<std::filesystem::path> download(const std::string& url, int n) {
    std::string absolute = url;
    if (url.starts_with('/')) {
      // A relative result URL is on the server that answered.
      auto resolved = http::resolve_location(o_.server, url);
      absolute = resolved ? *resolved : url;
    }
    const std::string what = "downloading result " + std::to_string(n) + " of task " + task_id_;
    if (remaining().count() <= 0) {
      return Failure{what + ": gave up after " + std::to_string(o_.timeout.count()) + " s"};
    }
    // No Authorization: result URLs are signed, and may live on another host.
    const http::Request req{"GET", absolute, {}, {}};
    const http::Limits limits{std::min(kDownloadTimeout, remaining()), kResultBodyCap,
                              kDownloadRedirects};
    auto r = client_.send(req, limits);
    if (!r) {
      return Failure{what + " failed: " + r.error().message};
    }
    if (r->status < 200 || r->status >= 300) {
      return Failure{what + " failed: HTTP " + std::to_string(r->status) +
                     (blank(r->body) ? "" : ": " + http::shorten(r->body))};
    }
    const auto ext = result_extension(r->header("Content-Type"), r->url);
    const auto path = (o_.out_dir / result_file_name(task_id_, n, ext)).lexically_normal();
    auto saved = write_file(path, r->body);
    if (!saved) {
      return Failure{what + ": " + saved.error().message};
    }
    return {boost::system::in_place_value, path};
  }

  // Written beside the target and renamed, so a file under the final name is complete.
  static Outcome<Ok> write_file(const std::filesystem::path& path, const std::string& data) {
    auto part = path;
    part += ".part";
    {
      std::ofstream f(part, std::ios::binary | std::ios::trunc);
      f.write(data.data(), static_cast<std::streamsize>(data.size()));
      if (!f.flush()) {
        return Failure{"cannot write " + part.string()};
      }
    }
    std::error_code ec;
    std::filesystem::rename(part, path, ec);
    if (ec) {
      std::filesystem::remove(part, ec);
      return Failure{"cannot write " + path.string() + ": " + ec.message()};
    }
    return Ok{};
  }

  const GenerateOptions& o_;
  std::ostream& out_;
  std::ostream& err_;
  const bool terminal_;
  http::Client client_;
  const Clock::time_point start_ = Clock::now();
  const Clock::time_point deadline_ = start_ + o_.timeout;
  std::string task_id_;
  std::string last_state_;
  bool line_open_ = false;
  const std::size_t columns_ = terminal_columns();
};

}  // namespace

int run_generate(const GenerateOptions& o, std::ostream& out, std::ostream& err, bool terminal) {
  if (auto bad = usage_error(o)) {
    err << "imagegate generate: " << *bad << "\n";
    return kExitUsage;
  }
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec) {
    err << "imagegate: cannot create " << o.out_dir.string() << ": " << ec.message() << "\n";
    return kExitFailed;
  }
  try {
    Runner runner(o, out, err, terminal);
    if (auto done = runner.run(); !done) {
      err << "imagegate: " << done.error().message << "\n";
      return kExitFailed;
    }
  } catch (const std::exception& e) {
    err << "imagegate: unexpected error: " << e.what() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace ig::app
