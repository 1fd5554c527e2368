// The multipart/form-data parser: the input's first line is the Content-Type header, the rest
// the body. Every body parses or is refused with kInvalidRequest. A parse within tight limits
// agrees with the parse within the default ones, and the parts' bodies are slices of the body.
#include <cstddef>
#include <cstdint>

#include "api/multipart.hpp"
#include "core/error.hpp"
#include "support.hpp"

using ig::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  const std::string_view input = ig::fuzz::text(data, size);
  const auto newline = input.find('\n');
  const std::string_view content_type = input.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);

  const ig::api::MultipartLimits limits;
  auto parts = ig::api::parse_multipart(content_type, body, limits);
  if (!parts) {
    require(parts.error().code == ig::core::ErrorCode::kInvalidRequest,
            "multipart: a bad body is kInvalidRequest");
  } else {
    require(!parts->empty() && parts->size() <= limits.max_parts, "multipart: 1..max_parts");
    std::size_t total = 0;
    for (const auto& part : *parts) {
      require(!part.name.empty(), "multipart: every part has a name");
      require(part.has_filename || part.filename.empty(), "multipart: filename without flag");
      require(body.find(part.body) != std::string_view::npos, "multipart: body is a slice");
      total += part.body.size();
    }
    require(total <= body.size(), "multipart: parts fit in the body");
  }

  const ig::api::MultipartLimits tight{.max_parts = 2, .max_header_bytes = 64};
  auto tight_parts = ig::api::parse_multipart(content_type, body, tight);
  if (tight_parts) {
    require(static_cast<bool>(parts) && parts->size() == tight_parts->size(),
            "multipart: tight limits accept only what the default limits accept");
    for (std::size_t i = 0; i < tight_parts->size(); ++i) {
      const auto& a = (*parts)[i];
      const auto& b = (*tight_parts)[i];
      require(a.name == b.name && a.filename == b.filename && a.body == b.body &&
                  a.content_type == b.content_type,
              "multipart: the same parts under both limits");
    }
  }
  return 0;
}
