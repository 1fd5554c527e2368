#include "providers/registry.hpp"

#include <utility>

namespace ig::providers {

void ProviderRegistry::add(std::shared_ptr<Provider> provider) {
  if (provider == nullptr) {
    return;
  }
  providers_.push_back(std::move(provider));
}

std::shared_ptr<Provider> ProviderRegistry::find(std::string_view name) const {
  for (const auto& provider : providers_) {
    if (provider->name() == name) {
      return provider;
    }
  }
  return nullptr;
}

std::shared_ptr<Provider> ProviderRegistry::default_provider() const {
  if (providers_.empty()) {
    return nullptr;
  }
  return providers_.front();
}

}  // namespace ig::providers
