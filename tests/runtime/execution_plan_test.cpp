// The execution plan: chaining, parallelism, partitioning and channels as the runtime deploys
// them, operators' own descriptions, JSON that reads back as the same plan, and which states each
// subtask of a restored (and rescaled) job reads.
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "sluice/api/windowed_stream.h"
#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/runtime/execution_plan.h"
#include "test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

struct Reading {
  int64_t sensor;
  double value;
  int64_t ts;
};

const OutputTag<Reading> kLate{"late-readings"};

// readings -> watermarks -> key_by -> window (with a late-data output) -> sink; late -> sink.
void define(StreamEnvironment& env, int64_t rows) {
  auto readings =
      env.from_source(
             datagen<Reading>([](int64_t i) {
               return Reading{i % 5, 1.0, i * 10};
             }).number_of_rows(rows),
             WatermarkStrategy<Reading>::for_bounded_out_of_orderness(20ms).with_timestamp_assigner(
                 [](const Reading& r) { return r.ts; }),
             "readings")
          .name("readings: watermarks");
  auto sums = readings.key_by(&Reading::sensor)
                  .window(TumblingEventTimeWindows::of(1s))
                  .side_output_late_data(kLate)
                  .reduce([](const Reading& a, const Reading& b) {
                    return Reading{a.sensor, a.value + b.value, a.ts};
                  });
  sums.name("sums").uid("sums-v1");
  sums.map([](const Reading& r) { return r.value; }).collect();
  sums.get_side_output(kLate).collect();
}

const ExecutionPlan::Node& by_name(const ExecutionPlan& plan, const std::string& name) {
  for (const auto& node : plan.nodes) {
    if (node.name == name) return node;
  }
  throw std::runtime_error("no node " + name);
}

std::string parameter(const ExecutionPlan::Node& node, const std::string& name) {
  for (const auto& [key, value] : node.description.parameters) {
    if (key == name) return value;
  }
  return "";
}

TEST(ExecutionPlan, ChainsPartitionsAndDescribesTheJobAsItWillRun) {
  auto env = testing::quiet_env(2);
  define(env, 100);
  const ExecutionPlan plan = env.plan("readings-job");

  EXPECT_EQ(plan.job_name, "readings-job");
  ASSERT_EQ(plan.nodes.size(), 6u);
  ASSERT_EQ(plan.vertices.size(), 2u);
  EXPECT_EQ(plan.vertices[0].name, "readings -> readings: watermarks");
  EXPECT_EQ(plan.vertices[1].name, "sums -> map -> collect -> collect");
  EXPECT_EQ(plan.tasks(), 4);

  const auto& window = by_name(plan, "sums");
  EXPECT_EQ(window.uid, "sums-v1");
  EXPECT_EQ(window.vertex, 1);
  EXPECT_EQ(window.description.kind, "window");
  EXPECT_EQ(window.description.inputs, std::vector<std::string>{"Reading"});
  EXPECT_EQ(window.description.output, "Reading");
  EXPECT_NE(window.description.inputs.at(0).find("Reading"), std::string::npos);
  EXPECT_EQ(parameter(window, "assigner"), "tumbling 1000 ms, event time");
  EXPECT_EQ(parameter(window, "allowed lateness"), "0 ms");
  EXPECT_EQ(parameter(window, "function").rfind("reduce ", 0), 0u);
  ASSERT_EQ(window.description.side_outputs.size(), 1u);
  EXPECT_EQ(window.description.side_outputs[0].first, "late-readings");
  const auto& watermarks = by_name(plan, "readings: watermarks");
  EXPECT_EQ(parameter(watermarks, "watermarks"), "bounded out-of-orderness 20 ms");
  EXPECT_EQ(by_name(plan, "readings").description.kind, "source");
  EXPECT_EQ(parameter(by_name(plan, "readings"), "rows"), "100");

  // The keyed edge is the only network edge: 2 x 2 channels, hash-partitioned.
  int network = 0;
  for (const auto& edge : plan.edges) {
    if (edge.chained) continue;
    ++network;
    EXPECT_EQ(edge.partitioning, Partitioning::kHash);
    EXPECT_EQ(edge.channels, 4);
    EXPECT_EQ(plan.node(edge.target).name, "sums");
  }
  EXPECT_EQ(network, 1);
  bool late_edge = false;
  for (const auto& edge : plan.edges) late_edge |= edge.side_output == "late-readings";
  EXPECT_TRUE(late_edge);

  const std::string text = plan.to_text();
  EXPECT_NE(text.find("vertex 1 x2: sums -> map -> collect -> collect"), std::string::npos) << text;
  EXPECT_NE(text.find("hash, 4 channels"), std::string::npos) << text;
  EXPECT_NE(text.find("side output late-readings"), std::string::npos) << text;
}

