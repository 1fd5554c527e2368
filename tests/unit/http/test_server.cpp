#include "unit/http/test_server.hpp"

#include <iostream>

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

namespace ig::http::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

void log_failure(std::exception_ptr e) {
  if (!e) {
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::cerr << "test server coroutine failed: " << ex.what() << "\n";
  }
}

template <class Stream>
asio::awaitable<bool> send(Stream& stream, std::string_view bytes) {
  auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), kNoThrow);
  co_return !ec;
}

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(kNoThrow);
}

tcp::socket& lowest(tcp::socket& s) {
  return s;
}
tcp::socket& lowest(ssl::stream<tcp::socket>& s) {
  return s.next_layer();
}

std::string response(std::string_view status, std::string_view fields, std::string_view body) {
  return "HTTP/1.1 " + std::string(status) + "\r\n" + std::string(fields) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

SeenRequest to_seen(const bhttp::request<bhttp::string_body>& req, int connection,
                    std::string sni) {
  SeenRequest seen;
  seen.method = std::string(req.method_string());
  seen.target = std::string(req.target());
  for (const auto& field : req) {
    seen.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  seen.body = req.body();
  seen.sni = std::move(sni);
  seen.connection = connection;
  return seen;
}

}  // namespace

std::string SeenRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) {
      return v;
    }
  }
  return {};
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until) {
      return condition();
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

struct TestServer::Impl {
  Impl(TestServer& owner, const Options& options) : owner(owner), options(options) {
    if (options.tls) {
      tls.use_certificate_chain_file(options.cert);
      tls.use_private_key_file(options.key, ssl::context::pem);
    }
    acceptor.open(tcp::v4());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
    acceptor.listen();
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(kNoThrow);
      if (ec) {
        co_return;
      }
      const int number = ++owner.connections_;
      if (!options.read_requests) {
        held.push_back(std::move(socket));
        continue;
      }
      if (options.tls) {
        asio::co_spawn(io, tls_session(std::move(socket), number), log_failure);
      } else {
        asio::co_spawn(io, session(std::move(socket), number, std::string()), log_failure);
      }
    }
  }

  asio::awaitable<void> tls_session(tcp::socket socket, int number) {
    ssl::stream<tcp::socket> stream(std::move(socket), tls);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, kNoThrow);
    if (hec) {
      co_return;
    }
    const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
    co_await serve(stream, number, sni != nullptr ? sni : "");
  }

  asio::awaitable<void> session(tcp::socket socket, int number, std::string sni) {
    co_await serve(socket, number, std::move(sni));
  }

  /// Requests until the client goes or a route ends the connection.
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, int number, std::string sni) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(256u << 20);
      auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kNoThrow);
      if (ec) {
        ++owner.closed_by_client_;
        co_return;
      }
      auto req = parser.release();
      {
        std::lock_guard lock(owner.mutex_);
        owner.requests_.push_back(to_seen(req, number, sni));
      }
      if (!co_await respond(stream, req)) {
        break;
      }
    }
    beast::error_code ignored;
    lowest(stream).shutdown(tcp::socket::shutdown_both, ignored);
    lowest(stream).close(ignored);
  }

  /// Waits until the client closes (or resets) the connection.
  template <class Stream>
  asio::awaitable<void> wait_for_close(Stream& stream) {
    char byte;
    for (;;) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(&byte, 1), kNoThrow);
      if (ec) {
        ++owner.closed_by_client_;
        co_return;
      }
    }
  }

  /// Answers one request; false when the connection must end afterwards.
  template <class Stream>
  asio::awaitable<bool> respond(Stream& s, const bhttp::request<bhttp::string_body>& req) {
    const std::string full(req.target());
    const std::string target = full.substr(0, full.find('?'));
    if (target == "/hello") {
      co_return co_await send(s, response("200 OK", "Content-Type: text/plain\r\n", "hello"));
    }
    if (target == "/echo") {
      std::string body = std::string(req.method_string()) + " " + full + "\n";
      for (const auto& field : req) {
        body.append(field.name_string()).append(": ").append(field.value()).append("\n");
      }
      body += "\n" + req.body();
      co_return co_await send(s, response("200 OK", "X-Echo: yes\r\n", body));
    }
    if (target == "/close") {
      co_await send(s, response("200 OK", "Connection: close\r\n", "bye"));
      co_return false;
    }
    if (target == "/drop") {
      co_await send(s, response("200 OK", "", "dropped"));
      co_return false;
    }
    if (target == "/partial") {
      co_await send(s, "HTTP/1.1 200 OK\r\nContent-Le");
      co_return false;
    }
    if (target == "/stall") {
      co_await wait_for_close(s);
      co_return false;
    }
    if (target == "/stall-body") {
      if (co_await send(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")) {
        co_await wait_for_close(s);
      }
      co_return false;
    }
    if (target == "/slow") {
      co_await trickle(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 10, 1, 100ms);
      co_return true;
    }
    if (target == "/huge-length") {
      co_await trickle(s, "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n", 100000000, 1024,
                       100ms);
      co_return false;
    }
    if (target == "/lying-length") {
      co_await send(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + std::string(65546, 'j'));
      co_return true;
    }
    if (target == "/chunked-endless") {
      const std::string chunk = "10000\r\n" + std::string(65536, 'c') + "\r\n";
      if (co_await send(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) {
        while (co_await send(s, chunk)) {
        }
      }
      co_return false;
    }
    if (target == "/close-delimited") {
      const std::string block(65536, 'z');
      if (co_await send(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")) {
        while (co_await send(s, block)) {
        }
      }
      co_return false;
    }
    if (target == "/interim") {
      co_return co_await send(s, "HTTP/1.1 100 Continue\r\n\r\n" + response("200 OK", "", "final"));
    }
    if (target == "/redirect") {
      co_return co_await send(s, response("302 Found", "Location: /hello\r\n", ""));
    }
    if (target.starts_with("/status/")) {
      co_return co_await send(s, response(target.substr(8) + " Status", "", "status"));
    }
    co_return co_await send(s, response("404 Not Found", "", "not found"));
  }

  template <class Stream>
  asio::awaitable<void> trickle(Stream& s, std::string header, long total, std::size_t piece,
                                std::chrono::milliseconds gap) {
    if (!co_await send(s, header)) {
      co_return;
    }
    const std::string block(piece, 'z');
    for (long sent = 0; sent < total; sent += static_cast<long>(piece)) {
      co_await pause(gap);
      if (!co_await send(s, block)) {
        co_return;
      }
    }
  }

  TestServer& owner;
  Options options;
  ssl::context tls{ssl::context::tls_server};  // outlives `io`, whose frames hold TLS streams
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<tcp::socket> held;
};

TestServer::TestServer() : TestServer(Options()) {}

TestServer::TestServer(Options options)
    : tls_(options.tls), impl_(std::make_unique<Impl>(*this, options)) {
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), log_failure);
  thread_ = std::thread([this] { impl_->io.run(); });
}

