#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace ig::api {

namespace http = boost::beast::http;

/// A parsed request and the response the handler builds; both plain values.
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// Per-request facts the server knows before the handler runs.
struct RequestInfo {
  std::string request_id;  // X-Request-ID as received, or generated
  std::string remote;      // "ip:port"
  boost::asio::ip::address peer;  // the socket's peer (unspecified when unknown)
  std::chrono::steady_clock::time_point start;
  std::string route;  // filled in by the router: the route's name for logs and metrics
};

/// Builds a response with a JSON body.
Response json_response(unsigned status, std::string body, unsigned version = 11,
                       bool keep_alive = true);

/// Builds a response with a plain-text body.
Response text_response(unsigned status, std::string body, std::string_view content_type,
                       unsigned version = 11, bool keep_alive = true);

}  // namespace ig::api
