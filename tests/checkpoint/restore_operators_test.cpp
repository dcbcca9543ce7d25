// Every stateful operator survives a failover: the job fails halfway on an injected exception,
// restarts in the process from its latest checkpoint (state, timers, window contents, join
// buffers, trigger and evictor state, watermark), and its exactly-once output equals that of a run
// without failure. Inputs are built so that the output does not depend on timing: event time is
// the record index (monotonous per source subtask) and each key's records come from one subtask.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sluice/formats/json.h"
#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct E {
  int64_t key;
  int64_t value;
  int64_t ts;
};

constexpr int64_t kRows = 30'000;

// Keys 0-12 in the first half of the indexes, 100-112 in the second: at parallelism 2 each key is
// read by one source subtask, in order.
E make_event(int64_t i) { return E{i * 2 / kRows * 100 + i % 13, i, i}; }

std::string line(std::initializer_list<int64_t> fields) {
  std::string out;
  for (int64_t f : fields) out += (out.empty() ? "" : " ") + std::to_string(f);
  return out;
}

class RestoreOperators : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("sluice-restore-ops-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(root_);
  }

  DataStream<E> events(StreamEnvironment& env, bool fail, int64_t value_factor = 1) {
    auto strategy = WatermarkStrategy<E>::for_monotonous_timestamps().with_timestamp_assigner(
        [](const E& e) { return e.ts; });
    auto source = datagen<E>([value_factor](int64_t i) {
                    E e = make_event(i);
                    e.value *= value_factor;
                    return e;
                  })
                      .number_of_rows(kRows)
                      .rows_per_second(fail ? 60'000 : 0);
    auto seen = std::make_shared<std::atomic<int64_t>>(0);
    return env.from_source(source, strategy, "events").map([seen, fail](const E& e) {
      if (fail && seen->fetch_add(1) == kRows / 2) throw std::runtime_error("injected failure");
      return e;
    });
  }

  // The committed lines of the job `build` makes, with or without a failure halfway.
  template <class Build>
  std::vector<std::string> run(Build build, bool fail) {
    const fs::path dir = root_ / (fail ? "failing" : "reference");
    auto env = testing::quiet_env(2);
    if (fail) {
      env.enable_checkpointing(10ms, (dir / "checkpoints").string())
          .set_restart_strategy(RestartStrategy::fixed_delay(3, 1ms));
    }
    build(env, fail).sink_to(FileSink<std::string>::json_lines((dir / "out").string()));
    JobClient job = env.execute_async("restore-operators");
    job.wait();
    EXPECT_EQ(job.restarts(), fail ? 1 : 0);
    std::vector<std::string> lines;
    for (const auto& entry : fs::directory_iterator(dir / "out")) {
      if (entry.path().filename().string()[0] == '.') continue;
      std::ifstream in(entry.path());
      for (std::string l; std::getline(in, l);) lines.push_back(nlohmann::json::parse(l));
    }
    return testing::sorted(lines);
  }

  template <class Build>
  void expect_same_output_after_failover(Build build) {
    const auto expected = run(build, false);
    ASSERT_GT(expected.size(), 100u);
    const auto actual = run(build, true);
    EXPECT_EQ(actual.size(), expected.size());
    EXPECT_TRUE(actual == expected);
  }

  fs::path root_;
};

// Event-time timers at ts + 50; each firing numbered per key from keyed state.
struct NumberedTimers : KeyedProcessFunction<int64_t, E, std::string> {
  ValueState<int64_t>* fired = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    fired = &ctx.get_state(ValueStateDescriptor<int64_t>{"fired"});
  }
  void process_element(const E& e, Context& ctx, Collector<std::string>&) override {
    ctx.timer_service().register_event_time_timer(e.ts + 50);
  }
  void on_timer(Timestamp time, OnTimerContext& ctx, Collector<std::string>& out) override {
    const int64_t n = fired->value().value_or(0) + 1;
    fired->update(n);
    out.collect(line({ctx.current_key(), time, n}));
  }
};

TEST_F(RestoreOperators, KeyedTimersAndState) {
  expect_same_output_after_failover([&](StreamEnvironment& env, bool fail) {
    return events(env, fail).key_by(&E::key).process(NumberedTimers{});
  });
}

