#include "api/multipart.hpp"

#include <algorithm>
#include <functional>
#include <optional>

#include "core/error.hpp"

namespace ig::api {
namespace {

constexpr std::size_t kMaxBoundary = 70;  // RFC 2046 §5.1.1
constexpr std::string_view kCrlf = "\r\n";

// A client's header text inside a message: printable ASCII only (so the message stays valid
// UTF-8 and one line), at most 64 characters.
std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    out += (c >= 0x20 && c <= 0x7e) ? c : '?';
  }
  return s.size() > 64 ? out + "..." : out;
}

core::Error malformed(std::string what) {
  return core::make_error(core::ErrorCode::kInvalidRequest,
                          "Invalid multipart/form-data body: " + std::move(what));
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ows(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

// RFC 7230 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 2046 bcharsnospace, plus the space that may not end a boundary.
bool is_bchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

struct HeaderParam {
  std::string name;  // lower-case
  std::string value;
};

// Parses `*( OWS ";" OWS name "=" value )` where value is a token-like run or a quoted-string
// with backslash escapes. `what` names the header in messages.
core::Result<std::vector<HeaderParam>> parse_params(std::string_view s, std::string_view what) {
  std::vector<HeaderParam> out;
  const std::string w(what);
  std::size_t i = 0;
  auto skip_ows = [&] {
    while (i < s.size() && is_ows(s[i])) {
      ++i;
    }
  };
  while (true) {
    skip_ows();
    if (i == s.size()) {
      return out;
    }
    if (s[i] != ';') {
      return malformed(w + " has an unexpected character where ';' was expected");
    }
    ++i;
    skip_ows();
    if (i == s.size()) {
      return out;  // a trailing ';' is harmless
    }
    const std::size_t name_start = i;
    while (i < s.size() && is_tchar(s[i])) {
      ++i;
    }
    if (i == name_start) {
      return malformed(w + " has a parameter without a name");
    }
    HeaderParam p{lowered(s.substr(name_start, i - name_start)), {}};
    skip_ows();
    if (i == s.size() || s[i] != '=') {
      return malformed(w + " parameter '" + p.name + "' has no value");
    }
    ++i;
    skip_ows();
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        const char c = s[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < s.size()) {
          p.value += s[i++];
          continue;
        }
        p.value += c;
      }
      if (!closed) {
        return malformed(w + " parameter '" + p.name + "' has an unterminated quoted string");
      }
    } else {
      const std::size_t start = i;
      while (i < s.size() && s[i] != ';' && !is_ows(s[i]) && s[i] != '"') {
        ++i;
      }
      if (i == start) {
        return malformed(w + " parameter '" + p.name + "' has an empty value");
      }
      p.value = std::string(s.substr(start, i - start));
    }
    for (const HeaderParam& seen : out) {
      if (seen.name == p.name) {
        return malformed(w + " has parameter '" + p.name + "' twice");
      }
    }
    out.push_back(std::move(p));
  }
}

struct PartHeaders {
  bool has_disposition = false;
  bool has_type = false;
};

core::Status parse_disposition(std::string_view value, Part& part) {
  const std::size_t semi = value.find(';');
  const std::string_view kind = trim(value.substr(0, semi));
  if (!iequals(kind, "form-data")) {
    return malformed("Content-Disposition must be form-data, got '" + shown(kind) + "'");
  }
  auto params =
      parse_params(semi == std::string_view::npos ? std::string_view{} : value.substr(semi),
                   "Content-Disposition");
  if (!params) {
    return params.error();
  }
  bool has_name = false;
  for (HeaderParam& p : *params) {
    if (p.name == "name") {
      has_name = true;
      part.name = std::move(p.value);
    } else if (p.name == "filename") {
      part.has_filename = true;
      part.filename = std::move(p.value);
    }
    // filename* (RFC 5987) must not be used with form-data (RFC 7578 §4.2); ignored.
  }
  if (!has_name || part.name.empty()) {
    return malformed("a part's Content-Disposition has no name");
  }
  return core::ok_status();
}

core::Status parse_header_line(std::string_view line, Part& part, PartHeaders& seen) {
  if (line.empty()) {
    return malformed("a part has an empty header line");
  }
  if (is_ows(line.front())) {
    return malformed("folded part header lines are not supported");
  }
  if (std::any_of(line.begin(), line.end(), is_control)) {
    return malformed("a part header contains a control character (lines must end in CRLF)");
  }
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    return malformed("a part header line has no ':'");
  }
  const std::string_view name = line.substr(0, colon);
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_tchar)) {
    return malformed("a part header has an invalid name");
  }
  const std::string_view value = trim(line.substr(colon + 1));
  if (iequals(name, "Content-Disposition")) {
    if (seen.has_disposition) {
      return malformed("a part has two Content-Disposition headers");
    }
    seen.has_disposition = true;
    return parse_disposition(value, part);
  }
  if (iequals(name, "Content-Type")) {
    if (seen.has_type) {
      return malformed("a part has two Content-Type headers");
    }
    seen.has_type = true;
    part.content_type = std::string(value);
    return core::ok_status();
  }
  if (iequals(name, "Content-Transfer-Encoding")) {
    if (!iequals(value, "binary") && !iequals(value, "8bit") && !iequals(value, "7bit")) {
      return malformed("Content-Transfer-Encoding '" + shown(value) + "' is not supported");
    }
  }
  return core::ok_status();  // other headers carry nothing a form needs
}

