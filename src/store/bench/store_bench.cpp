// Micro-benchmark of the SQLite store's hot paths: task inserts (one caller, and 16 at once
// so group commit has something to group), get_task (the GET polling path) and claim_tasks
// over a long queue (the dispatcher's poll: must not grow with the queue).
//
//   cmake --build <dir> --target ig_store_bench && <dir>/src/store/ig_store_bench
//
// The database lives under $TMPDIR (default /tmp): fsync cost there decides insert numbers.

#include <benchmark/benchmark.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/task.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace {

using ig::store::SqliteOptions;
using ig::store::SqliteStore;

constexpr int kPreloaded = 20'000;

struct Fixture {
  std::filesystem::path dir;
  std::unique_ptr<SqliteStore> store;
  std::uint64_t commits_at_start = 0;
};

std::unique_ptr<Fixture> g_fixture;
std::atomic<std::uint64_t> g_next_id{0};

ig::core::Task make_task(std::uint64_t n) {
  ig::core::Task t;
  t.id = "bench-" + std::to_string(n);
  t.created_ms = static_cast<std::int64_t>(n);
  t.request.dialect = ig::core::Dialect::kJobs;
  t.request.model = "gpt-image-2";
  t.request.prompt = "a lighthouse at dusk, oil on canvas, warm light over a cold sea";
  t.request.input_urls = {"https://images.example/ref-1.png"};
  t.request.size = {1024, 1024};
  t.param = R"({"model":"gpt-image-2","input":{"prompt":"a lighthouse at dusk"}})";
  return t;
}

void open_fixture(const benchmark::State& state) {
  g_fixture = std::make_unique<Fixture>();
  std::random_device rd;
  g_fixture->dir =
      std::filesystem::temp_directory_path() / ("ig-store-bench-" + std::to_string(rd()));
  std::filesystem::create_directories(g_fixture->dir);
  SqliteOptions opts;
  opts.path = g_fixture->dir / "bench.db";
  opts.synchronous = state.range(0) == 0 ? "FULL" : "NORMAL";
  auto store = SqliteStore::open(opts);
  if (!store.ok()) {
    std::fprintf(stderr, "open failed: %s\n", store.error().message.c_str());
    std::abort();
  }
  g_fixture->store = std::move(*store);
  g_fixture->commits_at_start = g_fixture->store->commits();
  g_next_id = 0;
}

void close_fixture(const benchmark::State&) {
  const auto inserts = g_next_id.load();
  const auto commits = g_fixture->store->commits() - g_fixture->commits_at_start;
  if (commits > 0) {
    std::fprintf(stderr, "  (%llu writes in %llu commits: %.1f writes per commit)\n",
                 static_cast<unsigned long long>(inserts), static_cast<unsigned long long>(commits),
                 static_cast<double>(inserts) / static_cast<double>(commits));
  }
  g_fixture->store.reset();
  std::error_code ec;
  std::filesystem::remove_all(g_fixture->dir, ec);
  g_fixture.reset();
}

// Fills the store from 32 threads, so the preload itself rides on group commit.
void open_preloaded_fixture(const benchmark::State& state) {
  open_fixture(state);
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([] {
      for (;;) {
        auto n = g_next_id.fetch_add(1);
        if (n >= static_cast<std::uint64_t>(kPreloaded)) {
          return;
        }
        if (!g_fixture->store->insert_task(make_task(n)).ok()) {
          std::abort();
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  g_next_id = 0;
  g_fixture->commits_at_start = g_fixture->store->commits();
}

void BM_InsertTask(benchmark::State& state) {
  for (auto _ : state) {
    auto task = make_task(g_next_id.fetch_add(1));
    if (!g_fixture->store->insert_task(task).ok()) {
      state.SkipWithError("insert_task failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InsertTask)
    ->ArgName("normal")
    ->Arg(0)
    ->Arg(1)
    ->Setup(open_fixture)
    ->Teardown(close_fixture)
    ->Threads(1)
    ->Threads(16)
    ->UseRealTime();

void BM_GetTask(benchmark::State& state) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(state.thread_index()) + 1);
  std::uniform_int_distribution<int> pick(0, kPreloaded - 1);
  for (auto _ : state) {
    auto task = g_fixture->store->get_task("bench-" + std::to_string(pick(rng)));
    if (!task.ok() || !task->has_value()) {
      state.SkipWithError("get_task missed");
      break;
    }
    benchmark::DoNotOptimize(task);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GetTask)
    ->Arg(0)
    ->Setup(open_preloaded_fixture)
    ->Teardown(close_fixture)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// Claims 4 of the 20k queued tasks and hands them back: the claim walks the index from the
// oldest, wherever the queue ends.
void BM_ClaimTasks(benchmark::State& state) {
  std::int64_t now = 1'000'000;
  for (auto _ : state) {
    auto batch = g_fixture->store->claim_tasks("bench", 4, now, now + 60'000, 1'000'000);
    if (!batch.ok() || batch->claims.size() != 4) {
      state.SkipWithError("claim_tasks failed");
      break;
    }
    for (const auto& c : batch->claims) {
      if (!g_fixture->store->release_task(c.task.row_id, c.task.attempt).ok()) {
        state.SkipWithError("release_task failed");
        break;
      }
    }
    ++now;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClaimTasks)
    ->Arg(1)
    ->Setup(open_preloaded_fixture)
    ->Teardown(close_fixture)
    ->Threads(1)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);  // one "applied migration" line per fixture is noise
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
