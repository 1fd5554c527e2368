#include "unit/media/test_https_server.hpp"

#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url.hpp>

namespace ig::media::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

using TlsStream = ssl::stream<tcp::socket>;

asio::awaitable<bool> send(TlsStream& stream, std::string_view bytes) {
  auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), kNoThrow);
  co_return !ec;
}

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(kNoThrow);
}

std::string head(std::string_view status, std::string_view fields) {
  return "HTTP/1.1 " + std::string(status) + "\r\n" + std::string(fields) +
         "Connection: close\r\n\r\n";
}

}  // namespace

const TestCerts& test_certs() {
  static const TestCerts certs = [] {
    const std::string source = env_or("IG_SOURCE_DIR", IG_TEST_SOURCE_DIR);
    const std::string dir = env_or("IG_BINARY_DIR", IG_TEST_BINARY_DIR) + "/test-ca";
    const std::string command = "'" + source + "/tests/fixtures/make-test-ca.sh' '" + dir + "'";
    if (std::system(command.c_str()) != 0) {
      throw std::runtime_error("failed: " + command);
    }
    return TestCerts{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key", dir + "/other.pem",
                     dir + "/other.key"};
  }();
  return certs;
}

struct TestHttpsServer::Impl {
  Impl(TestHttpsServer& owner, const std::string& cert, const std::string& key, std::string png,
       bool silent)
      : owner(owner), png(std::move(png)), silent(silent) {
    tls.use_certificate_chain_file(cert);
    tls.use_private_key_file(key, ssl::context::pem);
    acceptor.open(tcp::v4());
    acceptor.bind(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
    acceptor.listen();
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
      if (ec) {
        co_return;
      }
      ++owner.connections_;
      if (silent) {
        held.push_back(std::move(socket));
        continue;
      }
      asio::co_spawn(io, session(std::move(socket)), [](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::cerr << "test server session failed: " << ex.what() << "\n";
          }
        }
      });
    }
  }

  asio::awaitable<void> session(tcp::socket socket) {
    TlsStream stream(std::move(socket), tls);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
    if (hec) {
      co_return;
    }
    beast::flat_buffer buffer;
    http::request<http::empty_body> req;
    auto [rec, n] = co_await http::async_read(stream, buffer, req, kNoThrow);
    if (rec) {
      co_return;
    }
    const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
    {
      std::lock_guard lock(owner.mutex_);
      owner.requests_.push_back(
          SeenRequest{std::string(req.target()), std::string(req[http::field::host]),
                      std::string(req[http::field::user_agent]),
                      std::string(req[http::field::accept]), sni != nullptr ? sni : ""});
    }
    co_await respond(stream, std::string(req.target()));
    beast::error_code ignored;
    stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream.lowest_layer().close(ignored);
  }

  asio::awaitable<void> respond(TlsStream& s, std::string target) {
    auto parsed = boost::urls::parse_origin_form(target);
    std::string path = parsed ? std::string(parsed->path()) : target;
    if (path == "/image.png" || path == "/redirect-chain/0") {
      co_await send(s, head("200 OK", "Content-Type: image/png\r\nContent-Length: " +
                                          std::to_string(png.size()) + "\r\n") +
                           png);
    } else if (path == "/text") {
      co_await send(s,
                    head("200 OK", "Content-Type: text/plain\r\nContent-Length: 5\r\n") + "hello");
    } else if (path == "/redirect") {
      auto to = parsed->params().find("to");
      std::string location = to != parsed->params().end() ? (*to).value : "/";
      co_await send(s, head("302 Found", "Location: " + location + "\r\nContent-Length: 0\r\n"));
    } else if (path == "/redirect-no-location") {
      co_await send(s, head("302 Found", "Content-Length: 0\r\n"));
    } else if (path.starts_with("/redirect-chain/")) {
      int n = std::stoi(path.substr(16));
      co_await send(s, head("302 Found", "Location: /redirect-chain/" + std::to_string(n - 1) +
                                             "\r\nContent-Length: 0\r\n"));
    } else if (path == "/lying-length") {
      co_await stream_bytes(s, head("200 OK", "Content-Length: 10\r\n"), 40 << 20, 0ms);
    } else if (path == "/declared-huge") {
      co_await stream_bytes(s, head("200 OK", "Content-Length: 100000000\r\n"), 100000000, 100ms,
                            1024);
    } else if (path == "/chunked-endless") {
      co_await endless_chunks(s);
    } else if (path == "/close-delimited") {
      co_await stream_bytes(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 1ll << 40, 0ms);
    } else if (path == "/slow") {
      co_await stream_bytes(s, head("200 OK", "Content-Length: 100\r\n"), 100, 200ms, 1);
    } else if (path == "/short-body") {
      co_await send(s, head("200 OK", "Content-Length: 1000\r\n") + std::string(10, 'x'));
    } else {
      co_await send(s, head("404 Not Found", "Content-Length: 9\r\n") + "not found");
    }
  }

  /// Writes `header`, then `total` bytes in pieces of `piece`, pausing `gap` between pieces,
  /// until done or the client goes away.
  asio::awaitable<void> stream_bytes(TlsStream& s, std::string header, long long total,
                                     std::chrono::milliseconds gap, std::size_t piece = 65536) {
    if (!co_await send(s, header)) {
      co_return;
    }
    const std::string block(piece, 'z');
    for (long long sent = 0; sent < total; sent += static_cast<long long>(piece)) {
      auto n = static_cast<std::size_t>(std::min<long long>(total - sent, piece));
      if (!co_await send(s, std::string_view(block).substr(0, n))) {
        co_return;
      }
      if (gap.count() > 0) {
        co_await pause(gap);
      }
    }
  }

  asio::awaitable<void> endless_chunks(TlsStream& s) {
    if (!co_await send(s, head("200 OK", "Transfer-Encoding: chunked\r\n"))) {
      co_return;
    }
    const std::string chunk = "10000\r\n" + std::string(65536, 'c') + "\r\n";
    while (co_await send(s, chunk)) {
    }
  }

  TestHttpsServer& owner;
  std::string png;
  bool silent;
  ssl::context tls{ssl::context::tls_server};  // outlives `io`, whose frames hold TLS streams
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<tcp::socket> held;
};

TestHttpsServer::TestHttpsServer(const std::string& cert, const std::string& key, std::string png,
                                 bool silent)
    : impl_(std::make_unique<Impl>(*this, cert, key, std::move(png), silent)) {
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), [](std::exception_ptr e) {
    if (e) {
      std::cerr << "test server accept loop failed\n";
    }
  });
  thread_ = std::thread([this] { impl_->io.run(); });
}

TestHttpsServer::~TestHttpsServer() {
  impl_->io.stop();
  thread_.join();
}

std::string TestHttpsServer::url(std::string_view path) const {
  return "https://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

std::vector<SeenRequest> TestHttpsServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

}  // namespace ig::media::testing
