#pragma once

#include <string_view>

#include "core/result.hpp"

namespace ig::core {

/// Create-time check of a user-supplied URL (input image, mask, callback): an absolute
/// `https://` URL with a host, no userinfo, at most `max_len` characters. `data:` URLs and
/// raw base64 are refused with their own message. Address checks happen later, at connect time.
Status check_user_url(std::string_view url, std::string_view param, std::size_t max_len = 2048);

}  // namespace ig::core
