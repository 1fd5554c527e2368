#pragma once

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/error.hpp"

namespace ig::core {

/// A value or an Error: how the request path reports failure without exceptions.
/// Not thread-safe; a plain value type.
template <class T>
class [[nodiscard]] Result {
 public:
  // Default-constructible for coroutine plumbing (asio::co_spawn); holds a default T.
  Result()
    requires std::is_default_constructible_v<T>
  = default;
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

 private:
  std::variant<T, Error> v_;
};

struct Ok {};

/// Result of an operation that yields nothing but can fail.
using Status = Result<Ok>;

inline Status ok_status() { return Ok{}; }

}  // namespace ig::core
