#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "app/config.hpp"
#include "core/result.hpp"

namespace ig::store {
class Store;
}

namespace ig::app {

/// Wires every module together and serves until SIGINT/SIGTERM, then drains. Returns the
/// process exit code.
int serve(const Config& config);

/// Opens the configured store as `serve` does, applying missing migrations: PostgreSQL when
/// store.url is set, else the data dir's SQLite database (creating the data dir). For the CLI
/// subcommands that read or change it too.
core::Result<std::unique_ptr<store::Store>> open_store(const Config& config);

}  // namespace ig::app
