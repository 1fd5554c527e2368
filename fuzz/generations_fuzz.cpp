// The `generations` dialect (aivideoapi): POST /v1/images/generations bodies with an `input`
// object. A body is refused with a 4xx error in the dialect's envelope, or accepted with a size
// and rendered, as valid JSON, in every state.
#include <cstddef>
#include <cstdint>

#include "api/dialects/generations.hpp"
#include "support.hpp"

namespace generations = ig::api::generations;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  auto parsed = generations::parse_create(ig::fuzz::text(data, size));
  if (!parsed) {
    ig::fuzz::check_refused(generations::error_status(parsed.error()),
                            generations::render_error(parsed.error()), "generations");
    return 0;
  }
  ig::fuzz::require(parsed->request.dialect == ig::core::Dialect::kGenerations,
                    "generations: dialect");
  ig::fuzz::check_accepted(*parsed);
  ig::fuzz::for_each_state(
      *parsed, "5f0c2a7e-8e43-4c8e-9a55-6b1d2f0c9e11", [](const ig::core::Task& task) {
        ig::fuzz::require_json(generations::render_created(task), "generations create");
        ig::fuzz::require_json(
            generations::render_task(task, {std::string(ig::fuzz::kResultUrl)}, 1'700'086'400),
            "generations query");
      });
  return 0;
}