core::Status parse_headers(std::string_view block, Part& part) {
  PartHeaders seen;
  while (!block.empty()) {
    const std::size_t end = block.find(kCrlf);
    const std::string_view line = block.substr(0, end);
    if (auto st = parse_header_line(line, part, seen); !st) {
      return st;
    }
    if (end == std::string_view::npos) {
      break;
    }
    block.remove_prefix(end + kCrlf.size());
  }
  if (!seen.has_disposition) {
    return malformed("a part has no Content-Disposition header");
  }
  return core::ok_status();
}

}  // namespace

core::Result<std::string> multipart_boundary(std::string_view content_type_header) {
  const std::size_t semi = content_type_header.find(';');
  const std::string_view media = trim(content_type_header.substr(0, semi));
  if (!iequals(media, "multipart/form-data")) {
    return core::make_error(core::ErrorCode::kInvalidRequest,
                            "Content-Type must be multipart/form-data, got '" + shown(media) + "'");
  }
  auto params = parse_params(
      semi == std::string_view::npos ? std::string_view{} : content_type_header.substr(semi),
      "Content-Type");
  if (!params) {
    return params.error();
  }
  for (const HeaderParam& p : *params) {
    if (p.name != "boundary") {
      continue;
    }
    const std::string& b = p.value;
    if (b.empty() || b.size() > kMaxBoundary) {
      return malformed("the boundary must be 1 to 70 characters long");
    }
    if (!std::all_of(b.begin(), b.end(), is_bchar) || b.back() == ' ') {
      return malformed("the boundary contains a character RFC 2046 does not allow");
    }
    return b;
  }
  return malformed("the Content-Type header has no boundary parameter");
}

core::Result<std::vector<Part>> parse_multipart(std::string_view content_type_header,
                                                std::string_view body,
                                                const MultipartLimits& limits) {
  auto boundary = multipart_boundary(content_type_header);
  if (!boundary) {
    return boundary.error();
  }
  const std::string delimiter = "\r\n--" + *boundary;  // every delimiter but a leading one
  const std::string_view dash(delimiter.data() + 2, delimiter.size() - 2);
  const std::boyer_moore_horspool_searcher find_delimiter(delimiter.begin(), delimiter.end());
  auto search = [&](std::size_t from) -> std::size_t {
    const auto it =
        std::search(body.begin() + static_cast<std::ptrdiff_t>(from), body.end(), find_delimiter);
    return it == body.end() ? std::string_view::npos : static_cast<std::size_t>(it - body.begin());
  };

  // The first delimiter opens the body or follows the preamble's last CRLF.
  std::size_t pos = 0;
  if (body.substr(0, dash.size()) != dash) {
    const std::size_t first = search(0);
    if (first == std::string_view::npos) {
      return malformed("the boundary given in Content-Type does not occur in the body");
    }
    pos = first + kCrlf.size();
  }
  pos += dash.size();

  std::vector<Part> parts;
  while (true) {
    // Just after a delimiter: "--" closes the body; otherwise padding, CRLF, then a part.
    if (body.substr(pos, 2) == "--") {
      if (parts.empty()) {
        return malformed("the body has no parts");
      }
      return parts;  // the epilogue is ignored
    }
    while (pos < body.size() && is_ows(body[pos])) {
      ++pos;
    }
    if (body.substr(pos, kCrlf.size()) != kCrlf) {
      if (pos >= body.size()) {
        return malformed("the body ends without the closing boundary");
      }
      return malformed("a boundary line must end with CRLF");
    }
    pos += kCrlf.size();
    if (parts.size() >= limits.max_parts) {
      return malformed("more than " + std::to_string(limits.max_parts) + " parts");
    }

    Part part;
    std::string_view headers;
    if (body.substr(pos, kCrlf.size()) == kCrlf) {
      pos += kCrlf.size();  // no header lines at all
    } else {
      const std::string_view window = body.substr(pos, limits.max_header_bytes + 4);
      const std::size_t end = window.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        if (window.size() < limits.max_header_bytes + 4) {
          return malformed("a part's headers are not followed by an empty line");
        }
        return malformed("a part's headers exceed " + std::to_string(limits.max_header_bytes) +
                         " bytes");
      }
      headers = window.substr(0, end);
      pos += end + 4;
    }
    if (auto st = parse_headers(headers, part); !st) {
      return st.error();
    }

    const std::size_t next = search(pos);
    if (next == std::string_view::npos) {
      return malformed("the body ends without the closing boundary");
    }
    part.body = std::string(body.substr(pos, next - pos));
    parts.push_back(std::move(part));
    pos = next + delimiter.size();
  }
}

}  // namespace ig::api
