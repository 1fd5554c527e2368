#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ig::media::testing {

/// Paths of the test CA and certificates made by tests/fixtures/make-test-ca.sh.
struct TestCerts {
  std::string ca;
  std::string server_cert;  // 127.0.0.1 and localhost
  std::string server_key;
  std::string other_cert;  // other.example only
  std::string other_key;
};

/// Runs make-test-ca.sh once per process (under IG_BINARY_DIR) and returns the paths.
/// Throws std::runtime_error when the script fails.
const TestCerts& test_certs();

/// One request as the server saw it.
struct SeenRequest {
  std::string target;
  std::string host;
  std::string user_agent;
  std::string accept;
  std::string sni;  // empty when the client sent none
};

/// A local HTTPS server on 127.0.0.1, port 0, answering from its own thread. Routes:
///   /image.png               the PNG given to the constructor
///   /text                    text/plain "hello"
///   /redirect?to=URL         302 to URL
///   /redirect-no-location    302 without Location
///   /redirect-chain/N        302 to /redirect-chain/N-1; N = 0 serves the PNG
///   /lying-length            Content-Length: 10, then 40 MB
///   /declared-huge           Content-Length: 100000000, then 1 KiB every 100 ms
///   /chunked-endless         chunked, 64 KiB chunks forever
///   /close-delimited         no length, 64 KiB writes forever, body ends at close
///   /slow                    Content-Length: 100, one byte every 200 ms
///   /short-body              Content-Length: 1000, 10 bytes, then close
///   anything else            404
/// With `silent` set it accepts TCP connections and never answers (handshake timeouts).
/// Thread-safe accessors; the destructor stops the thread.
class TestHttpsServer {
 public:
  TestHttpsServer(const std::string& cert, const std::string& key, std::string png,
                  bool silent = false);
  ~TestHttpsServer();
  TestHttpsServer(const TestHttpsServer&) = delete;
  TestHttpsServer& operator=(const TestHttpsServer&) = delete;

  unsigned short port() const { return port_; }
  /// "https://127.0.0.1:<port><path>"
  std::string url(std::string_view path) const;
  /// TCP connections accepted so far.
  int connections() const { return connections_.load(); }
  std::vector<SeenRequest> requests() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  unsigned short port_ = 0;
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<SeenRequest> requests_;
  std::thread thread_;

  friend struct Impl;
};

}  // namespace ig::media::testing
