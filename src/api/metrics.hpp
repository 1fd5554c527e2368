#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace ig::api {

/// Prometheus metrics of the HTTP layer plus gauges read at scrape time. Thread-safe.
class Metrics {
 public:
  /// Records one answered request: its route name, status and latency in seconds.
  void observe_request(std::string_view route, unsigned status, double seconds);

  /// Renders the text exposition format. `gauges` are extra lines (name{labels} value)
  /// computed by the caller at scrape time (tasks by state, queue depth).
  std::string render(const std::string& gauges) const;

  static constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1.0,  2.5,   10.0};

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, unsigned>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
};

}  // namespace ig::api