TEST(ExecutionPlan, JsonReadsBackAsTheSamePlan) {
  auto env = testing::quiet_env(3);
  define(env, 100);
  const ExecutionPlan plan = env.plan();
  EXPECT_EQ(ExecutionPlan::from_json(plan.to_json()), plan);
  EXPECT_THROW(ExecutionPlan::from_json("{\"job\": 1}"), Error);
}

TEST(ExecutionPlan, AnInvalidGraphFailsWhilePlanningNamingTheOperators) {
  auto env = testing::quiet_env(2);
  auto stream = env.from_sequence(1, 10).forward().map([](int64_t x) { return x; });
  stream.set_parallelism(3);
  stream.collect();
  try {
    env.plan();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kInvalidJob);
    EXPECT_NE(std::string(e.what()).find("'sequence' has 2 and 'map' has 3"), std::string::npos)
        << e.what();
  }
}

TEST(ExecutionPlan, TheJobClientShowsThePlanItRuns) {
  auto env = testing::quiet_env(2);
  define(env, 1000);
  const ExecutionPlan planned = env.plan("job");
  JobClient client = env.execute_async("job");
  EXPECT_EQ(client.plan(), planned);
  client.wait();
}

// A checkpoint taken at parallelism 2, restored at 3: each new subtask reads the operator states of
// the old subtasks whose key groups overlap its own, the sources' enumerator state, and every old
// subtask's operator lists.
TEST(ExecutionPlan, ARescaledRestoreReadsTheOverlappingOldSubtasks) {
  testing::TempDir dir;
  const std::string checkpoints = dir / "checkpoints";
  {
    auto env = testing::quiet_env(2);
    env.enable_checkpointing(10ms, checkpoints);
    define(env, 20'000);
    env.execute();
  }
  auto env = testing::quiet_env(3);
  env.enable_checkpointing(10ms, checkpoints).restore_from("latest");
  define(env, 20'000);
  const ExecutionPlan plan = env.plan();
  ASSERT_TRUE(plan.restore.has_value());
  const auto latest = CheckpointStorage(checkpoints).latest();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(plan.restore->checkpoint_id, latest->id);

  const auto& source = plan.restore->nodes.at(static_cast<size_t>(by_name(plan, "readings").id));
  EXPECT_EQ(source.enumerator, CheckpointStateName::enumerator(source.node).str());
  EXPECT_EQ(source.old_parallelism, 2);
  EXPECT_EQ(source.operator_lists.size(), 2u);  // the readers' splits, redistributed

  const int window = by_name(plan, "sums").id;
  const auto& restored = plan.restore->nodes.at(static_cast<size_t>(window));
  ASSERT_EQ(restored.subtasks.size(), 3u);
  for (const auto& subtask : restored.subtasks) {
    EXPECT_EQ(subtask.key_groups, key_group_range_for_subtask(subtask.subtask, 3, 128));
    std::set<int> expected;
    for (int old = 0; old < 2; ++old) {
      const KeyGroupRange range = key_group_range_for_subtask(old, 2, 128);
      if (range.end >= subtask.key_groups.start && range.start <= subtask.key_groups.end)
        expected.insert(old);
    }
    std::set<int> read;
    for (const auto& name : subtask.operator_states) {
      const auto parsed = CheckpointStateName::parse(name);
      ASSERT_TRUE(parsed.has_value()) << name;
      EXPECT_EQ(parsed->node, window);
      EXPECT_EQ(parsed->part, CheckpointStateName::Part::kOperator);
      read.insert(parsed->subtask);
    }
    EXPECT_EQ(read, expected) << "subtask " << subtask.subtask;
    EXPECT_TRUE(subtask.channel_states.empty());  // aligned checkpoints
  }
  // The middle subtask straddles both old ranges.
  EXPECT_EQ(restored.subtasks[1].operator_states.size(), 2u);
  EXPECT_NE(plan.to_text().find("restores checkpoint"), std::string::npos);
  EXPECT_EQ(ExecutionPlan::from_json(plan.to_json()), plan);
}

}  // namespace
}  // namespace sluice
