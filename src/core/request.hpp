#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/sizes.hpp"

namespace ig::core {

/// The API a task was created through; a task is always rendered in its creating dialect.
enum class Dialect { kJobs, kTasks, kGenerations, kUnified, kOpenAI };

std::string_view to_string(Dialect d);
bool parse_dialect(std::string_view s, Dialect& out);

enum class Mode { kTextToImage, kImageToImage };

/// The canonical, dialect-free description of one generation. Dialects produce it; the
/// task service, dispatcher and providers only ever see this. A plain value type.
struct GenerationRequest {
  Dialect dialect = Dialect::kJobs;
  std::string model;  // the public model id exactly as the client sent it
  Mode mode = Mode::kTextToImage;
  std::string prompt;
  std::vector<std::string> input_urls;  // reference images (https)
  std::string mask_url;                 // empty: no mask
  std::string aspect_ratio = "auto";    // "auto" or "W:H" as the client gave it
  Tier tier = Tier::k1K;
  std::string quality;        // passed through to the provider; empty: provider default
  std::string output_format;  // "png" | "jpeg" | "webp"; empty means png
  int n = 1;                  // images in this task
  /// Resolved output size. {0,0} means "from the first reference image" (auto aspect with
  /// references), resolved by the dispatcher once the reference is fetched.
  Size size;
  std::string callback_url;  // empty: none (stored now; delivery is a later module)
  // Provider pass-through options of some dialects.
  bool safety_checker = true;     // `generations`: nsfw_checker
  std::string background;         // `openai`: transparent | opaque | auto; empty: default
  int output_compression = -1;    // `openai`: 0..100 for jpeg/webp; -1: default
  std::string size_label;         // the size exactly as the client asked ("1024x1024", "auto")
};

/// Prefix of `input_urls` entries that name an image uploaded with the request (multipart
/// `openai` edits) and kept in result storage, e.g. "upload:<task id>/in-1.png". User-supplied
/// URLs can never take this form: they must be https.
inline constexpr std::string_view kUploadPrefix = "upload:";

/// The largest reference image the dialect's document accepts, in bytes: 30 MB per image for
/// `jobs` (seed 000), which `tasks` and `generations` (no figure of their own) share; 50 MB for
/// `unified` (seed 001) and `openai` (API-NOTES). The server's `media.input_max_bytes` caps it.
std::size_t document_input_max_bytes(Dialect d);

/// How the dialect's document names its i-th reference image and its mask, for messages about
/// them ("image_urls[0]", "input_urls[0]", "image"; "mask_url", "mask").
std::string input_field_name(Dialect d, std::size_t i);
std::string_view mask_field_name(Dialect d);

/// The model family a request is routed by (`[routing]` keys): every dialect's GPT Image 2 name
/// ("gpt-image-2-text-to-image", "gpt-image-2/text-to-image", "gpt-image-2-2026-04-21", …) is
/// "gpt-image-2"; another OpenAI model is its own name without a date suffix.
std::string model_family(const GenerationRequest& r);

/// Output format with the default applied ("png" when empty).
std::string_view effective_output_format(const GenerationRequest& r);
/// MIME type for an output format ("image/png", "image/jpeg", "image/webp").
std::string_view mime_for_format(std::string_view format);

}  // namespace ig::core
