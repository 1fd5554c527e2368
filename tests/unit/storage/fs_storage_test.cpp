#include "storage/fs_storage.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "unit/storage/temp_dir.hpp"

namespace ig::storage {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> list_tree(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    out.push_back(fs::relative(e.path(), root).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Built with append: g++ 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
std::string task_key(int task, std::string_view name) {
  std::string key = "t";
  key += std::to_string(task);
  key += '/';
  key += name;
  return key;
}

class FsStorageTest : public ::testing::Test {
 protected:
  test::TempDir dir_;
  core::ManualClock clock_{1'700'000'000'000};
  FsResultStorage storage_{dir_.path() / "results", clock_};
};

TEST_F(FsStorageTest, PutThenReadWholeObject) {
  const std::string png = "\x89PNG\r\n\x1a\n payload";
  ASSERT_TRUE(storage_.put("task-1/1.png", png).ok());

  EXPECT_EQ(storage_.size("task-1/1.png"), png.size());
  auto got = storage_.read("task-1/1.png", 0, 1 << 20);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, png);
  EXPECT_TRUE(fs::is_regular_file(dir_.path() / "results" / "task-1" / "1.png"));
}

TEST_F(FsStorageTest, AnOpenFileIsTheWholeObjectAndOutlivesItsDeletion) {
  ASSERT_TRUE(storage_.put("task-1/1.png", "0123456789").ok());
  auto file = storage_.open_file("task-1/1.png");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->size(), 10u);
  fs::remove(dir_.path() / "results" / "task-1" / "1.png");  // the janitor, meanwhile
  char buf[16] = {};
  ASSERT_EQ(::pread(file->fd(), buf, sizeof(buf), 0), 10);
  EXPECT_EQ(std::string(buf, 10), "0123456789");

  EXPECT_FALSE(storage_.open_file("task-1/1.png").has_value());
  EXPECT_FALSE(storage_.open_file("task-1/missing.png").has_value());
  EXPECT_FALSE(storage_.open_file("../outside").has_value());
  ASSERT_TRUE(fs::create_directories(dir_.path() / "results" / "task-2" / "dir.png"));
  EXPECT_FALSE(storage_.open_file("task-2/dir.png").has_value());  // not a regular file

  // Moved, the descriptor has one owner and is closed once.
  auto again = storage_.put("t/2.png", "ab");
  ASSERT_TRUE(again.ok());
  auto a = storage_.open_file("t/2.png");
  ASSERT_TRUE(a.has_value());
  const int fd = a->fd();
  OpenFile b = std::move(*a);
  EXPECT_EQ(a->fd(), -1);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.fd(), fd);
}

TEST_F(FsStorageTest, RangeReadsAreClampedToTheObject) {
  ASSERT_TRUE(storage_.put("t/1.png", "0123456789").ok());

  EXPECT_EQ(*storage_.read("t/1.png", 0, 3), "012");
  EXPECT_EQ(*storage_.read("t/1.png", 4, 2), "45");
  EXPECT_EQ(*storage_.read("t/1.png", 7, 100), "789");
  EXPECT_EQ(*storage_.read("t/1.png", 9, UINT64_MAX), "9");
  EXPECT_EQ(*storage_.read("t/1.png", 3, 0), "");
  auto at_end = storage_.read("t/1.png", 10, 5);
  ASSERT_TRUE(at_end.ok());
  EXPECT_EQ(*at_end, "");
  auto beyond = storage_.read("t/1.png", 11, 5);
  ASSERT_TRUE(beyond.ok());
  EXPECT_EQ(*beyond, "");
  auto far_beyond = storage_.read("t/1.png", UINT64_MAX, UINT64_MAX);
  ASSERT_TRUE(far_beyond.ok());
  EXPECT_EQ(*far_beyond, "");
}

TEST_F(FsStorageTest, EmptyObjectsAreObjects) {
  ASSERT_TRUE(storage_.put("t/empty.png", "").ok());
  EXPECT_EQ(storage_.size("t/empty.png"), 0u);
  auto got = storage_.read("t/empty.png", 0, 10);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "");
}

