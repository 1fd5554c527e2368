#pragma once

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/storage_ptr.hpp>

namespace ig::core {

/// Memory for one short-lived JSON parse: a 4 KiB buffer inside this object (on the stack
/// where it is declared), then the heap; nothing is freed before the whole object goes, which
/// makes the DOM's destruction free. Whatever is parsed into it must not outlive it: copy the
/// fields out as strings, never a json::value (a copy keeps its source's memory).
class JsonScratch {
 public:
  JsonScratch() = default;
  JsonScratch(const JsonScratch&) = delete;
  JsonScratch& operator=(const JsonScratch&) = delete;
  boost::json::storage_ptr storage() { return boost::json::storage_ptr(&resource_); }

 private:
  unsigned char buffer_[4096];
  boost::json::monotonic_resource resource_{buffer_, sizeof buffer_};
};

}  // namespace ig::core
