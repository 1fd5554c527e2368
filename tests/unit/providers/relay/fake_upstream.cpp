#include "unit/providers/relay/fake_upstream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace ig::providers::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

struct FakeUpstream::Impl {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
};

namespace {

// Test-only: exceptions end the connection (the peer sees a reset), never the process.
asio::awaitable<void> serve(tcp::socket socket, FakeUpstream* self,
                            std::function<Reply(FakeUpstream*, SeenRequest)> answer) {
  beast::flat_buffer buffer;
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    auto [ec, n] =
        co_await bhttp::async_read(socket, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      co_return;
    }
    const auto& req = parser.get();
    SeenRequest seen{std::string(req.method_string()), std::string(req.target()), req.body(),
                     std::string(req[bhttp::field::authorization])};
    Reply reply = answer(self, std::move(seen));
    if (reply.drop) {
      co_return;
    }
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(reply.status),
                                            req.version()};
    res.set(bhttp::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) {
      res.set(name, value);
    }
    res.keep_alive(req.keep_alive());
    res.body() = std::move(reply.body);
    res.prepare_payload();
    auto [wec, wn] = co_await bhttp::async_write(socket, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !res.keep_alive()) {
      co_return;
    }
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, FakeUpstream* self,
                                  std::function<Reply(FakeUpstream*, SeenRequest)> answer) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      co_return;
    }
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), self, answer),
                   [](std::exception_ptr) {});
  }
}

}  // namespace

FakeUpstream::FakeUpstream(Handler handler)
    : impl_(std::make_unique<Impl>()), handler_(std::move(handler)) {
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  auto answer = [](FakeUpstream* self, SeenRequest seen) { return self->answer(std::move(seen)); };
  asio::co_spawn(impl_->ioc, accept_loop(impl_->acceptor, this, answer), [](std::exception_ptr) {});
  thread_ = std::thread([this] { impl_->ioc.run(); });
}

FakeUpstream::~FakeUpstream() {
  impl_->ioc.stop();
  thread_.join();
}

Reply FakeUpstream::answer(SeenRequest seen) {
  std::lock_guard lock(mutex_);
  requests_.push_back(seen);
  return handler_(seen);
}

std::string FakeUpstream::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::vector<SeenRequest> FakeUpstream::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

int FakeUpstream::count(std::string_view method, std::string_view prefix) const {
  std::lock_guard lock(mutex_);
  int n = 0;
  for (const auto& r : requests_) {
    if (r.method == method && std::string_view(r.target).starts_with(prefix)) {
      ++n;
    }
  }
  return n;
}

}  // namespace ig::providers::testing
