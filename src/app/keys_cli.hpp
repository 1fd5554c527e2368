#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "app/config.hpp"

namespace ig::app {

/// Where the key and credit commands act: the data dir's store directly, or a running
/// server's admin API (`--server URL --admin-token T`) when `server` is set.
struct AdminTarget {
  std::string server;       // "" = the data dir
  std::string admin_token;  // for the admin API
};

/// `keys create`: prints the new secret key alone on the first line of `out` (scripts read
/// it), details on `err`. `credits` (micro-credits) makes the new account metered.
int keys_create(const Config& config, const AdminTarget& target, const std::string& name,
                std::optional<std::int64_t> credits, std::ostream& out, std::ostream& err);
/// `keys list`: one line per key (id, prefix, name, account, state, limits); never secrets.
int keys_list(const Config& config, const AdminTarget& target, std::ostream& out,
              std::ostream& err);
/// `keys disable ID`.
int keys_disable(const Config& config, const AdminTarget& target, std::int64_t id,
                 std::ostream& out, std::ostream& err);
/// `credits add --key-prefix P --amount N`: a top-up (or, negative, an adjustment) of the
/// account that owns the key with prefix P. Prints the new balance.
int credits_add(const Config& config, const AdminTarget& target, const std::string& key_prefix,
                std::int64_t amount, std::ostream& out, std::ostream& err);

}  // namespace ig::app
