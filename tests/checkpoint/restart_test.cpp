// Restart strategies: a failed job restarts in the same process from its latest completed
// checkpoint, as often as the strategy allows; the exactly-once file sink's output stays exact.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct KeyCount {
  int64_t key;
  int64_t count;
  bool operator<(const KeyCount& o) const {
    return std::tie(key, count) < std::tie(o.key, o.count);
  }
  bool operator==(const KeyCount&) const = default;
};

struct CountPerKey : KeyedProcessFunction<int64_t, int64_t, KeyCount> {
  ValueState<int64_t>* count = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    count = &ctx.get_state(ValueStateDescriptor<int64_t>{"count"});
  }
  void process_element(const int64_t& value, Context&, Collector<KeyCount>& out) override {
    count->update(count->value().value_or(0) + 1);
    out.collect(KeyCount{value % 7, *count->value()});
  }
};

class Restarts : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice-restart-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // 40,000 numbers at 80,000/s through `fail` (which may throw), counted per key into CSV files.
  template <class Fail>
  JobClient start(RestartStrategy strategy, Fail fail) {
    auto env = testing::quiet_env(2);
    env.enable_checkpointing(20ms, (dir_ / "checkpoints").string()).set_restart_strategy(strategy);
    env.from_source(datagen<int64_t>([](int64_t i) { return i; })
                        .number_of_rows(kRows)
                        .rows_per_second(80'000))
        .map(fail)
        .key_by([](int64_t v) { return v % 7; })
        .process(CountPerKey{})
        .sink_to(FileSink<KeyCount>::csv((dir_ / "out").string()));
    return env.execute_async("restarts");
  }

  std::vector<KeyCount> committed() const {
    std::vector<KeyCount> rows;
    for (const auto& entry : fs::directory_iterator(dir_ / "out")) {
      if (entry.path().filename().string()[0] == '.') continue;
      std::ifstream in(entry.path());
      KeyCount row{};
      char comma = 0;
      while (in >> row.key >> comma >> row.count) rows.push_back(row);
    }
    std::sort(rows.begin(), rows.end());
    return rows;
  }
  static std::vector<KeyCount> expected() {
    std::vector<KeyCount> rows;
    for (int64_t key = 0; key < 7; ++key) {
      const int64_t n = kRows / 7 + (key < kRows % 7 ? 1 : 0);
      for (int64_t c = 1; c <= n; ++c) rows.push_back({key, c});
    }
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  static constexpr int64_t kRows = 40'000;
  fs::path dir_;
};

TEST_F(Restarts, AFailedTaskRestartsFromTheLatestCheckpointAndTheOutputStaysExact) {
  auto seen = std::make_shared<std::atomic<int64_t>>(0);
  JobClient job = start(RestartStrategy::fixed_delay(3, 10ms), [seen](int64_t v) {
    if (seen->fetch_add(1) == 20'000) throw std::runtime_error("injected failure");
    return v;
  });
  job.wait();
  EXPECT_EQ(job.restarts(), 1);
  EXPECT_EQ(job.status(), JobStatus::kFinished);
  EXPECT_TRUE(committed() == expected()) << "no count lost or repeated across the restart";
}

TEST_F(Restarts, WithoutARestartStrategyTheJobFails) {
  JobClient job = start(RestartStrategy::none(), [](int64_t v) -> int64_t {
    if (v == 1'000) throw std::runtime_error("bad record");
    return v;
  });
  EXPECT_THROW(job.wait(), Error);
  EXPECT_EQ(job.status(), JobStatus::kFailed);
  EXPECT_EQ(job.restarts(), 0);
}

TEST_F(Restarts, FixedDelayGivesUpAfterItsAttempts) {
  JobClient job = start(RestartStrategy::fixed_delay(2, 5ms), [](int64_t v) -> int64_t {
    if (v == 1'000) throw std::runtime_error("bad record");
    return v;
  });
  try {
    job.wait();
    FAIL() << "a record that always fails must fail the job in the end";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad record"), std::string::npos) << e.what();
  }
  EXPECT_EQ(job.restarts(), 2);
  EXPECT_TRUE(committed().empty() || committed().size() < expected().size());
}

TEST_F(Restarts, FailureRateGivesUpWhenFailuresComeTooOften) {
  JobClient job = start(RestartStrategy::failure_rate(3, 1min, 5ms), [](int64_t v) -> int64_t {
    if (v == 1'000) throw std::runtime_error("bad record");
    return v;
  });
  EXPECT_THROW(job.wait(), Error);
  EXPECT_EQ(job.restarts(), 3) << "three failures in the interval are tolerated, the fourth not";
}

TEST_F(Restarts, CancellingDuringTheBackoffEndsTheJob) {
  JobClient job = start(RestartStrategy::exponential_delay(10min, 10min, 2), [](int64_t v) {
    if (v == 1'000) throw std::runtime_error("bad record");
    return v;
  });
  // The failure comes within a few ms; then the job would wait ten minutes to restart.
  EXPECT_FALSE(job.wait_for(200ms));
  job.cancel();
  ASSERT_TRUE(job.wait_for(5s)) << "cancel must not wait for the backoff";
  EXPECT_EQ(job.status(), JobStatus::kCancelled);
  EXPECT_EQ(job.restarts(), 0);
  EXPECT_NO_THROW(job.wait());
}

TEST_F(Restarts, StopWithSavepointThenResumeGivesTheUninterruptedOutput) {
  JobClient job = start(RestartStrategy::none(), [](int64_t v) { return v; });
  std::this_thread::sleep_for(150ms);  // about a third of the input
  const std::string savepoint = job.stop_with_savepoint((dir_ / "savepoints").string());
  EXPECT_EQ(job.status(), JobStatus::kFinished);
  EXPECT_EQ(fs::path(savepoint).parent_path(), dir_ / "savepoints");
  const CompletedCheckpoint loaded = CheckpointStorage::load(savepoint);
  EXPECT_TRUE(loaded.savepoint);
  const size_t committed_at_stop = committed().size();
  EXPECT_LT(committed_at_stop, expected().size()) << "stopped before the end";

  // Resumed from the savepoint, at another parallelism.
  auto env = testing::quiet_env(3);
  env.enable_checkpointing(20ms, (dir_ / "checkpoints").string()).restore_from(savepoint);
  env.from_source(datagen<int64_t>([](int64_t i) { return i; }).number_of_rows(kRows))
      .map([](int64_t v) { return v; })
      .key_by([](int64_t v) { return v % 7; })
      .process(CountPerKey{})
      .sink_to(FileSink<KeyCount>::csv((dir_ / "out").string()));
  env.execute("restarts");
  EXPECT_TRUE(committed() == expected());
}

TEST_F(Restarts, ASavepointWhileRunningLeavesTheJobRunning) {
  JobClient job = start(RestartStrategy::none(), [](int64_t v) { return v; });
  std::this_thread::sleep_for(100ms);
  const std::string savepoint = job.trigger_savepoint((dir_ / "savepoints").string());
  EXPECT_NO_THROW(CheckpointStorage::load(savepoint));
  job.wait();
  EXPECT_EQ(job.status(), JobStatus::kFinished);
  EXPECT_TRUE(committed() == expected());
  EXPECT_THROW(job.trigger_savepoint((dir_ / "savepoints").string()), Error) << "job ended";
}

// Pane and per-window accumulators are different layouts of a window's state: restoring one as
// the other fails the job with the reason instead of computing from misread state.
TEST_F(Restarts, WindowStateRestoresOnlyIntoTheSameAccumulatorLayout) {
  auto windowed_job = [&](bool per_window) {
    auto env = testing::quiet_env(2);
    env.enable_checkpointing(20ms, (dir_ / "checkpoints").string());
    auto windowed = env.from_source(datagen<int64_t>([](int64_t i) { return i; })
                                        .number_of_rows(kRows)
                                        .rows_per_second(80'000))
                        .key_by([](int64_t v) { return v % 7; })
                        .window(SlidingProcessingTimeWindows::of(100ms, 20ms));
    if (per_window) windowed.accumulate_per_window();
    windowed.reduce([](int64_t a, int64_t b) { return a + b; }).name("sums").add_sink([](int64_t) {
    });
    return env;
  };
  auto first = windowed_job(false);
  JobClient job = first.execute_async("panes");
  std::this_thread::sleep_for(100ms);
  const std::string savepoint = job.stop_with_savepoint((dir_ / "savepoints").string());

  auto second = windowed_job(true);
  second.restore_from(savepoint);
  try {
    second.execute("per-window");
    FAIL() << "expected the restore to fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("accumulator layout"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("sums"), std::string::npos) << e.what();
  }
}

TEST_F(Restarts, SavepointsNeedCheckpoints) {
  auto env = testing::quiet_env(1);
  env.from_source(datagen<int64_t>([](int64_t i) { return i; }).rows_per_second(1000))
      .add_sink([](int64_t) {});
  JobClient job = env.execute_async("no-checkpoints");
  EXPECT_THROW(job.trigger_savepoint((dir_ / "savepoints").string()), Error);
  job.cancel();
  job.wait();
}

}  // namespace
}  // namespace sluice
