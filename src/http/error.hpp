#pragma once

#include <string>
#include <utility>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace ig::http {

/// Why an outbound request produced no usable response. An HTTP status of 4xx or 5xx is not
/// an error here: the caller gets the response and decides.
enum class ErrorKind {
  kInvalidUrl,        // not an absolute http:// or https:// URL with a host
  kResolve,           // DNS lookup failed
  kConnect,           // no address accepted the connection
  kTls,               // handshake or certificate verification failed
  kTimeout,           // the call's deadline passed
  kTooLarge,          // the response body is larger than the caller's cap
  kTooManyRedirects,  // more redirects than the caller allows
  kProtocol,          // the peer broke HTTP (or closed early)
  kAddressRefused,    // every resolved address was refused by the caller's AddressFilter
  kCancelled,         // the awaiting coroutine was cancelled
};

/// What went wrong, with a message fit to show a user. A plain value.
struct Error {
  ErrorKind kind = ErrorKind::kProtocol;
  std::string message;
  /// Some of the request had been written when the call failed: the peer may have acted on it
  /// (a paid upstream call whose outcome is unknown). False: it certainly did nothing.
  bool sent = false;
  /// The response's status when its header had arrived before the failure (a body over the
  /// cap, or cut short); 0 otherwise.
  unsigned status = 0;
};

inline Error make_error(ErrorKind kind, std::string message, bool sent = false) {
  return Error{kind, std::move(message), sent};
}

/// Found by ADL when `.value()` is called on a Result that holds an Error.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

/// A value or an Error.
template <class T>
using Result = boost::system::result<T, Error>;

}  // namespace ig::http
