#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http/client.hpp"

namespace ig::http::testing {

/// One request as the server saw it.
struct SeenRequest {
  std::string method;
  std::string target;
  Headers headers;
  std::string body;
  std::string sni;     // TLS only; empty when the client sent none
  int connection = 0;  // 1-based number of the connection that carried it

  std::string header(std::string_view name) const;
};

/// An HTTP/1.1 server on 127.0.0.1, port 0, plain or TLS, with keep-alive, answering from its
/// own thread. Routes:
///   /hello            200 "hello"
///   /echo             200, body: "METHOD target\n", then "name: value\n" per header, "\n", body
///   /close            200 "bye" with Connection: close
///   /drop             200 "dropped" that looks keep-alive, then the server closes the socket
///   /partial          half a status line and header, then close
///   /stall            reads the request, then never answers (waits for the client to go)
///   /stall-body       Content-Length: 100, 10 bytes, then nothing
///   /slow             Content-Length: 10, one byte every 100 ms
///   /huge-length      Content-Length: 100000000, then 1 KiB every 100 ms
///   /lying-length     Content-Length: 10, then 64 KiB more
///   /chunked-endless  64 KiB chunks forever
///   /close-delimited  no length, 64 KiB writes forever
///   /interim          100 Continue, then 200 "final"
///   /redirect         302 to /hello
///   /status/NNN       status NNN
/// With `read_requests` false it accepts connections and never reads from them.
/// Thread-safe accessors; the destructor stops the thread.
class TestServer {
 public:
  struct Options {
    bool tls = false;
    std::string cert;  // PEM paths, for tls
    std::string key;
    bool read_requests = true;
  };

  TestServer();
  explicit TestServer(Options options);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  unsigned short port() const { return port_; }
  /// "http(s)://127.0.0.1:<port><path>"
  std::string url(std::string_view path) const;
  int connections() const { return connections_.load(); }
  /// Connections whose client closed them (or reset them) while the server waited to read.
  int closed_by_client() const { return closed_by_client_.load(); }
  std::vector<SeenRequest> requests() const;

  struct Impl;

 private:
  friend struct Impl;
  bool tls_ = false;
  std::unique_ptr<Impl> impl_;
  unsigned short port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> closed_by_client_{0};
  mutable std::mutex mutex_;
  std::vector<SeenRequest> requests_;
  std::thread thread_;
};

/// A forward proxy on 127.0.0.1: CONNECT opens a tunnel to the named 127.0.0.1 port (or, with
/// `refuse` set, answers 407); any other request is answered itself with 200 "proxied <target>".
/// Records what it was asked. Thread-safe accessors.
class TestProxy {
 public:
  explicit TestProxy(bool refuse = false);
  ~TestProxy();
  TestProxy(const TestProxy&) = delete;
  TestProxy& operator=(const TestProxy&) = delete;

  unsigned short port() const { return port_; }
  std::vector<SeenRequest> requests() const;

  struct Impl;

 private:
  friend struct Impl;
  std::unique_ptr<Impl> impl_;
  unsigned short port_ = 0;
  mutable std::mutex mutex_;
  std::vector<SeenRequest> requests_;
  std::thread thread_;
};

/// Polls `condition` every 5 ms until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

}  // namespace ig::http::testing
