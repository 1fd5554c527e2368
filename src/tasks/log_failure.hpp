#pragma once

#include <exception>
#include <string_view>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <spdlog/spdlog.h>

namespace ig::tasks {

/// The completion of a co_spawned loop or run: logs the exception that ended it, if any, as
/// "<what>: <message>" (a cancellation is not a failure and is not logged).
inline void log_failure(std::exception_ptr e, std::string_view what) {
  if (!e) {
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& ex) {
    if (ex.code() != boost::asio::error::operation_aborted) {
      spdlog::error("{}: {}", what, ex.what());
    }
  } catch (const std::exception& ex) {
    spdlog::error("{}: {}", what, ex.what());
  } catch (...) {
    spdlog::error("{}", what);
  }
}

}  // namespace ig::tasks
