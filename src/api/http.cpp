#include "api/http.hpp"

namespace ig::api {

Response json_response(unsigned status, std::string body, unsigned version, bool keep_alive) {
  return text_response(status, std::move(body), "application/json", version, keep_alive);
}

Response stream_response(std::string_view content_type) {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, content_type);
  return res;
}

Response text_response(unsigned status, std::string body, std::string_view content_type,
                       unsigned version, bool keep_alive) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, content_type);
  res.body() = std::move(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace ig::api
