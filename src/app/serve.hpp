#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "app/config.hpp"
#include "core/result.hpp"

namespace ig::store {
class SqliteStore;
}

namespace ig::app {

/// Wires every module together and serves until SIGINT/SIGTERM, then drains. Returns the
/// process exit code.
int serve(const Config& config);

/// Opens (creating the data dir and applying migrations) the data dir's SQLite store
/// read-write, as `serve` does. For the CLI subcommands that read or change it.
core::Result<std::unique_ptr<store::SqliteStore>> open_store(const Config& config);

}  // namespace ig::app
