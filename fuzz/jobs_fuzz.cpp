// The `jobs` dialect (Kie): POST /api/v1/jobs/createTask bodies. Every body is either refused
// with a 4xx error in the dialect's JSON envelope, or accepted and then rendered by recordInfo,
// as valid JSON, in every state the task can reach.
#include <cstddef>
#include <cstdint>

#include "api/dialects/jobs.hpp"
#include "support.hpp"

namespace jobs = ig::api::jobs;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  auto parsed = jobs::parse_create(ig::fuzz::text(data, size));
  if (!parsed) {
    ig::fuzz::check_refused(jobs::error_status(parsed.error()), jobs::render_error(parsed.error()),
                            "jobs");
    return 0;
  }
  ig::fuzz::require(parsed->request.dialect == ig::core::Dialect::kJobs, "jobs: dialect");
  ig::fuzz::check_accepted(*parsed);
  const std::string id = "df160b0a-bbcf-46b6-9880-d72769a6d6a0";
  ig::fuzz::require_json(jobs::render_created(id), "jobs createTask answer");
  ig::fuzz::for_each_state(*parsed, id, [](const ig::core::Task& task) {
    ig::fuzz::require_json(jobs::render_record(task, {std::string(ig::fuzz::kResultUrl)}),
                           "jobs recordInfo");
  });
  return 0;
}
