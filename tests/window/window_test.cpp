// Differential tests of event-time windows: randomized out-of-order input with late records,
// tumbling and sliding windows, with and without allowed lateness, at parallelism 1, 2 and 4,
// against a brute-force reference that replays the watermark rule record by record.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>

#include "window/window_test_util.h"

namespace sluice {
namespace {
using namespace window_testing;

struct Case {
  const char* name;
  TimeWindowSpec spec;
  Timestamp lateness;
};

// Which operator, or layout, computes the windows: the pane-based fast path, the same with an
// accumulator per window, or the general trigger-based operator (forced by an explicit default
// trigger). All must agree with the reference.
enum class Layout { kPanes, kPerWindow, kGeneral };

void run_case(const Case& c, bool all_elements, Layout layout = Layout::kPanes) {
  const auto events = random_events(42, 3000);
  const Expected expected = time_window_reference(events, c.spec, c.lateness);
  ASSERT_FALSE(expected.late.empty()) << "the input should contain late records";
  for (int p : {1, 2, 4}) {
    SCOPED_TRACE(std::string(c.name) + " parallelism " + std::to_string(p) +
                 (all_elements ? " process" : " aggregate") +
                 (layout == Layout::kGeneral     ? " general"
                  : layout == Layout::kPerWindow ? " per window"
                                                 : ""));
    const auto lateness = std::chrono::milliseconds(c.lateness);
    if (layout == Layout::kGeneral) {
      expect_matches(events, expected, p, all_elements, [&](auto keyed) {
        return keyed.window(c.spec).trigger(EventTimeTrigger::create()).allowed_lateness(lateness);
      });
    } else {
      expect_matches(events, expected, p, all_elements, [&](auto keyed) {
        auto windowed = keyed.window(c.spec).allowed_lateness(lateness);
        if (layout == Layout::kPerWindow) windowed.accumulate_per_window();
        return windowed;
      });
    }
  }
}

const Case kCases[] = {
    {"tumbling 100", TumblingEventTimeWindows::of(std::chrono::milliseconds(100)), 0},
    {"tumbling 100 offset 7, lateness 50",
     TumblingEventTimeWindows::of(std::chrono::milliseconds(100), std::chrono::milliseconds(7)),
     50},
    {"sliding 90/30",
     SlidingEventTimeWindows::of(std::chrono::milliseconds(90), std::chrono::milliseconds(30)), 0},
    {"sliding 100/30 lateness 40",
     SlidingEventTimeWindows::of(std::chrono::milliseconds(100), std::chrono::milliseconds(30)),
     40},
};

TEST(EventTimeWindows, IncrementalAggregationMatchesReference) {
  for (const auto& c : kCases) run_case(c, false);
}

TEST(EventTimeWindows, ProcessWindowFunctionMatchesReference) {
  for (const auto& c : kCases) run_case(c, true);
}

TEST(EventTimeWindows, GeneralOperatorMatchesReference) {
  for (const auto& c : kCases) {
    run_case(c, false, Layout::kGeneral);
    run_case(c, true, Layout::kGeneral);
  }
}

TEST(EventTimeWindows, PerWindowAccumulatorsMatchReference) {
  for (const auto& c : kCases) {
    run_case(c, false, Layout::kPerWindow);
    run_case(c, true, Layout::kPerWindow);
  }
}

TEST(EventTimeWindows, ReduceAndDroppedLateRecordsAreCounted) {
  auto env = testing::quiet_env(2);
  const auto events = random_events(7, 2000);
  const Expected expected =
      time_window_reference(events, TumblingEventTimeWindows::of(std::chrono::milliseconds(50)), 0);
  auto timestamped = timestamped_events(env, events);
  auto sums = timestamped.key_by(&Ev::key)
                  .window(TumblingEventTimeWindows::of(std::chrono::milliseconds(50)))
                  .reduce([](const Ev& a, const Ev& b) {
                    return Ev{a.key, a.value + b.value, std::max(a.ts, b.ts)};
                  })
                  .collect();
  auto result = env.execute();
  std::vector<std::pair<int64_t, int64_t>> got, want;
  for (const auto& e : sums->values()) got.emplace_back(e.key, e.value);
  for (const auto& r : expected.results) want.emplace_back(r.key, r.sum);
  EXPECT_EQ(testing::sorted(got), testing::sorted(want));
  EXPECT_EQ(result.metrics.total("window_reduce").user_counters["late_records_dropped"],
            expected.late.size());
}

TEST(EventTimeWindows, RecordsWithoutTimestampsFailTheJobClearly) {
  auto env = testing::quiet_env(1);
  env.from_sequence(1, 10)
      .key_by([](int64_t x) { return x % 2; })
      .window(TumblingEventTimeWindows::of(std::chrono::seconds(1)))
      .reduce([](int64_t a, int64_t b) { return a + b; })
      .collect();
  try {
    env.execute();
    FAIL() << "expected a failure";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without a timestamp"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("window_reduce"), std::string::npos) << e.what();
  }
}

TEST(EventTimeWindows, AssignersMatchFlinkAlignment) {
  std::vector<TimeWindow> seen;
  SlidingEventTimeWindows::of(std::chrono::seconds(10), std::chrono::seconds(3))
      .for_each_window(7'000, [&](const TimeWindow& w) { seen.push_back(w); });
  // [-3000, 7000) does not contain 7000: the end is exclusive.
  EXPECT_EQ(seen, (std::vector<TimeWindow>{{6'000, 16'000}, {3'000, 13'000}, {0, 10'000}}));
  EXPECT_EQ(window_start(-1, 0, 1000), -1000);  // floor, not truncation, for negative timestamps
  EXPECT_EQ(window_start(1999, 7, 1000), 1007);
  EXPECT_THROW(TumblingEventTimeWindows::of(std::chrono::seconds(0)), Error);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {
using namespace window_testing;

TEST(EventTimeWindows, WindowAllAggregatesTheWholeStreamInOneSubtask) {
  const auto events = random_events(11, 2000);
  auto env = testing::quiet_env(3);
  auto timestamped = timestamped_events(env, events);
  auto sums = timestamped.window_all(TumblingEventTimeWindows::of(std::chrono::milliseconds(100)))
                  .reduce([](const Ev& a, const Ev& b) {
                    return Ev{0, a.value + b.value, 0};
                  })
                  .collect();
  auto result = env.execute();
  // The reference, with every record under one key.
  std::vector<Ev> one_key = events;
  for (auto& e : one_key) e.key = 0;
  const Expected expected = time_window_reference(
      one_key, TumblingEventTimeWindows::of(std::chrono::milliseconds(100)), 0);
  std::vector<int64_t> got, want;
  for (const auto& e : sums->values()) got.push_back(e.value);
  for (const auto& r : expected.results) want.push_back(r.sum);
  EXPECT_EQ(testing::sorted(got), testing::sorted(want));
  int subtasks = 0;
  for (const auto& op : result.metrics.operators) subtasks += op.name == "window_reduce_all";
  EXPECT_EQ(subtasks, 1);
}

TEST(ProcessingTimeWindows, EveryRecordIsCountedOnceInAlignedWindows) {
  auto env = testing::quiet_env(2);
  struct Count : AggregateFunction<int64_t, int64_t, int64_t> {
    int64_t create_accumulator() const override { return 0; }
    void add(const int64_t&, int64_t& acc) const override { ++acc; }
    int64_t get_result(const int64_t& acc) const override { return acc; }
    void merge(const int64_t& from, int64_t& into) const override { into += from; }
  };
  struct Label : ProcessWindowFunction<int64_t, Result, int64_t> {
    void process(const int64_t& key, const Context& ctx, const std::vector<int64_t>& r,
                 Collector<Result>& out) override {
      out.collect(Result{key, ctx.window().start, ctx.window().end, r[0], 0});
    }
  };
  // 3,000 records over about 0.3 s into 50 ms windows: several windows fire while the input runs,
  // the last ones when it ends.
  auto out = env.from_source(datagen<int64_t>([](int64_t i) { return i % 4; })
                                 .rows_per_second(10'000)
                                 .number_of_rows(3'000))
                 .key_by([](int64_t k) { return k; })
                 .window(TumblingProcessingTimeWindows::of(std::chrono::milliseconds(50)))
                 .aggregate(Count{}, Label{})
                 .collect();
  env.execute();
  int64_t total = 0;
  std::set<Timestamp> starts;
  for (const auto& r : out->values()) {
    EXPECT_EQ(r.start % 50, 0);
    EXPECT_EQ(r.end - r.start, 50);
    total += r.count;
    starts.insert(r.start);
  }
  EXPECT_EQ(total, 3'000);
  EXPECT_GE(starts.size(), 3u);
}

}  // namespace
}  // namespace sluice
