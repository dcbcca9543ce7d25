// Checkpoints of a running job: barriers from the sources, aligned at every exchange, give
// consistent snapshots (Chandy-Lamport): the keyed state of a checkpoint counts exactly the
// records the sources had emitted at its barriers.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <thread>

#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/checkpoint/checkpoint_messages.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

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

// The sum of CountPerKey's counts in one of its keyed operator snapshots.
int64_t counted_in(const CompletedCheckpoint& checkpoint, const std::string& state) {
  HeapKeyedStateBackend<int64_t> backend(KeyGroupRange{0, 127}, 128);
  backend.restore(
      from_bytes<KeyedOperatorSnapshot>(CheckpointStorage::read_state(checkpoint, state))
          .backends.at(0));
  int64_t counted = 0;
  backend.apply_to_all_keys(ValueStateDescriptor<int64_t>{"count"},
                            [&](const int64_t&, ValueState<int64_t>& c) { counted += *c.value(); });
  return counted;
}

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
        counted += counted_in(checkpoint, name);
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

// Checkpoints after some tasks finished (Flink's FLIP-147): a task whose input ended acknowledges
// its final state, closes once a checkpoint of that state completed, and from then on the
// coordinator lists the files of that state in every later checkpoint, linked from the newest
// completed checkpoint that has them. So every checkpoint still restores the whole job.
TEST(FinishedTasks, LaterCheckpointsListTheirFinalStateByLinkingItsFiles) {
  testing::TempDir dir;
  const std::string checkpoints = dir / "checkpoints";
  constexpr int64_t kShort = 100;
  auto env = testing::quiet_env(2);
  env.enable_checkpointing(15ms, checkpoints);
  // The short pipeline ends at once; the long one (paced, ~0.6 s) keeps the job checkpointing.
  auto counted =
      env.from_source(datagen<int64_t>([](int64_t i) { return i; }).number_of_rows(kShort), "short")
          .key_by([](int64_t x) { return x % 7; })
          .process(CountPerKey{})
          .name("count");
  counted.add_sink([](int64_t) {});
  env.from_source(datagen<int64_t>([](int64_t i) { return i; })
                      .number_of_rows(12'000)
                      .rows_per_second(20'000),
                  "long")
      .map([](int64_t x) { return x + 1; })
      .add_sink([](int64_t) {});
  env.execute();

  int count_node = -1;
  for (const auto& node : env.plan().nodes) {
    if (node.name == "count") count_node = node.id;
  }
  ASSERT_GE(count_node, 0);
  int checked = 0, linked = 0;
  for (const auto& entry : fs::directory_iterator(checkpoints)) {
    if (!entry.path().filename().string().starts_with("chk-")) continue;
    const CompletedCheckpoint checkpoint = CheckpointStorage::load(entry.path());
    // Every checkpoint lists both subtasks of the counting operator.
    std::set<int> subtasks;
    int64_t counted_total = 0;
    for (const auto& [name, file] : checkpoint.states) {
      const auto state = CheckpointStateName::parse(name);
      ASSERT_TRUE(state.has_value()) << name;
      if (state->node != count_node || state->part != CheckpointStateName::Part::kOperator)
        continue;
      subtasks.insert(state->subtask);
      struct stat info {};
      ASSERT_EQ(::stat((checkpoint.folder / file.file).c_str(), &info), 0);
      if (info.st_nlink > 1) ++linked;
      counted_total += counted_in(checkpoint, name);
    }
    EXPECT_EQ(subtasks, (std::set<int>{0, 1})) << checkpoint.folder;
    EXPECT_LE(counted_total, kShort);
    ++checked;
  }
  EXPECT_GT(checked, 0);
  // Retention keeps the newest 3; the short pipeline's tasks closed long before the last ones, so
  // their state there is the final one, linked from an earlier checkpoint.
  EXPECT_GT(linked, 0) << "no checkpoint listed a finished task's state by linking its file";
}

TEST(CheckpointMessages, AnAcknowledgementCrossesAsBytes) {
  TaskCheckpointAck ack;
  ack.task = TaskId{2, 1};
  ack.checkpoint_id = 17;
  ack.final = true;
  ack.states.push_back(StateHandle{"node-3/subtask-1/operator",
                                   StateFile{"node-3.subtask-1.operator", 1234, 99},
                                   {{"a-000001.sst", StateFile{"shared/a-000001.sst", 5, 6}}}});
  ack.sync_ms = 0.25;
  ack.async_ms = 12.5;
  ack.new_shared_bytes = 5;
  EXPECT_EQ(from_bytes<TaskCheckpointAck>(to_bytes(ack)), ack);
}

}  // namespace
}  // namespace sluice
