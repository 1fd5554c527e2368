#include "core/url_check.hpp"

#include <boost/url/parse.hpp>

#include "core/codec.hpp"

namespace ig::core {

Status check_user_url(std::string_view url, std::string_view param, std::size_t max_len) {
  auto fail = [&](std::string msg) {
    return make_error(ErrorCode::kValidationFailed, std::move(msg), std::string(param));
  };
  if (url.empty()) {
    return fail(std::string(param) + " must not be empty");
  }
  if (url.size() > max_len) {
    return fail(std::string(param) + " must be at most " + std::to_string(max_len) +
                " characters");
  }
  if (url.size() >= 5 && (url.substr(0, 5) == "data:" || url.substr(0, 5) == "DATA:")) {
    return fail(std::string(param) +
                ": data: URLs are not supported; host the image and pass its https:// URL");
  }
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    return fail(std::string(param) + " is not a valid URL: " + echo_text(url, 200));
  }
  if (parsed->scheme_id() != boost::urls::scheme::https) {
    return fail(std::string(param) + " must use https://");
  }
  if (!parsed->has_authority() || parsed->encoded_host().empty()) {
    return fail(std::string(param) + " must name a host");
  }
  // Boost.URL 1.81 reads "https://127.0.0.1.nip.io/x" as host 127.0.0.1 and path ".nip.io/x";
  // a real URL's path is empty or starts with '/'.
  if (!parsed->encoded_path().empty() && !parsed->encoded_path().starts_with("/")) {
    return fail(std::string(param) + " is not a valid URL: " + echo_text(url, 200));
  }
  if (parsed->has_userinfo()) {
    return fail(std::string(param) + " must not contain credentials");
  }
  return ok_status();
}

}  // namespace ig::core
