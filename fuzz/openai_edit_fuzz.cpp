// The `openai` dialect: POST /openai/v1/images/edits, multipart/form-data. The input's first
// line is the Content-Type header, the rest the body. A request is refused with a 4xx error in
// OpenAI's envelope, or accepted with 1..16 images within their limits and answered as valid
// JSON.
#include <cstddef>
#include <cstdint>

#include "api/dialects/openai.hpp"
#include "support.hpp"

namespace openai = ig::api::openai_dialect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  const std::string_view input = ig::fuzz::text(data, size);
  const auto newline = input.find('\n');
  const std::string_view content_type = input.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);

  auto parsed = openai::parse_edit(content_type, body);
  if (!parsed) {
    ig::fuzz::check_refused(openai::error_status(parsed.error()),
                            openai::render_error(parsed.error()), "openai edit");
    return 0;
  }
  const auto& images = parsed->images;
  ig::fuzz::require(!images.empty() && images.size() <= openai::kMaxEditImages,
                    "openai edit: 1..16 images");
  for (const auto& image : images) {
    ig::fuzz::require(image.bytes.size() < openai::kMaxImageBytes, "openai edit: image size");
  }
  ig::fuzz::require(!parsed->mask || parsed->mask->bytes.size() < openai::kMaxMaskBytes,
                    "openai edit: mask size");
  ig::fuzz::require(parsed->request.input_urls.empty() && parsed->request.mask_url.empty(),
                    "openai edit: uploads are not URLs");
  ig::fuzz::require(parsed->request.mode == ig::core::Mode::kImageToImage,
                    "openai edit: image-to-image");
  ig::fuzz::check_accepted(*parsed);
  ig::fuzz::for_each_state(*parsed, "tk-openai-1", [](const ig::core::Task& task) {
    if (task.state == ig::core::TaskState::kSucceeded) {
      const std::vector<std::string> images(static_cast<std::size_t>(task.request.n), "\x89PNG");
      ig::fuzz::require_json(openai::render_images(task, images, {{1024, 1024}}), "openai images");
    } else if (ig::core::is_terminal(task.state)) {
      ig::fuzz::require_json(openai::render_error(openai::task_error(task)), "openai failure");
    }
  });
  return 0;
}
