#include "api/dialects/common.hpp"

#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api/dialects/generations.hpp"
#include "api/dialects/jobs.hpp"
#include "api/dialects/tasks.hpp"
#include "api/dialects/unified.hpp"

namespace ig::api::dialects {
namespace {

TEST(ParseObject, ReadsAnObject) {
  auto o = parse_object(R"({"a":[1,2.5,{"b":-1e300}],"c":null})");
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->at("a").as_array().size(), 3u);
}

TEST(ParseObject, RefusesWhatIsNotAnObject) {
  for (const char* body : {"", "[]", "null", "1", "{\"a\":", "{} {}"}) {
    auto o = parse_object(body);
    ASSERT_FALSE(o) << body;
    EXPECT_EQ(o.error().code, core::ErrorCode::kInvalidRequest) << body;
  }
}

// Found by fuzz_unified: 2e308 is read as infinity, accepted where fields are ignored, and
// echoed as `param` that no client could parse ({"j":Infinity}). Refused, naming the field.
TEST(ParseObject, RefusesNumbersBeyondADoublesRange) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"j":2e308})", "j"},
      {R"({"a":[1,-1e400]})", "a[1]"},
      {R"({"a":{"b":{"c":1e999}}})", "a.b.c"},
      {R"({"":1e999})", ""},
      {R"({"ok":{"n":1.5},"a":[1,{"b":[{"c":1e999}]}]})", "a[1].b[0].c"},
      {R"({"x":[[1,2e308]]})", "x[0][1]"},
  };
  for (const auto& [body, path] : cases) {
    auto o = parse_object(body);
    ASSERT_FALSE(o) << body;
    EXPECT_EQ(o.error().code, core::ErrorCode::kInvalidRequest) << body;
    EXPECT_EQ(o.error().param, path);
    EXPECT_EQ(o.error().message,
              (*path == '\0' ? std::string("a number") : std::string(path)) + " is out of range");
  }
}

TEST(ParseObject, EveryDialectEchoesOnlyParsableJson) {
  const std::string bodies[] = {
      R"({"model":"gpt-image-2-text-to-image","input":{"prompt":"a","x":1e400}})",
      R"({"model":"gpt-image-2","input":{"prompt":"a","x":1e400}})",
      R"({"model":"gpt-image-2","prompt":"a","j":2e308,"":{"qrompt":2333685807}})",
  };
  for (const std::string& body : bodies) {
    for (const auto& parsed : {jobs::parse_create(body), tasks_dialect::parse_create(body),
                               generations::parse_create(body), unified::parse_create(body)}) {
      if (parsed) {
        boost::system::error_code ec;
        boost::json::parse(parsed->param, ec);
        EXPECT_FALSE(ec) << body << " echoed as " << parsed->param;
      }
    }
  }
}

}  // namespace
}  // namespace ig::api::dialects
