// Graph expansion: chaining, partitioning, key-group routing, union, connect, side outputs.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "sluice/core/error.h"
#include "test_util.h"

namespace sluice {
namespace {

using testing::quiet_env;
using testing::sorted;

std::set<std::string> chain_names(const JobResult& result) {
  std::set<std::string> names;
  for (const auto& task : result.metrics.tasks) names.insert(task.name);
  return names;
}

TEST(JobGraph, ForwardEdgesOfEqualParallelismAreChained) {
  auto env = quiet_env(2);
  env.from_sequence(1, 100)
      .map([](int64_t x) { return x + 1; })
      .filter([](int64_t x) { return x % 2 == 0; })
      .collect();
  auto result = env.execute();
  EXPECT_EQ(chain_names(result), (std::set<std::string>{"sequence -> map -> filter -> collect"}));
}

TEST(JobGraph, KeyByAndParallelismChangesBreakChains) {
  auto env = quiet_env(2);
  auto mapped = env.from_sequence(1, 100).map([](int64_t x) { return x; });
  mapped.set_parallelism(3);
  mapped.key_by([](int64_t x) { return x % 5; })
      .reduce([](int64_t a, int64_t b) { return a + b; })
      .collect();
  auto result = env.execute();
  EXPECT_EQ(chain_names(result), (std::set<std::string>{"sequence", "map", "reduce -> collect"}));
}

// As Flink's disableChaining(): the operator is chained neither to its input nor to its output.
TEST(JobGraph, DisableChainingSplitsTheChain) {
  auto env = quiet_env(2);
  env.from_sequence(1, 10).map([](int64_t x) { return x; }).disable_chaining().collect();
  auto result = env.execute();
  EXPECT_EQ(chain_names(result), (std::set<std::string>{"sequence", "map", "collect"}));
}

TEST(JobGraph, ExplicitForwardAcrossDifferentParallelismIsAnError) {
  auto env = quiet_env(2);
  auto stream = env.from_sequence(1, 10).forward().map([](int64_t x) { return x; });
  stream.set_parallelism(3);
  stream.collect();
  try {
    env.execute();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kInvalidJob);
    EXPECT_NE(std::string(e.what()).find("forward partitioning needs equal parallelism"),
              std::string::npos)
        << e.what();
  }
}

TEST(JobGraph, EveryKeyIsProcessedByTheSubtaskOwningItsKeyGroup) {
  for (int parallelism : {1, 2, 3, 7}) {
    auto env = quiet_env(parallelism);
    struct Seen {
      int64_t key;
      int subtask;
    };
    struct RecordSubtask : ProcessFunction<int64_t, Seen> {
      int subtask = -1;
      void open(const RuntimeContext& ctx) { subtask = ctx.subtask_index(); }
      void process_element(const int64_t& key, ProcessContext&, Collector<Seen>& out) override {
        out.collect(Seen{key, subtask});
      }
    };
    auto seen = env.from_sequence(0, 999)
                    .map([](int64_t x) { return x % 101; })
                    .key_by([](int64_t k) { return k; })
                    .process(RecordSubtask{})
                    .collect();
    env.execute();
    ASSERT_EQ(seen->size(), 1000u);
    for (const auto& s : seen->values()) {
      int group = key_group_for_key(s.key, kDefaultMaxParallelism);
      EXPECT_EQ(s.subtask, subtask_for_key_group(group, parallelism, kDefaultMaxParallelism))
          << "key " << s.key << " parallelism " << parallelism;
    }
  }
}

TEST(JobGraph, RebalanceSpreadsRecordsEvenly) {
  auto env = quiet_env(4);
  struct Tag : ProcessFunction<int64_t, int> {
    int subtask = 0;
    void open(const RuntimeContext& ctx) { subtask = ctx.subtask_index(); }
    void process_element(const int64_t&, ProcessContext&, Collector<int>& out) override {
      out.collect(subtask);
    }
  };
  auto source = env.from_sequence(1, 4000);
  source.set_parallelism(1);
  auto tags = source.rebalance().process(Tag{}).collect();
  env.execute();
  std::map<int, int> per_subtask;
  for (int s : tags->values()) ++per_subtask[s];
  ASSERT_EQ(per_subtask.size(), 4u);
  for (auto [subtask, count] : per_subtask) EXPECT_EQ(count, 1000) << "subtask " << subtask;
}

TEST(JobGraph, BroadcastDeliversEveryRecordToEverySubtask) {
  auto env = quiet_env(3);
  auto source = env.from_sequence(1, 50);
  source.set_parallelism(1);
  auto out = source.broadcast().map([](int64_t x) { return x; }).collect();
  env.execute();
  std::vector<int64_t> expected;
  for (int copy = 0; copy < 3; ++copy) {
    for (int64_t i = 1; i <= 50; ++i) expected.push_back(i);
  }
  EXPECT_EQ(sorted(out->values()), sorted(expected));
}

TEST(JobGraph, UnionMergesStreamsOfTheSameType) {
  auto env = quiet_env(2);
  auto a = env.from_sequence(1, 100);
  auto b = env.from_sequence(1001, 1100);
  auto c = env.from_elements<int64_t>(-1, -2, -3);
  auto out = a.union_with(b, c).map([](int64_t x) { return x * 2; }).collect();
  env.execute();
  std::vector<int64_t> expected{-2, -4, -6};
  for (int64_t i = 1; i <= 100; ++i) expected.push_back(2 * i);
  for (int64_t i = 1001; i <= 1100; ++i) expected.push_back(2 * i);
  EXPECT_EQ(sorted(out->values()), sorted(expected));
}

TEST(JobGraph, ConnectCoMapsTwoTypes) {
  auto env = quiet_env(2);
  auto numbers = env.from_sequence(1, 20);
  auto words = env.from_elements<std::string>("a", "bb", "ccc");
  auto out = numbers.connect(words)
                 .map([](int64_t x) { return std::to_string(x); },
                      [](const std::string& s) { return s + "!"; })
                 .collect();
  env.execute();
  std::vector<std::string> expected{"a!", "bb!", "ccc!"};
  for (int i = 1; i <= 20; ++i) expected.push_back(std::to_string(i));
  EXPECT_EQ(sorted(out->values()), sorted(expected));
}

TEST(JobGraph, CoProcessSeesBothInputs) {
  auto env = quiet_env(2);
  struct Join : CoProcessFunction<int64_t, std::string, std::string> {
    void process_element1(const int64_t& x, ProcessContext&, Collector<std::string>& out) override {
      out.collect("n" + std::to_string(x));
    }
    void process_element2(const std::string& s, ProcessContext&,
                          Collector<std::string>& out) override {
      out.collect("s" + s);
      out.collect("s" + s);
    }
  };
  auto out = env.from_sequence(1, 3)
                 .connect(env.from_elements<std::string>("x"))
                 .process(Join{})
                 .collect();
  env.execute();
  EXPECT_EQ(sorted(out->values()), (std::vector<std::string>{"n1", "n2", "n3", "sx", "sx"}));
}

TEST(JobGraph, SideOutputsReachTheirOwnStream) {
  auto env = quiet_env(3);
  OutputTag<std::string> odd_tag("odd-numbers");
  struct Split : ProcessFunction<int64_t, int64_t> {
    OutputTag<std::string> odd;
    explicit Split(OutputTag<std::string> tag) : odd(std::move(tag)) {}
    void process_element(const int64_t& x, ProcessContext& ctx, Collector<int64_t>& out) override {
      if (x % 2 == 0) {
        out.collect(x);
      } else {
        ctx.output(odd, "odd " + std::to_string(x));
      }
    }
  };
  auto main = env.from_sequence(1, 1000).process(Split(odd_tag));
  auto evens = main.collect();
  auto odds = main.get_side_output(odd_tag).collect();
  env.execute();
  EXPECT_EQ(evens->size(), 500u);
  ASSERT_EQ(odds->size(), 500u);
  for (const auto& s : odds->values()) EXPECT_EQ(s.rfind("odd ", 0), 0u);
}

TEST(JobGraph, UnconsumedSideOutputIsDiscarded) {
  auto env = quiet_env(2);
  OutputTag<int64_t> tag("unused");
  struct Emit : ProcessFunction<int64_t, int64_t> {
    OutputTag<int64_t> tag;
    explicit Emit(OutputTag<int64_t> t) : tag(std::move(t)) {}
    void process_element(const int64_t& x, ProcessContext& ctx, Collector<int64_t>& out) override {
      ctx.output(tag, x);
      out.collect(x);
    }
  };
  auto out = env.from_sequence(1, 100).process(Emit(tag)).collect();
  env.execute();
  EXPECT_EQ(out->size(), 100u);
}

TEST(JobGraph, FlatMapDeducesItsOutputTypeAndKeepsOrderWithinASubtask) {
  auto env = quiet_env(1);
  auto out = env.from_elements<std::string>("a b", "c", "", "d e f")
                 .flat_map([](const std::string& line, Collector<std::string>& words) {
                   size_t start = 0;
                   while (start < line.size()) {
                     size_t end = line.find(' ', start);
                     if (end == std::string::npos) end = line.size();
                     words.collect(line.substr(start, end - start));
                     start = end + 1;
                   }
                 })
                 .collect();
  env.execute();
  EXPECT_EQ(out->values(), (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
}

TEST(JobGraph, MetricsCountRecordsPerOperator) {
  auto env = quiet_env(2);
  env.from_sequence(1, 1000)
      .filter([](int64_t x) { return x <= 300; })
      .name("small")
      .rebalance()
      .map([](int64_t x) { return x; })
      .name("copy")
      .collect();
  auto result = env.execute();
  EXPECT_EQ(result.metrics.total("sequence").records_out, 1000u);
  EXPECT_EQ(result.metrics.total("small").records_in, 1000u);
  EXPECT_EQ(result.metrics.total("small").records_out, 300u);
  EXPECT_EQ(result.metrics.total("copy").records_in, 300u);
  EXPECT_GT(result.metrics.total("small").bytes_out, 0u);
  EXPECT_NE(result.metrics.summary().find("copy"), std::string::npos);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(JobGraph, LatencyMarkersCrossChainsAndChannelsToTheSinks) {
  auto env = testing::quiet_env(2);
  env.set_latency_tracking_interval(std::chrono::milliseconds(5));
  env.from_source(datagen<int64_t>([](int64_t i) { return i; }).rows_per_second(20'000))
      .map([](int64_t x) { return x; })
      .rebalance()
      .filter([](int64_t) { return true; })
      .key_by([](int64_t x) { return x % 10; })
      .add_sink([](int64_t) {});
  JobClient client = env.execute_async();
  // Until each sink subtask has seen markers from the sources, through two network exchanges.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no latency markers reached the sinks";
    auto metrics = client.metrics();
    size_t sinks_with_markers = 0;
    for (const auto& op : metrics.operators) {
      if (op.name == "sink" && op.latency_markers >= 3) ++sinks_with_markers;
    }
    if (sinks_with_markers == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  client.cancel();
  client.wait();
  auto sink = client.metrics().total("sink");
  EXPECT_GE(sink.latency_markers, 6u);
  EXPECT_GE(sink.latency_max_ms, sink.latency_mean_ms);
  EXPECT_GE(sink.latency_mean_ms, 0.0);
  EXPECT_EQ(client.metrics().total("map").latency_markers, 0u);  // only sinks record latency
}

}  // namespace
}  // namespace sluice
