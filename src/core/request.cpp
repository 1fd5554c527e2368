#include "core/request.hpp"

#include <string>

namespace ig::core {

std::string_view to_string(Dialect d) {
  switch (d) {
    case Dialect::kJobs: return "jobs";
    case Dialect::kTasks: return "tasks";
    case Dialect::kGenerations: return "generations";
    case Dialect::kUnified: return "unified";
    case Dialect::kOpenAI: return "openai";
  }
  return "jobs";
}

bool parse_dialect(std::string_view s, Dialect& out) {
  for (Dialect d : {Dialect::kJobs, Dialect::kTasks, Dialect::kGenerations, Dialect::kUnified,
                    Dialect::kOpenAI}) {
    if (to_string(d) == s) {
      out = d;
      return true;
    }
  }
  return false;
}

std::size_t document_input_max_bytes(Dialect d) {
  constexpr std::size_t kMiB = 1024 * 1024;
  switch (d) {
    case Dialect::kUnified:
    case Dialect::kOpenAI: return 50 * kMiB;
    case Dialect::kJobs:
    case Dialect::kTasks:
    case Dialect::kGenerations: break;
  }
  return 30 * kMiB;
}

std::string input_field_name(Dialect d, std::size_t i) {
  switch (d) {
    case Dialect::kJobs:
    case Dialect::kTasks: return "input_urls[" + std::to_string(i) + "]";
    case Dialect::kGenerations:
    case Dialect::kUnified: return "image_urls[" + std::to_string(i) + "]";
    case Dialect::kOpenAI: return i == 0 ? "image" : "image[" + std::to_string(i) + "]";
  }
  return "input_urls[" + std::to_string(i) + "]";
}

std::string_view mask_field_name(Dialect d) {
  return d == Dialect::kOpenAI ? "mask" : "mask_url";
}

std::string_view effective_output_format(const GenerationRequest& r) {
  if (r.output_format.empty()) {
    return "png";
  }
  return r.output_format;
}

std::string_view mime_for_format(std::string_view format) {
  if (format == "jpeg") {
    return "image/jpeg";
  }
  if (format == "webp") {
    return "image/webp";
  }
  return "image/png";
}

std::string model_family(const GenerationRequest& r) {
  std::string_view m = r.model;
  if (r.dialect != Dialect::kOpenAI || m.empty() || m.starts_with("gpt-image-2")) {
    return "gpt-image-2";
  }
  // "gpt-image-1-2025-04-15" → "gpt-image-1": a dated snapshot routes with its family.
  // The suffix is "-YYYY-MM-DD": dashes 11, 6 and 3 characters from the end, digits between.
  if (m.size() > 11) {
    const std::string_view date = m.substr(m.size() - 11);
    bool dated = true;
    for (std::size_t i = 0; i < date.size(); ++i) {
      const bool dash = i == 0 || i == 5 || i == 8;
      dated = dated && (dash ? date[i] == '-' : date[i] >= '0' && date[i] <= '9');
    }
    if (dated) {
      m.remove_suffix(11);
    }
  }
  return std::string(m);
}

}  // namespace ig::core
