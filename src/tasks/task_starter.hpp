#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "store/store.hpp"

namespace ig::tasks {

/// Starts tasks that this process creates without a trip through the queue: the create writes
/// the task already claimed (one commit instead of a create and a claim) and hands it over.
/// Implemented by the Dispatcher; thread-safe.
class TaskStarter {
 public:
  /// What a claimed insert needs: the lease owner and the lease's end.
  struct Slot {
    std::string owner;
    std::int64_t lease_until_ms = 0;
  };

  virtual ~TaskStarter() = default;
  /// Takes one run slot for a task about to be created; nullopt when every slot is busy (or
  /// the process is stopping): the task is then created queued, for a later claim.
  virtual std::optional<Slot> reserve() = 0;
  /// Gives a reserved slot back: the task was not written.
  virtual void unreserve() = 0;
  /// Runs a task written claimed under a reserved slot.
  virtual void start(store::Claim claim) = 0;
};

}  // namespace ig::tasks
