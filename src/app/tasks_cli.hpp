#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "core/task.hpp"
#include "store/store.hpp"

namespace ig::app {

/// `imagegate tasks show ID`: prints the task, where its paid work lives and every upstream
/// call made for it, from the data dir's store, on `out` (the shape of format_task). An
/// unknown id is "imagegate: no task ID" on `err`. Returns the exit code (0, or 1).
int show_task(const Config& config, const std::string& id, std::ostream& out, std::ostream& err);

/// The text `tasks show` prints, one "name: value" per line ("-" for an empty value), then one
/// indented line per upstream call (and its message on the next line when it has one).
/// Scripts and tests parse it: the shape is a contract.
std::string format_task(const core::Task& task, const std::vector<store::UpstreamCall>& calls);

}  // namespace ig::app