TEST_F(FsStorageTest, MissingObjectIsNotFound) {
  EXPECT_EQ(storage_.size("nope/1.png"), std::nullopt);
  auto got = storage_.read("nope/1.png", 0, 10);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, core::ErrorCode::kNotFound);

  ASSERT_TRUE(storage_.put("t/1.png", "x").ok());
  EXPECT_EQ(storage_.size("t"), std::nullopt) << "a task directory is not an object";
  EXPECT_FALSE(storage_.read("t", 0, 10).ok());
}

TEST_F(FsStorageTest, ReplacingLeavesOnlyTheNewObjectAndNoTempFiles) {
  ASSERT_TRUE(storage_.put("task-1/1.png", std::string(100'000, 'a')).ok());
  ASSERT_TRUE(storage_.put("task-1/1.png", "second").ok());
  ASSERT_TRUE(storage_.put("task-1/2.png", "other").ok());

  EXPECT_EQ(*storage_.read("task-1/1.png", 0, 100), "second");
  EXPECT_EQ(list_tree(dir_.path() / "results"),
            (std::vector<std::string>{"task-1", "task-1/1.png", "task-1/2.png"}));
}

TEST_F(FsStorageTest, ConcurrentReadersNeverSeePartialObjects) {
  const std::string small(300'000, 'a');
  const std::string large(900'000, 'b');
  ASSERT_TRUE(storage_.put("t/1.png", small).ok());

  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 60; ++i) {
      EXPECT_TRUE(storage_.put("t/1.png", i % 2 == 0 ? large : small).ok());
    }
    done = true;
  });
  int reads = 0;
  while (!done || reads == 0) {
    auto got = storage_.read("t/1.png", 0, UINT64_MAX);
    ASSERT_TRUE(got.ok());
    ASSERT_TRUE(*got == small || *got == large) << "partial object of " << got->size();
    ++reads;
  }
  writer.join();
  EXPECT_EQ(list_tree(dir_.path() / "results"), (std::vector<std::string>{"t", "t/1.png"}));
}

TEST_F(FsStorageTest, RefusesBadKeysWithoutTouchingTheFilesystem) {
  const std::vector<std::string> bad = {
      "",
      "/etc/passwd",
      "../escape.png",
      "t/../../escape.png",
      "t/..",
      "..",
      ".",
      "t/./1.png",
      "t\\1.png",
      std::string("t/1\0.png", 8),
      "t//1.png",
      "t/",
      "t/1 .png",
      "t/1.png?x",
      "t/\xc3\xa9.png",
      ".hidden",
      "t/.1.png.tmp-1-0",
      std::string(1025, 'a'),
  };
  for (const std::string& key : bad) {
    SCOPED_TRACE(testing::PrintToString(key));
    auto put = storage_.put(key, "x");
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, core::ErrorCode::kInvalidRequest);
    EXPECT_EQ(storage_.size(key), std::nullopt);
    auto got = storage_.read(key, 0, 1);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, core::ErrorCode::kInvalidRequest);
  }
  EXPECT_FALSE(fs::exists(dir_.path() / "results")) << "nothing was created";
  EXPECT_FALSE(fs::exists(dir_.path() / "escape.png"));
}

TEST_F(FsStorageTest, AcceptsTaskKeys) {
  for (const char* key : {"task-unified-1700000000-abcdefgh/1.png",
                          "0f8fad5b-d9cb-469f-a165-70867728950e/2.webp", "a_b.C-9/x/1.jpeg"}) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(is_valid_key(key));
    EXPECT_TRUE(storage_.put(key, "x").ok());
    EXPECT_EQ(storage_.size(key), 1u);
  }
}

