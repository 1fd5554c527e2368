// The `unified` dialect (EvoLink): POST /v1/images/generations flat bodies, and task ids as
// GET /v1/tasks/{id} checks them (the same input). A body is refused with a 4xx error in the
// dialect's envelope, or accepted and rendered, as valid JSON, in every state.
#include <cstddef>
#include <cstdint>

#include "api/dialects/unified.hpp"
#include "support.hpp"

namespace unified = ig::api::unified;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  const std::string_view input = ig::fuzz::text(data, size);

  if (auto id = unified::check_task_id(input); !id) {
    ig::fuzz::check_refused(unified::error_status(id.error()), unified::render_error(id.error()),
                            "unified task id");
  }

  auto parsed = unified::parse_create(input);
  if (!parsed) {
    ig::fuzz::check_refused(unified::error_status(parsed.error()),
                            unified::render_error(parsed.error()), "unified");
    return 0;
  }
  ig::fuzz::require(parsed->request.dialect == ig::core::Dialect::kUnified, "unified: dialect");
  ig::fuzz::check_accepted(*parsed);
  ig::fuzz::for_each_state(
      *parsed, "task-unified-1700000000-a1b2c3d4", [](const ig::core::Task& task) {
        ig::fuzz::require_json(unified::render_task(task, {std::string(ig::fuzz::kResultUrl)}),
                               "unified task");
      });
  return 0;
}
