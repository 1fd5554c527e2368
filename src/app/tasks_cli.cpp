#include "app/tasks_cli.hpp"

#include <string_view>

#include <fmt/format.h>

#include "app/serve.hpp"
#include "store/store.hpp"

namespace ig::app {
namespace {

// A value on one line of the output: "-" when empty, line breaks as spaces.
std::string field(std::string_view v) {
  if (v.empty()) {
    return "-";
  }
  std::string out(v);
  for (char& c : out) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  return out;
}

std::string upstream_line(const core::Task& t) {
  if (t.upstream_route.empty()) {
    return "-";
  }
  return t.upstream_route + "/" + field(t.upstream_id);
}

std::string usage_line(const core::TokenUsage& u) {
  if (u.empty()) {
    return "-";
  }
  return fmt::format("input_tokens={} output_tokens={} total_tokens={}", u.input_tokens,
                     u.output_tokens, u.total_tokens);
}

// "" (succeeded) reads as "ok"; the other words are the store's.
std::string_view call_class(const store::UpstreamCall& c) {
  return c.error_class.empty() ? std::string_view("ok") : std::string_view(c.error_class);
}

}  // namespace

std::string format_task(const core::Task& t, const std::vector<store::UpstreamCall>& calls) {
  std::string out;
  auto line = [&out](std::string_view name, std::string_view value) {
    out += fmt::format("{}: {}\n", name, value);
  };
  out += fmt::format("task {}\n", t.id);
  line("dialect", core::to_string(t.request.dialect));
  line("model", field(t.request.model));
  line("state", core::to_string(t.state));
  line("attempt", std::to_string(t.attempt));
  line("created_ms", std::to_string(t.created_ms));
  line("completed_ms", std::to_string(t.completed_ms));
  line("fail_code", field(t.fail_code));
  line("fail_msg", field(t.fail_msg));
  line("upstream", upstream_line(t));
  line("usage", usage_line(t.usage));
  line("results", std::to_string(t.results.size()));
  line("calls", std::to_string(calls.size()));
  for (std::size_t k = 0; k < calls.size(); ++k) {
    const auto& c = calls[k];
    out += fmt::format(
        "  call {} attempt={} route={} kind={} upstream_id={} http_status={} duration_ms={} "
        "class={} code={}\n",
        k + 1, c.attempt, field(c.route), field(c.provider_kind), field(c.upstream_id),
        c.http_status, c.duration_ms, call_class(c), field(c.error_code));
    if (!c.message.empty()) {
      out += fmt::format("      message: {}\n", field(c.message));
    }
  }
  return out;
}

int show_task(const Config& config, const std::string& id, std::ostream& out, std::ostream& err) {
  auto store = open_store(config);
  if (!store) {
    err << "imagegate: " << store.error().message << "\n";
    return 1;
  }
  auto task = (*store)->get_task(id);
  if (!task) {
    err << "imagegate: " << task.error().message << "\n";
    return 1;
  }
  if (!*task) {
    err << "imagegate: no task " << id << "\n";
    return 1;
  }
  auto calls = (*store)->list_upstream_calls((*task)->row_id);
  if (!calls) {
    err << "imagegate: " << calls.error().message << "\n";
    return 1;
  }
  out << format_task(**task, *calls);
  // The callback, when the task has one: where, which webhook-id, and every attempt.
  if (auto cb = (*store)->task_callback((*task)->row_id); cb && *cb) {
    const auto& [d, attempts] = **cb;
    out << "callback: " << d.state << " " << d.url << " webhook-id " << d.msg_id << "\n";
    for (const auto& a : attempts) {
      out << "  attempt at " << a.started_ms << " ms: HTTP " << a.http_status << ", "
          << a.latency_ms << " ms" << (a.error.empty() ? "" : ", " + a.error) << "\n";
    }
  }
  out << std::flush;
  return 0;
}

}  // namespace ig::app