TEST_F(FsStorageTest, DeleteOlderThanUsesTheInjectedClock) {
  const std::int64_t t0 = clock_.now_ms();
  ASSERT_TRUE(storage_.put("old/1.png", "a").ok());
  ASSERT_TRUE(storage_.put("old/2.png", "b").ok());
  ASSERT_TRUE(storage_.put("mixed/1.png", "c").ok());
  clock_.advance_ms(60'000);
  ASSERT_TRUE(storage_.put("mixed/2.png", "d").ok());
  ASSERT_TRUE(storage_.put("new/1.png", "e").ok());

  EXPECT_EQ(storage_.delete_older_than(t0), 0u) << "stored exactly at the cutoff: kept";
  EXPECT_EQ(storage_.delete_older_than(t0 + 30'000), 3u);

  EXPECT_EQ(storage_.size("old/1.png"), std::nullopt);
  EXPECT_EQ(storage_.size("mixed/1.png"), std::nullopt);
  EXPECT_EQ(storage_.size("mixed/2.png"), 1u);
  EXPECT_EQ(storage_.size("new/1.png"), 1u);
  EXPECT_EQ(list_tree(dir_.path() / "results"),
            (std::vector<std::string>{"mixed", "mixed/2.png", "new", "new/1.png"}))
      << "the emptied task directory is gone, the root stays";

  EXPECT_EQ(storage_.delete_older_than(t0 + 30'000), 0u);
  EXPECT_EQ(storage_.delete_older_than(clock_.now_ms() + 1), 2u);
  EXPECT_TRUE(fs::is_directory(dir_.path() / "results"));
  EXPECT_TRUE(list_tree(dir_.path() / "results").empty());
}

TEST_F(FsStorageTest, DeleteOlderThanOnMissingRootIsZero) {
  EXPECT_EQ(storage_.delete_older_than(INT64_MAX), 0u);
}

TEST_F(FsStorageTest, DeleteLeavesFreshTempFilesOfRunningPutsAlone) {
  ASSERT_TRUE(storage_.put("t/1.png", "a").ok());
  const fs::path temp = dir_.path() / "results" / "t" / ".2.png.tmp-999-0";
  std::ofstream(temp) << "half written";

  EXPECT_EQ(storage_.delete_older_than(INT64_MAX), 1u);
  EXPECT_TRUE(fs::exists(temp));
}

TEST_F(FsStorageTest, DeleteDoesNotFollowSymlinksOutOfTheRoot) {
  const fs::path outside = dir_.path() / "outside";
  fs::create_directories(outside);
  std::ofstream(outside / "keep.png") << "precious";
  ASSERT_TRUE(storage_.put("t/1.png", "a").ok());
  fs::create_directory_symlink(outside, dir_.path() / "results" / "link");

  EXPECT_EQ(storage_.delete_older_than(INT64_MAX), 1u);
  EXPECT_TRUE(fs::exists(outside / "keep.png"));
}

TEST_F(FsStorageTest, DeleteIsSafeWhileOtherThreadsPut) {
  constexpr int kTasks = 200;
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(storage_.put(task_key(i, "0.png"), "old").ok());
  }
  clock_.advance_ms(1000);
  const std::int64_t cutoff = clock_.now_ms();

  std::atomic<bool> writing{true};
  std::atomic<std::size_t> deleted{0};
  std::thread janitor([&] {
    while (writing) {
      deleted += storage_.delete_older_than(cutoff);
    }
    deleted += storage_.delete_older_than(cutoff);
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < kTasks; i += 2) {
        EXPECT_TRUE(storage_.put(task_key(i, "1.png"), "new").ok()) << i;
      }
    });
  }
  for (auto& t : writers) {
    t.join();
  }
  writing = false;
  janitor.join();

  EXPECT_EQ(deleted.load(), static_cast<std::size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) {
    EXPECT_EQ(storage_.size(task_key(i, "1.png")), 3u) << i;
    EXPECT_EQ(storage_.size(task_key(i, "0.png")), std::nullopt) << i;
  }
}

}  // namespace
}  // namespace ig::storage
