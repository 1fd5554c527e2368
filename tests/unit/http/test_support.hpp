#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "http/async_client.hpp"

namespace ig::http::testing {

/// Runs `a` on `io` (on this thread) until it completes; other work on `io`, such as pooled
/// connections' idle timers, is left pending. Throws what `a` threw, or on a 30 s hang.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> a) {
  std::optional<T> out;
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T value) {
    error = e;
    out = std::move(value);
    done = true;
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done) {
    if (io.stopped()) {
      io.restart();
    }
    io.run_one_for(std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() > until) {
      throw std::runtime_error("the awaitable did not complete within 30 s");
    }
  }
  if (error) {
    std::rethrow_exception(error);
  }
  return std::move(*out);
}

/// Runs whatever is pending on `io` for `d` (idle timers and the like).
inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
  if (io.stopped()) {
    io.restart();
  }
  io.run_for(d);
}

inline std::string describe(const Result<Response>& r) {
  if (r) {
    return "HTTP " + std::to_string(r->status) + " with " + std::to_string(r->body.size()) +
           " bytes";
  }
  return "error " + std::to_string(static_cast<int>(r.error().kind)) + " (sent " +
         (r.error().sent ? "yes" : "no") + "): " + r.error().message;
}

}  // namespace ig::http::testing
