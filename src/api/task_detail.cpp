#include "api/task_detail.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "api/admin_common.hpp"
#include "billing/money.hpp"

namespace ig::api {
namespace {

namespace json = boost::json;

json::value text_or_null(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

// A reference as the client gave it, or, for an image uploaded with the request, a signed URL
// of the stored upload.
json::value input_url(const std::string& url, const FileUrl& file_url, std::int64_t expires_s) {
  if (url.empty()) {
    return nullptr;
  }
  if (url.starts_with(core::kUploadPrefix)) {
    return json::value(
        file_url(std::string_view(url).substr(core::kUploadPrefix.size()), expires_s));
  }
  return json::value(url);
}

json::object request_json(const core::GenerationRequest& r, const FileUrl& file_url,
                          std::int64_t expires_s) {
  json::array inputs;
  for (const auto& u : r.input_urls) {
    inputs.push_back(input_url(u, file_url, expires_s));
  }
  const bool sized = r.size.width > 0 && r.size.height > 0;
  return json::object{
      {"model", r.model},
      {"mode", r.mode == core::Mode::kImageToImage ? "image_to_image" : "text_to_image"},
      {"prompt", r.prompt},
      {"aspect_ratio", r.aspect_ratio},
      {"resolution", core::to_string(r.tier)},
      {"size", sized ? json::value(fmt::format("{}x{}", r.size.width, r.size.height))
                     : json::value(nullptr)},
      {"size_label", text_or_null(r.size_label)},
      {"quality", text_or_null(r.quality)},
      {"n", r.n},
      {"output_format", core::effective_output_format(r)},
      {"input_urls", std::move(inputs)},
      {"mask_url", input_url(r.mask_url, file_url, expires_s)},
      {"callback_url", text_or_null(r.callback_url)},
      {"background", text_or_null(r.background)},
      {"output_compression",
       r.output_compression < 0 ? json::value(nullptr) : json::value(r.output_compression)},
  };
}

std::string call_class(const store::UpstreamCall& c) {
  return c.error_class.empty() ? "ok" : c.error_class;
}

json::object call_json(const store::UpstreamCall& c) {
  const bool running = c.error_class == "in_flight";
  return json::object{
      {"attempt", c.attempt},
      {"route", c.route},
      {"kind", c.provider_kind},
      {"upstream_id", text_or_null(c.upstream_id)},
      {"http_status", c.http_status == 0 ? json::value(nullptr) : json::value(c.http_status)},
      {"started_at_ms", c.started_ms},
      {"duration_ms", running ? json::value(nullptr) : json::value(c.duration_ms)},
      {"class", call_class(c)},
      {"code", text_or_null(c.error_code)},
      {"message", text_or_null(c.message)},
  };
}

struct Event {
  std::int64_t at_ms = 0;
  std::string what;
  std::string detail;
  int call = -1;  // index in calls, for a call
};

std::vector<Event> timeline(const TaskDetail& d) {
  const core::Task& t = d.task;
  std::vector<Event> events;
  events.push_back({t.created_ms, "created",
                    std::string(core::to_string(t.request.dialect)) + " " + t.request.model});
  if (t.started_ms > 0) {
    events.push_back({t.started_ms, "claimed", "run by a dispatcher"});
  }
  for (std::size_t i = 0; i < d.calls.size(); ++i) {
    const auto& c = d.calls[i];
    std::string detail = fmt::format("{} ({}), attempt {}: ", c.route, c.provider_kind, c.attempt);
    if (c.error_class == "in_flight") {
      detail += "in flight";
    } else {
      detail += call_class(c);
      if (c.http_status != 0) {
        detail += fmt::format(", HTTP {}", c.http_status);
      }
      detail += fmt::format(", {} ms", c.duration_ms);
      if (!c.error_code.empty()) {
        detail += ", " + c.error_code;
      }
    }
    events.push_back({c.started_ms, "call", std::move(detail), static_cast<int>(i)});
  }
  for (const auto& e : d.ledger) {
    if (e.kind == "capture") {
      events.push_back(
          {e.created_ms, "captured", billing::format_credits(e.price) + " credits charged"});
    } else if (e.kind == "refund") {
      events.push_back(
          {e.created_ms, "refunded", billing::format_credits(e.price) + " credits given back"});
    }
  }
  if (core::is_terminal(t.state)) {
    std::string detail = t.fail_code.empty()
                             ? fmt::format("{} image(s)", t.results.size())
                             : t.fail_code + (t.fail_msg.empty() ? "" : ": " + t.fail_msg);
    events.push_back({t.completed_ms, std::string(core::to_string(t.state)), std::move(detail)});
  }
  if (d.callback) {
    const auto& [delivery, attempts] = *d.callback;
    for (const auto& a : attempts) {
      std::string detail = delivery.url + ": ";
      detail +=
          a.http_status != 0 ? fmt::format("HTTP {}", a.http_status) : std::string("no answer");
      detail += fmt::format(" in {} ms", a.latency_ms);
      if (!a.error.empty()) {
        detail += " (" + a.error + ")";
      }
      events.push_back({a.started_ms, "callback", std::move(detail)});
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.at_ms < b.at_ms; });
  return events;
}

}  // namespace

core::Result<std::optional<TaskDetail>> read_task_detail(store::Store& store, const std::string& id,
                                                         bool operator_view) {
  auto task = store.get_task(id);
  if (!task) {
    return task.error();
  }
  if (!*task) {
    return std::optional<TaskDetail>();
  }
  TaskDetail d;
  d.task = std::move(**task);
  d.operator_view = operator_view;
  auto ledger = store.task_ledger(d.task.row_id);
  if (!ledger) {
    return ledger.error();
  }
  d.ledger = std::move(*ledger);
  if (operator_view) {
    auto calls = store.list_upstream_calls(d.task.row_id);
    if (!calls) {
      return calls.error();
    }
    d.calls = std::move(*calls);
    auto callback = store.task_callback(d.task.row_id);
    if (!callback) {
      return callback.error();
    }
    d.callback = std::move(*callback);
  }
  return std::optional<TaskDetail>(std::move(d));
}

json::object task_detail_json(const TaskDetail& d, const FileUrl& file_url,
                              std::int64_t urls_expire_at_s) {
  const core::Task& t = d.task;
  json::object o = admin_common::task_json(t);
  if (!d.operator_view) {
    // Where the work ran is the operator's business.
    o.erase("upstream_route");
    o.erase("upstream_id");
  }
  o["request"] = request_json(t.request, file_url, urls_expire_at_s);
  o["param"] = t.param;
  json::array results;
  for (const auto& r : t.results) {
    results.push_back(json::object{{"url", file_url(r.key, urls_expire_at_s)},
                                   {"expires_at", urls_expire_at_s},
                                   {"width", r.width},
                                   {"height", r.height},
                                   {"content_type", r.content_type}});
  }
  o["results"] = std::move(results);
  // What the ledger settled: the capture's price, nothing after a refund, null until then.
  std::string settlement = "none";
  json::value charged = nullptr;
  for (const auto& e : d.ledger) {
    if (e.kind == "hold" && settlement == "none") {
      settlement = "held";
    } else if (e.kind == "capture") {
      settlement = "captured";
      charged = billing::credits_as_double(e.price);
    } else if (e.kind == "refund") {
      settlement = "refunded";
      charged = 0;
    }
  }
  o["charged"] = std::move(charged);
  o["settlement"] = settlement;
  json::array events;
  for (auto& e : timeline(d)) {
    json::object ev{{"at_ms", e.at_ms}, {"what", e.what}, {"detail", e.detail}};
    if (e.call >= 0) {
      ev["call"] = e.call;
    }
    events.push_back(std::move(ev));
  }
  o["events"] = std::move(events);
  if (d.operator_view) {
    json::array calls;
    for (const auto& c : d.calls) {
      calls.push_back(call_json(c));
    }
    o["calls"] = std::move(calls);
    if (d.callback) {
      const auto& delivery = d.callback->first;
      o["callback"] =
          json::object{{"url", delivery.url},
                       {"state", delivery.state},
                       {"attempts", static_cast<std::int64_t>(d.callback->second.size())}};
    } else {
      o["callback"] = nullptr;
    }
  }
  return o;
}

}  // namespace ig::api
