#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "providers/provider.hpp"

namespace ig::providers {

/// Name → provider. Built once at startup with add(), then read-only: the const lookups are
/// thread-safe once building is done; add() is not.
class ProviderRegistry {
 public:
  /// Adds a provider. A null provider is ignored; when two share a name, find() returns the
  /// first added.
  void add(std::shared_ptr<Provider> provider);
  /// The provider called `name`, or null.
  std::shared_ptr<Provider> find(std::string_view name) const;
  /// The first provider added, or null when none was.
  std::shared_ptr<Provider> default_provider() const;

 private:
  std::vector<std::shared_ptr<Provider>> providers_;
};

}  // namespace ig::providers
