// Authentication from memory: known keys and unknown ones are both remembered for the cache
// time, a disable on this node takes effect at once.
#include "api/auth.hpp"

#include <chrono>
#include <string>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "unit/store/test_db.hpp"

namespace ig::api {
namespace {

namespace asio = boost::asio;
using core::ErrorCode;

class AuthTest : public ::testing::Test {
 protected:
  static std::unique_ptr<store::SqliteStore> open(const store::testing::TempDir& dir) {
    store::SqliteOptions opts;
    opts.path = dir.path() / "imagegate.db";
    auto opened = store::SqliteStore::open(opts);
    EXPECT_TRUE(opened.ok());
    return opened.ok() ? std::move(*opened) : nullptr;
  }

  core::Result<store::ApiKey> auth(std::string_view header) {
    asio::io_context ioc;
    auto f = asio::co_spawn(ioc, auth_.authenticate(header), asio::use_future);
    ioc.run();
    return f.get();
  }

  store::ApiKey add_key(std::string_view secret) {
    store::ApiKey k;
    k.name = "k";
    k.prefix = std::string(secret.substr(0, 10));
    k.secret_hash = hash_key(secret);
    auto created = store_->create_key(k);
    EXPECT_TRUE(created.ok()) << created.error().message;
    return *created;
  }

  store::testing::TempDir dir_;
  std::unique_ptr<store::SqliteStore> store_ = open(dir_);
  core::ManualClock clock_{1'700'000'000'000};
  asio::thread_pool pool_{1};
  Authenticator auth_{*store_, pool_.get_executor(), clock_, std::chrono::seconds(5)};
};

TEST_F(AuthTest, AnUnknownKeyIsRememberedUntilTheCacheTimeEnds) {
  auto first = auth("Bearer sk-not-yet-a-key");
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, ErrorCode::kUnauthorized);
  EXPECT_EQ(first.error().message, "invalid API key");
  // The store learns the key now (no real secret can be guessed ahead like this; the test
  // does it to see whether the second answer came from the store or from memory).
  add_key("sk-not-yet-a-key");
  auto second = auth("Bearer sk-not-yet-a-key");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message, "invalid API key");
  clock_.advance_ms(5'001);
  auto later = auth("Bearer sk-not-yet-a-key");
  ASSERT_TRUE(later.ok()) << later.error().message;
  EXPECT_EQ(later->name, "k");
}

TEST_F(AuthTest, AKnownKeyIsServedFromMemoryAndForgottenAtOnce) {
  auto key = add_key("sk-known-key-1");
  ASSERT_TRUE(auth("Bearer sk-known-key-1").ok());
  store::KeyPatch patch;
  patch.disabled = true;
  ASSERT_TRUE(store_->update_key(key.id, patch).ok());
  // Cached: still accepted until the cache time ends or this node forgets it.
  EXPECT_TRUE(auth("Bearer sk-known-key-1").ok());
  auth_.forget(key.id);
  auto r = auth("Bearer sk-known-key-1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "this API key is disabled");
}

}  // namespace
}  // namespace ig::api

namespace ig::api {
namespace {

// Keys are stored and looked up by their SHA-256 in lower-case hex (FIPS 180-2's vectors),
// the same on every thread, each of which keeps its own hashing context.
TEST(HashKey, IsTheSha256OfTheKeyInHex) {
  EXPECT_EQ(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_key(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string other;
  std::thread t([&] { other = hash_key("abc"); });
  t.join();
  EXPECT_EQ(other, hash_key("abc"));
  EXPECT_EQ(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace ig::api