struct PairUp : ProcessJoinFunction<E, E, std::string> {
  void process_element(const E& a, const E& b, Context&, Collector<std::string>& out) override {
    out.collect(line({a.value, b.value}));
  }
};

TEST_F(RestoreOperators, IntervalJoinBuffers) {
  expect_same_output_after_failover([&](StreamEnvironment& env, bool fail) {
    auto join =
        events(env, fail).key_by(&E::key).interval_join(events(env, false, 1000).key_by(&E::key));
    join.between(-30ms, 20ms);
    return join.process(PairUp{});
  });
}

TEST_F(RestoreOperators, CountWindowsWithTheirTriggerState) {
  expect_same_output_after_failover([&](StreamEnvironment& env, bool fail) {
    return events(env, fail)
        .key_by(&E::key)
        .count_window(5, 3)
        .reduce([](const E& a, const E& b) {
          return E{a.key, a.value + b.value, b.ts};
        })
        .map([](const E& e) {
          return line({e.key, e.value});
        });
  });
}

struct LastThree : ProcessWindowFunction<E, std::string, int64_t> {
  void process(const int64_t& key, const Context& ctx, const std::vector<E>& elements,
               Collector<std::string>& out) override {
    int64_t sum = 0;
    for (const E& e : elements) sum += e.value;
    out.collect(line({key, ctx.window().start, static_cast<int64_t>(elements.size()), sum}));
  }
};

TEST_F(RestoreOperators, SlidingWindowsWithAnEvictor) {
  expect_same_output_after_failover([&](StreamEnvironment& env, bool fail) {
    return events(env, fail)
        .key_by(&E::key)
        .window(SlidingEventTimeWindows::of(200ms, 50ms))
        .evictor(CountEvictor::of(3))
        .process(LastThree{});
  });
}

// Sessions on the trigger path, whose snapshots are serialized asynchronously while the task
// goes on merging, extending and closing sessions (260 keys, one source subtask each).
TEST_F(RestoreOperators, SessionWindowsSnapshottedAsynchronously) {
  expect_same_output_after_failover([&](StreamEnvironment& env, bool fail) {
    return events(env, fail)
        .key_by([](const E& e) { return e.key * 10 + e.value / 7 % 10; })
        .window(EventTimeSessionWindows::with_gap(100ms))
        .process(LastThree{});
  });
}

// Sliding-window sums of 260 keys (one source subtask each), whose snapshots freeze the windows'
// state while the task goes on adding to it: on the pane path (an aggregate, no evictor), or with
// an accumulator per window (accumulate_per_window()).
DataStream<std::string> sliding_sums(DataStream<E> events, bool per_window) {
  auto windowed = events.key_by([](const E& e) { return e.key * 10 + e.value / 7 % 10; })
                      .window(SlidingEventTimeWindows::of(300ms, 100ms));
  if (per_window) windowed.accumulate_per_window();
  return windowed
      .reduce([](const E& a, const E& b) {
        return E{a.key * 10 + a.value / 7 % 10, a.value + b.value, std::max(a.ts, b.ts)};
      })
      .map([](const E& e) {
        return line({e.key, e.value, e.ts});
      });
}

TEST_F(RestoreOperators, PaneWindowsSnapshottedAsynchronously) {
  expect_same_output_after_failover(
      [&](StreamEnvironment& env, bool fail) { return sliding_sums(events(env, fail), false); });
}

// Each window's accumulators are snapshotted and restored as that window's.
TEST_F(RestoreOperators, PerWindowAccumulatorsSnapshottedAsynchronously) {
  expect_same_output_after_failover(
      [&](StreamEnvironment& env, bool fail) { return sliding_sums(events(env, fail), true); });
}

TEST_F(RestoreOperators, RollingReduce) {
  expect_same_output_after_failover([&](StreamEnvironment& env, bool fail) {
    return events(env, fail)
        .key_by(&E::key)
        .reduce([](const E& a, const E& b) {
          return E{a.key, a.value + b.value, b.ts};
        })
        .map([](const E& e) {
          return line({e.key, e.value});
        });
  });
}

}  // namespace
}  // namespace sluice
