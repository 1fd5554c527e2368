#pragma once

#include "app/config.hpp"

namespace ig::app {

/// Wires every module together and serves until SIGINT/SIGTERM, then drains. Returns the
/// process exit code.
int serve(const Config& config);

/// Opens the data dir's store and prints a new key on stdout. Returns the exit code.
int create_key(const Config& config, const std::string& name, std::int64_t credits);

}  // namespace ig::app
