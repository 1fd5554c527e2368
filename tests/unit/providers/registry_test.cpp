#include "providers/registry.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace ig::providers {
namespace {

class NamedProvider final : public Provider {
 public:
  explicit NamedProvider(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  boost::asio::awaitable<GenerateResult> generate(GenerateJob) override {
    co_return GenerateResult{};
  }

 private:
  std::string name_;
};

TEST(ProviderRegistryTest, FindsProvidersByName) {
  ProviderRegistry registry;
  auto sandbox = std::make_shared<NamedProvider>("sandbox");
  auto openai = std::make_shared<NamedProvider>("openai");
  registry.add(sandbox);
  registry.add(openai);

  EXPECT_EQ(registry.find("sandbox"), sandbox);
  EXPECT_EQ(registry.find("openai"), openai);
  EXPECT_EQ(registry.find("relay"), nullptr);
  EXPECT_EQ(registry.find(""), nullptr);
  EXPECT_EQ(registry.find("Sandbox"), nullptr) << "names are exact";
}

TEST(ProviderRegistryTest, TheDefaultIsTheFirstAdded) {
  ProviderRegistry registry;
  EXPECT_EQ(registry.default_provider(), nullptr);
  auto first = std::make_shared<NamedProvider>("openai");
  registry.add(nullptr);
  registry.add(first);
  registry.add(std::make_shared<NamedProvider>("sandbox"));
  EXPECT_EQ(registry.default_provider(), first);
}

TEST(ProviderRegistryTest, ADuplicateNameKeepsTheFirst) {
  ProviderRegistry registry;
  auto first = std::make_shared<NamedProvider>("sandbox");
  registry.add(first);
  registry.add(std::make_shared<NamedProvider>("sandbox"));
  EXPECT_EQ(registry.find("sandbox"), first);
}

}  // namespace
}  // namespace ig::providers
