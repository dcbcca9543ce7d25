// Checkpoints after some tasks finished (Flink's FLIP-147): a task whose input ended acknowledges
// its final state, closes once a checkpoint of that state completed, and from then on the
// coordinator lists the files of that state in every later checkpoint, linked from the newest
// completed checkpoint that has them. So every checkpoint still restores the whole job.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>

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

TEST(FinishedTasks, LaterCheckpointsListTheirFinalStateByLinkingItsFiles) {
  testing::TempDir dir;
  const std::string checkpoints = dir / "checkpoints";
  constexpr int64_t kShort = 100;
  auto env = testing::quiet_env(2);
  env.enable_checkpointing(15ms, checkpoints);
  // The short pipeline ends at once; the long one (paced, ~0.6 s) keeps the job checkpointing.
  auto counted = env.from_source(datagen<int64_t>([](int64_t i) { return i; }).number_of_rows(kShort),
                                 "short")
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
      if (state->node != count_node || state->part != CheckpointStateName::Part::kOperator) continue;
      subtasks.insert(state->subtask);
      struct stat info {};
      ASSERT_EQ(::stat((checkpoint.folder / file.file).c_str(), &info), 0);
      if (info.st_nlink > 1) ++linked;
      HeapKeyedStateBackend<int64_t> backend(KeyGroupRange{0, 127}, 128);
      backend.restore(
          from_bytes<KeyedOperatorSnapshot>(CheckpointStorage::read_state(checkpoint, name))
              .backends.at(0));
      backend.apply_to_all_keys(ValueStateDescriptor<int64_t>{"count"},
                                [&](const int64_t&, ValueState<int64_t>& c) {
                                  counted_total += *c.value();
                                });
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
