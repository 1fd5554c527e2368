#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

/// A strict multipart/form-data parser (RFC 7578 over RFC 2046) for bodies that are already in
/// memory. It is exposed to untrusted input: every malformed body is a kInvalidRequest error
/// whose message says what is wrong, never a crash. Pure functions; thread-safe.
namespace ig::api {

/// One part of a form.
struct Part {
  std::string name;          // Content-Disposition `name`
  std::string filename;      // Content-Disposition `filename`; empty for a text field
  std::string content_type;  // the part's Content-Type as sent; empty when absent
  std::string body;
  bool has_filename = false;  // a `filename` parameter was present (even if empty)
};

struct MultipartLimits {
  std::size_t max_parts = 64;
  std::size_t max_header_bytes = 8 * 1024;  // per part: all of its header lines together
};

/// The boundary of a `multipart/form-data` Content-Type header (quoted or not, 1..70
/// characters of RFC 2046 `bchars`, not ending in a space).
core::Result<std::string> multipart_boundary(std::string_view content_type_header);

/// Splits a multipart/form-data body into its parts, in order. Lines end in CRLF; a preamble
/// and an epilogue are ignored; the close delimiter is required. Part header names are
/// case-insensitive; each part needs `Content-Disposition: form-data; name=...`.
core::Result<std::vector<Part>> parse_multipart(std::string_view content_type_header,
                                                std::string_view body,
                                                const MultipartLimits& limits = {});

}  // namespace ig::api
