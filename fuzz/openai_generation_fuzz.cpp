// The `openai` dialect: POST /openai/v1/images/generations JSON bodies. A body is refused with
// a 4xx error in OpenAI's envelope, or accepted and answered (the images, or the task's
// failure), as valid JSON.
#include <cstddef>
#include <cstdint>

#include "api/dialects/openai.hpp"
#include "support.hpp"

namespace openai = ig::api::openai_dialect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  auto parsed = openai::parse_generation(ig::fuzz::text(data, size));
  if (!parsed) {
    ig::fuzz::check_refused(openai::error_status(parsed.error()),
                            openai::render_error(parsed.error()), "openai generation");
    return 0;
  }
  ig::fuzz::require(parsed->request.dialect == ig::core::Dialect::kOpenAI, "openai: dialect");
  ig::fuzz::require(parsed->request.n >= 1 && parsed->request.n <= openai::kMaxN, "openai: n");
  ig::fuzz::check_accepted(*parsed);
  ig::fuzz::for_each_state(*parsed, "tk-openai-1", [](const ig::core::Task& task) {
    if (task.state == ig::core::TaskState::kSucceeded) {
      const std::vector<std::string> images(static_cast<std::size_t>(task.request.n), "\x89PNG");
      ig::fuzz::require_json(openai::render_images(task, images), "openai images");
    } else if (ig::core::is_terminal(task.state)) {
      ig::fuzz::require_json(openai::render_error(openai::task_error(task)), "openai failure");
    }
  });
  return 0;
}
