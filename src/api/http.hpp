#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "runtime/memory_budget.hpp"
#include "storage/result_storage.hpp"

namespace ig::api {

namespace http = boost::beast::http;

/// A parsed request and the response the handler builds; both plain values.
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// Where the body of a streamed response goes (Server-Sent Events), piece by piece, while the
/// connection stays open. Used on the connection's strand by one producer; not thread-safe.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  /// Sends `bytes` now (as one chunk); false when they could not be sent (the client is gone,
  /// or did not read them within the write timeout).
  virtual boost::asio::awaitable<bool> write(std::string_view bytes) = 0;
  /// False once the client has gone or the server is draining: the producer should end.
  virtual bool open() const = 0;
};

/// Writes a streamed response's body; the response ends when it returns.
using StreamProducer = std::function<boost::asio::awaitable<void>(StreamWriter&)>;

/// Per-request facts the server knows before the handler runs.
struct RequestInfo {
  std::string request_id;  // X-Request-ID as received, or generated
  std::string remote;      // "ip:port"
  boost::asio::ip::address peer;  // the socket's peer (unspecified when unknown)
  std::chrono::steady_clock::time_point start;
  std::string route;  // filled in by the router: the route's name for logs and metrics
  // Set by a handler whose response is a stream: the handler's response (a 200) is then only
  // the header, sent without a Content-Length, and this writes the body (see stream_response).
  StreamProducer stream;
  // Bytes of the process-wide memory caps this request holds: its body on an upload path
  // (taken by the server before reading it; a handler done with the body may release it
  // sooner) and its answer (taken by a handler before building a large one). Given back at
  // the latest with the RequestInfo, once the response has been written.
  runtime::MemoryBudget::Lease body_memory;
  runtime::MemoryBudget::Lease answer_memory;
  // Set by a handler whose body is a range of a file (a hosted result): the response carries
  // no body and a Content-Length of `file_length`, and the server sends the bytes from
  // `file_offset` with sendfile(2), never copying them through user space.
  std::optional<storage::OpenFile> file;
  std::uint64_t file_offset = 0;
  std::uint64_t file_length = 0;
};

/// `bytes` of `budget` for one request, or an empty lease when they do not fit now. A request
/// larger than the whole cap takes all of it: it is served when it is alone rather than never.
inline runtime::MemoryBudget::Lease reserve_memory(runtime::MemoryBudget& budget,
                                                   std::size_t bytes) {
  if (budget.capacity() != 0 && bytes > budget.capacity()) {
    bytes = budget.capacity();
  }
  return budget.try_acquire(bytes);
}

/// Builds a response with a JSON body.
Response json_response(unsigned status, std::string body, unsigned version = 11,
                       bool keep_alive = true);

/// The header of a streamed response (200, `content_type`); the body comes from the
/// RequestInfo::stream the handler sets beside it.
Response stream_response(std::string_view content_type);

/// Builds a response with a plain-text body.
Response text_response(unsigned status, std::string body, std::string_view content_type,
                       unsigned version = 11, bool keep_alive = true);

}  // namespace ig::api
