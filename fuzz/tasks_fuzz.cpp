// The `tasks` dialect (HiAPI): POST /v1/tasks bodies, and the `page` / `page_size` query of
// GET /v1/tasks (the input's first line and the rest). A body is refused with a 4xx error in
// the dialect's envelope, or accepted and rendered, as valid JSON, in every state.
#include <cstddef>
#include <cstdint>

#include "api/dialects/tasks.hpp"
#include "support.hpp"

namespace tasks = ig::api::tasks_dialect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ig::fuzz::InputScope scope;
  const std::string_view input = ig::fuzz::text(data, size);

  const auto newline = input.find('\n');
  const std::string_view page = input.substr(0, newline);
  const std::string_view page_size =
      newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);
  if (auto paging = tasks::parse_list_query(page, page_size)) {
    ig::fuzz::require(paging->first >= 1, "tasks: page >= 1");
    ig::fuzz::require(paging->second >= 1 && paging->second <= tasks::kMaxPageSize,
                      "tasks: page_size in 1..kMaxPageSize");
  } else {
    ig::fuzz::check_refused(tasks::error_status(paging.error()),
                            tasks::render_error(paging.error()), "tasks list");
  }

  auto parsed = tasks::parse_create(input);
  if (!parsed) {
    ig::fuzz::check_refused(tasks::error_status(parsed.error()),
                            tasks::render_error(parsed.error()), "tasks");
    return 0;
  }
  ig::fuzz::require(parsed->request.dialect == ig::core::Dialect::kTasks, "tasks: dialect");
  ig::fuzz::check_accepted(*parsed);
  ig::fuzz::for_each_state(
      *parsed, "tk-hiapi-01M80ZM6184HPHZ51AZPRBYH6W", [](const ig::core::Task& task) {
        const std::vector<std::string> urls{std::string(ig::fuzz::kResultUrl)};
        ig::fuzz::require_json(tasks::render_created(task), "tasks create");
        ig::fuzz::require_json(tasks::render_task(task, urls, 1'700'086'400), "tasks query");
        ig::fuzz::require_json(tasks::render_list({task}, {urls}, 1'700'000'000, 1, 20, 1),
                               "tasks list");
      });
  return 0;
}
