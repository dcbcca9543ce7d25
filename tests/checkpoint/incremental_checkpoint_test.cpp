// Incremental checkpoints of the RocksDB backend in a running job: checkpoints share the SST files
// that did not change (stored once in shared/), a job restores from them, also at another
// parallelism, and every key ends with exactly its number of records.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/sluice.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kRows = 60'000;
constexpr int64_t kKeys = 5'000;

struct Padded {
  int64_t count = 0;
  std::string padding;  // makes the state a few MB, so that flushes write real SST files
};

struct CountPerKey : KeyedProcessFunction<int64_t, int64_t, std::pair<int64_t, int64_t>> {
  ValueState<Padded>* state = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    state = &ctx.get_state(ValueStateDescriptor<Padded>{"count"});
  }
  void process_element(const int64_t& x, Context&,
                       Collector<std::pair<int64_t, int64_t>>& out) override {
    Padded p = state->value().value_or(Padded{0, std::string(200, 'p')});
    ++p.count;
    state->update(p);
    out.collect({x % kKeys, p.count});
  }
};

class IncrementalCheckpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-incremental-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  StreamEnvironment env(int parallelism, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--checkpoint-interval",
                                     "40ms",
                                     "--checkpoint-dir",
                                     (dir_ / "checkpoints").string(),
                                     "--checkpoints-retained",
                                     "1000",
                                     "--state-backend",
                                     "rocksdb",
                                     "--incremental-checkpoints",
                                     "--state-dir",
                                     (dir_ / "local").string(),
                                     "--print-summary",
                                     "false",
                                     "--workers",
                                     "2",
                                     "--parallelism",
                                     std::to_string(parallelism)};
    args.insert(args.end(), extra.begin(), extra.end());
    return StreamEnvironment(Configuration::from_args(args));
  }

  fs::path dir_;
};

TEST_F(IncrementalCheckpoints, ShareUnchangedFilesAndRestoreExactlyAtAnotherParallelism) {
  std::mutex mutex;
  std::map<int64_t, int64_t> highest;  // key -> highest count seen
  auto record = [&](const std::pair<int64_t, int64_t>& c) {
    std::lock_guard lock(mutex);
    int64_t& h = highest[c.first];
    h = std::max(h, c.second);
  };
  // The first attempt fails once three checkpoints completed (whatever the machine's speed).
  const fs::path checkpoint_dir = dir_ / "checkpoints";
  auto completed = [checkpoint_dir] {
    int n = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(checkpoint_dir, ec)) {
      n += fs::exists(entry.path() / "_metadata") ? 1 : 0;
    }
    return n;
  };
  static std::atomic<int64_t> seen{0};
  seen = 0;
  {
    auto first = env(2, {"--restart-strategy", "none"});
    first
        .from_source(datagen<int64_t>([](int64_t i) { return i; })
                         .number_of_rows(kRows)
                         .rows_per_second(20'000))
        .key_by([](int64_t x) { return x % kKeys; })
        .process(CountPerKey{})
        .add_sink([&record, completed](const std::pair<int64_t, int64_t>& c) {
          if (seen.fetch_add(1) % 500 == 0 && completed() >= 3) {
            throw std::runtime_error("injected failure");
          }
          record(c);
        });
    EXPECT_THROW(first.execute(), Error) << "the job ended before three checkpoints completed";
  }

  // Checkpoints list shared SST files; files that did not change are listed again, not stored
  // again (each is in shared/ once, under one key).
  std::map<std::string, int> listed;  // shared key -> checkpoints listing it
  int checkpoints = 0;
  for (const auto& entry : fs::directory_iterator(dir_ / "checkpoints")) {
    if (!entry.path().filename().string().starts_with("chk-")) continue;
    const CompletedCheckpoint checkpoint = CheckpointStorage::load(entry.path());
    ++checkpoints;
    for (const auto& [key, file] : checkpoint.shared) {
      ++listed[key];
      EXPECT_TRUE(fs::exists(checkpoint.shared_directory() / key)) << key;
    }
  }
  ASSERT_GE(checkpoints, 3);
  ASSERT_FALSE(listed.empty()) << "incremental checkpoints store SST files as shared files";
  int reused = 0;
  for (const auto& [key, count] : listed) reused += count > 1 ? 1 : 0;
  EXPECT_GT(reused, 0) << "an unchanged SST file is shared by later checkpoints";

  {
    auto second = env(3, {"--restore-from", "latest"});
    second.from_source(datagen<int64_t>([](int64_t i) { return i; }).number_of_rows(kRows))
        .key_by([](int64_t x) { return x % kKeys; })
        .process(CountPerKey{})
        .add_sink(record);
    second.execute();
  }
  for (int64_t key = 0; key < kKeys; ++key) {
    ASSERT_EQ(highest[key], kRows / kKeys) << "key " << key;
  }
}

}  // namespace
}  // namespace sluice