TestServer::~TestServer() {
  impl_->io.stop();
  thread_.join();
}

std::string TestServer::url(std::string_view path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
         std::string(path);
}

std::vector<SeenRequest> TestServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

struct TestProxy::Impl {
  Impl(TestProxy& owner, bool refuse) : owner(owner), refuse(refuse) {
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
      asio::co_spawn(io, session(std::make_shared<tcp::socket>(std::move(socket))), log_failure);
    }
  }

  asio::awaitable<void> session(std::shared_ptr<tcp::socket> client) {
    beast::flat_buffer buffer;
    bhttp::request_parser<bhttp::string_body> parser;
    auto [ec, n] = co_await bhttp::async_read_header(*client, buffer, parser, kNoThrow);
    if (ec) {
      co_return;
    }
    if (parser.get().method() != bhttp::verb::connect) {
      auto [bec, bn] = co_await bhttp::async_read(*client, buffer, parser, kNoThrow);
      if (bec) {
        co_return;
      }
    }
    const auto& req = parser.get();
    {
      std::lock_guard lock(owner.mutex_);
      owner.requests_.push_back(to_seen(req, 0, ""));
    }
    if (req.method() != bhttp::verb::connect) {
      co_await send(*client, response("200 OK", "Connection: close\r\n",
                                      "proxied " + std::string(req.target())));
      co_return;
    }
    if (refuse) {
      co_await send(*client, response("407 Proxy Authentication Required", "", ""));
      co_return;
    }
    const std::string target(req.target());
    const auto port = static_cast<unsigned short>(std::stoi(target.substr(target.rfind(':') + 1)));
    auto upstream = std::make_shared<tcp::socket>(io);
    auto [cec] = co_await upstream->async_connect(
        tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port), kNoThrow);
    if (cec) {
      co_await send(*client, response("502 Bad Gateway", "", ""));
      co_return;
    }
    if (!co_await send(*client, "HTTP/1.1 200 Connection established\r\n\r\n")) {
      co_return;
    }
    asio::co_spawn(io, pipe(client, upstream), log_failure);
    co_await pipe(upstream, client);
  }

  asio::awaitable<void> pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
    std::array<char, 16384> data;
    for (;;) {
      auto [ec, n] = co_await from->async_read_some(asio::buffer(data), kNoThrow);
      if (ec) {
        break;
      }
      auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(data.data(), n), kNoThrow);
      if (wec) {
        break;
      }
    }
    beast::error_code ignored;
    from->close(ignored);
    to->close(ignored);
  }

  TestProxy& owner;
  bool refuse;
  asio::io_context io;
  tcp::acceptor acceptor{io};
};

TestProxy::TestProxy(bool refuse) : impl_(std::make_unique<Impl>(*this, refuse)) {
  port_ = impl_->acceptor.local_endpoint().port();
  asio::co_spawn(impl_->io, impl_->accept_loop(), log_failure);
  thread_ = std::thread([this] { impl_->io.run(); });
}

TestProxy::~TestProxy() {
  impl_->io.stop();
  thread_.join();
}

std::vector<SeenRequest> TestProxy::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

}  // namespace ig::http::testing
