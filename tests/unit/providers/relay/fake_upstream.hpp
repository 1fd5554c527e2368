#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace ig::providers::testing {

/// One request as the fake upstream saw it.
struct SeenRequest {
  std::string method;
  std::string target;  // path and query
  std::string body;
  std::string authorization;
};

/// What the fake answers. `drop`: close the connection without answering (after reading the
/// request).
struct Reply {
  unsigned status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  bool drop = false;
};

/// A plain-HTTP/1.1 server on 127.0.0.1, port 0, answering from its own thread with a handler
/// (called under a lock, one request at a time). Keep-alive connections are served until the
/// peer closes. Thread-safe accessors; the destructor stops the thread.
class FakeUpstream {
 public:
  using Handler = std::function<Reply(const SeenRequest&)>;

  explicit FakeUpstream(Handler handler);
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  /// "http://127.0.0.1:<port>"
  std::string base_url() const;
  std::vector<SeenRequest> requests() const;
  /// Requests whose method is `method` and whose target starts with `prefix`.
  int count(std::string_view method, std::string_view prefix) const;

  struct Impl;

 private:
  Reply answer(SeenRequest seen);

  std::unique_ptr<Impl> impl_;
  unsigned short port_ = 0;
  mutable std::mutex mutex_;
  Handler handler_;
  std::vector<SeenRequest> requests_;
  std::thread thread_;
};

}  // namespace ig::providers::testing
