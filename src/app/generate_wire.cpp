// `generate`: the pure side. Usage checks, the create call from the options, backoff, file
// names and the progress line; the wire readers are providers/relay/wire.*.
#include "app/generate.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <stdexcept>
#include <system_error>

#include <boost/throw_exception.hpp>

#include "http/url.hpp"

namespace ig::app {

using std::chrono::milliseconds;

namespace {

constexpr int kMaxImages = 10;  // unified `n`

constexpr int kBarWidth = 20;

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string seconds_text(milliseconds elapsed) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(elapsed.count()) / 1000.0);
  return buf;
}

}  // namespace

void throw_exception_from_error(const Failure& f, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(f.message), loc);
}

std::optional<std::string> usage_error(const GenerateOptions& o) {
  if (auto target = http::parse_target(o.server); !target) {
    return "--server: " + target.error().message;
  }
  if (blank(o.key)) {
    return std::string("--key must not be empty");
  }
  if (blank(o.prompt)) {
    return std::string("PROMPT must not be empty");
  }
  if (!o.mask_url.empty() && o.dialect != Dialect::kUnified) {
    return "--mask is only supported by the unified dialect (not " +
           std::string(to_string(o.dialect)) + ")";
  }
  if (!o.mask_url.empty() && o.image_urls.empty()) {
    return std::string("--mask needs at least one reference image (-i)");
  }
  if (o.n && (*o.n < 1 || *o.n > kMaxImages)) {
    return "-n must be between 1 and " + std::to_string(kMaxImages);
  }
  if (o.n && *o.n != 1 && o.dialect != Dialect::kUnified) {
    return "-n is only supported by the unified dialect (" + std::string(to_string(o.dialect)) +
           " makes one image per task)";
  }
  if (o.timeout.count() <= 0) {
    return std::string("--timeout must be positive");
  }
  if (o.out_dir.empty()) {
    return std::string("-o must not be empty");
  }
  return std::nullopt;
}

ApiCall create_call(const GenerateOptions& o) {
  providers::relay::CreateParams p;
  p.prompt = o.prompt;
  p.image_urls = o.image_urls;
  p.mask_url = o.mask_url;
  p.size = o.size;
  p.resolution = o.resolution;
  p.n = o.n;
  return providers::relay::create_call(o.dialect, p);
}

milliseconds poll_delay(int attempt) {
  const double ms = 500.0 * std::pow(1.5, std::clamp(attempt, 0, 30));
  return milliseconds(static_cast<std::int64_t>(std::min(ms, 5000.0)));
}

ApiCall long_poll_call(Dialect d, std::string_view task_id, std::chrono::seconds wait) {
  ApiCall c = status_call(d, task_id);
  c.path += c.path.find('?') == std::string::npos ? "?wait=" : "&wait=";
  c.path += std::to_string(wait.count());
  return c;
}

std::chrono::seconds long_poll_wait(std::string_view advertised, milliseconds remaining) {
  constexpr std::chrono::seconds kLongest{30};
  constexpr std::chrono::seconds kAnswerMargin{5};
  std::int64_t max_s = 0;
  const auto parsed =
      std::from_chars(advertised.data(), advertised.data() + advertised.size(), max_s);
  if (advertised.empty() || parsed.ec != std::errc() ||
      parsed.ptr != advertised.data() + advertised.size() || max_s <= 0) {
    return std::chrono::seconds(0);
  }
  const auto usable = std::chrono::duration_cast<std::chrono::seconds>(remaining - kAnswerMargin);
  return std::max(std::chrono::seconds(0),
                  std::min({kLongest, std::chrono::seconds(max_s), usable}));
}

std::string result_extension(std::string_view content_type, std::string_view url) {
  std::string type = http::ascii_lower(content_type.substr(0, content_type.find(';')));
  type.erase(type.find_last_not_of(" \t") + 1);
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"image/png", "png"},   {"image/jpeg", "jpg"},  {"image/jpg", "jpg"},
      {"image/pjpeg", "jpg"}, {"image/webp", "webp"}, {"image/gif", "gif"},
      {"image/avif", "avif"}, {"image/bmp", "bmp"},   {"image/tiff", "tiff"}};
  for (const auto& [mime, ext] : kTypes) {
    if (type == mime) {
      return std::string(ext);
    }
  }
  std::string_view path = url.substr(0, url.find_first_of("?#"));
  if (auto scheme = path.find("://"); scheme != std::string_view::npos) {
    path.remove_prefix(scheme + 3);
    const auto slash = path.find('/');
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  path = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  const auto dot = path.rfind('.');
  if (dot != std::string_view::npos) {
    std::string ext = http::ascii_lower(path.substr(dot + 1));
    const bool usable =
        !ext.empty() && ext.size() <= 5 &&
        std::all_of(ext.begin(), ext.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
    if (usable) {
      return ext == "jpeg" ? "jpg" : ext;
    }
  }
  return "bin";
}

std::string result_file_name(std::string_view task_id, int n, std::string_view ext) {
  std::string name;
  for (unsigned char c : task_id) {
    const bool safe = std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
    name.push_back(safe ? static_cast<char>(c) : '_');
  }
  if (name.empty()) {
    name = "task";
  }
  return name + "-" + std::to_string(n) + "." + std::string(ext);
}

std::string status_line(std::string_view task_id, const TaskStatus& s, milliseconds elapsed,
                        bool terminal) {
  if (!terminal) {
    std::string line =
        "task " + std::string(task_id) + ": " + s.state + " (" + seconds_text(elapsed) + ")";
    if (s.progress) {
      line += " " + std::to_string(*s.progress) + "%";
    }
    return line;
  }
  // The id goes last: a narrow terminal clips it, not the state or the progress.
  std::string line = s.state + "  " + seconds_text(elapsed);
  if (s.progress) {
    const int filled = *s.progress * kBarWidth / 100;
    line += "  [" + std::string(filled, '#') + std::string(kBarWidth - filled, '-') + "] " +
            std::to_string(*s.progress) + "%";
  }
  return line + "  task " + std::string(task_id);
}

}  // namespace ig::app
