// libvips is initialised once per process, by the process, never by the library.
#include <vips/vips8>

#include <gtest/gtest.h>

namespace {

class VipsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_EQ(VIPS_INIT("ig_providers_tests"), 0) << vips_error_buffer(); }
};

[[maybe_unused]] ::testing::Environment* const kVipsEnvironment =
    ::testing::AddGlobalTestEnvironment(new VipsEnvironment);

}  // namespace
