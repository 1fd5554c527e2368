#include "http/error.hpp"

#include <stdexcept>

#include <boost/throw_exception.hpp>

namespace ig::http {

void throw_exception_from_error(const Error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(e.message), loc);
}

}  // namespace ig::http
