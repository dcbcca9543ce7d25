// Checkpoints of a running job: barriers from the sources, aligned at every exchange, give
// consistent snapshots (Chandy-Lamport): the keyed state of a checkpoint counts exactly the
// records the sources had emitted at its barriers.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

struct CountPerKey : KeyedProcessFunction<int64_t, int64_t, int64_t> {
  ValueState<int64_t>* count = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    count = &ctx.get_state(ValueStateDescriptor<int64_t>{"count"});
  }
  void process_element(const int64_t&, Context&, Collector<int64_t>& out) override {
    count->update(count->value().value_or(0) + 1);
    out.collect(*count->value());
  }
};

class ConsistentCuts : public ::testing::TestWithParam<int> {};

// Parameter: how many checkpoints may be in progress at once (1: Flink's default).
TEST_P(ConsistentCuts, EveryCheckpointIsAConsistentCut) {
  const int concurrent = GetParam();
  const fs::path dir = fs::temp_directory_path() / ("sluice-ckpt-" + std::to_string(::getpid()) +
                                                    "-" + std::to_string(concurrent));
  fs::remove_all(dir);
  constexpr int64_t kRows = 30'000;
  auto env = StreamEnvironment(Configuration::from_args(std::vector<std::string>{
      "--checkpoint-interval", concurrent > 1 ? "2ms" : "25ms", "--checkpoint-dir", dir.string(),
      "--checkpoints-retained", "10000", "--print-summary", "false", "--workers", "2",
      "--max-concurrent-checkpoints", std::to_string(concurrent)}));
  env.set_parallelism(2);
  env.from_source(datagen<int64_t>([](int64_t i) { return i; })
                      .rows_per_second(30'000)
                      .number_of_rows(kRows))
      .key_by([](int64_t x) { return x % 13; })
      .process(CountPerKey{})
      // Slow: barriers wait behind full channels, so checkpoints take long enough to overlap.
      .add_sink([](int64_t) { std::this_thread::sleep_for(std::chrono::microseconds(20)); });
  const JobResult result = env.execute();
  if (concurrent > 1) {
    EXPECT_GE(result.metrics.checkpoints_peak_concurrent, 2)
        << "a checkpoint every 2 ms, each waiting behind backpressured channels: they overlap";
  } else {
    EXPECT_EQ(result.metrics.checkpoints_peak_concurrent, 1);
  }

  int checked = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const CompletedCheckpoint checkpoint = CheckpointStorage::load(entry.path());
    int64_t left = 0, counted = 0;  // records the sources had still to emit; records counted
    for (const auto& [name, file] : checkpoint.states) {
      const std::string bytes = CheckpointStorage::read_state(checkpoint, name);
      const auto state = CheckpointStateName::parse(name);
      ASSERT_TRUE(state.has_value()) << name;
      if (state->node == 0 && state->part == CheckpointStateName::Part::kOperatorLists) {
        // What is left of the subtask's index ranges (exhausted ones are not listed).
        for (const auto& list : from_bytes<OperatorStateSnapshot>(bytes).lists) {
          ASSERT_EQ(list.name, "source-splits");
          for (const auto& element : list.elements) {
            auto [next, end, index] =
                from_bytes<std::tuple<int64_t, int64_t, int>>(from_bytes<std::string>(element));
            left += end - next;
          }
        }
      } else if (state->part == CheckpointStateName::Part::kOperator) {
        HeapKeyedStateBackend<int64_t> backend(KeyGroupRange{0, 127}, 128);
        backend.restore(from_bytes<KeyedOperatorSnapshot>(bytes).backends.at(0));
        backend.apply_to_all_keys(
            ValueStateDescriptor<int64_t>{"count"},
            [&](const int64_t&, ValueState<int64_t>& c) { counted += *c.value(); });
      }
    }
    const int64_t emitted = kRows - left;
    EXPECT_EQ(counted, emitted) << "checkpoint " << checkpoint.id;
    EXPECT_EQ(checkpoint.properties.at("tasks"), "4");
    ++checked;
  }
  EXPECT_GE(checked, 3) << "checkpoints every 25 ms over a one-second job";
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(MaxConcurrent, ConsistentCuts, ::testing::Values(1, 3));

TEST(Checkpointing, CheckpointIntervalNeedsADirectory) {
  const char* args[] = {"test", "--checkpoint-interval", "1s", "--print-summary", "false"};
  auto env = StreamEnvironment::from_args(5, args);
  env.from_sequence(1, 10).add_sink([](int64_t) {});
  try {
    env.execute();
    FAIL() << "a job with checkpoints but no directory must not start";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--checkpoint-dir"), std::string::npos) << e.what();
  }
}

TEST(Checkpointing, RestoreFromLatestNeedsADirectory) {
  auto env = testing::quiet_env(1);
  env.restore_from("latest");
  env.from_sequence(1, 10).add_sink([](int64_t) {});
  EXPECT_THROW(env.execute(), Error);
}

}  // namespace
}  // namespace sluice
