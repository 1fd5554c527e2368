#include "api/metrics.hpp"

#include <fmt/format.h>

namespace ig::api {

void Metrics::observe_request(std::string_view route, unsigned status, double seconds) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(std::string(route), status);
  ++requests_[key];
  auto it = latency_.find(key.first);
  if (it == latency_.end()) {
    it = latency_.emplace(key.first, Histogram{}).first;
  }
  Histogram& h = it->second;
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++h.buckets[i];
    }
  }
  ++h.count;
  h.sum += seconds;
}

std::string Metrics::render(const std::string& gauges) const {
  std::string out;
  out.reserve(4096);
  out += "# HELP imagegate_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE imagegate_http_requests_total counter\n";
  std::lock_guard lock(mu_);
  for (const auto& [key, n] : requests_) {
    out += fmt::format("imagegate_http_requests_total{{route=\"{}\",status=\"{}\"}} {}\n",
                       key.first, key.second, n);
  }
  out += "# HELP imagegate_http_request_duration_seconds Time from first byte to response.\n";
  out += "# TYPE imagegate_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      out += fmt::format(
          "imagegate_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", route,
          kBuckets[i], h.buckets[i]);
    }
    out += fmt::format(
        "imagegate_http_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", route,
        h.count);
    out += fmt::format("imagegate_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", route,
                       h.sum);
    out += fmt::format("imagegate_http_request_duration_seconds_count{{route=\"{}\"}} {}\n",
                       route, h.count);
  }
  out += gauges;
  return out;
}

}  // namespace ig::api
