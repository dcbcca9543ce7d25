// Differential tests of event-time windows: randomized out-of-order input with late records,
// tumbling and sliding windows, with and without allowed lateness, at parallelism 1, 2 and 4,
// against a brute-force reference that replays the watermark rule record by record.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>

#include "sluice/window/windowed_stream.h"
#include "test_util.h"

namespace sluice {
namespace {

struct Ev {
  int64_t key;
  int64_t value;
  Timestamp ts;
};

struct Result {
  int64_t key;
  Timestamp start, end;
  int64_t count, sum;
  auto operator<=>(const Result&) const = default;
  friend void PrintTo(const Result& r, std::ostream* os) {
    *os << "{key " << r.key << " [" << r.start << "," << r.end << ") n=" << r.count
        << " sum=" << r.sum << "}";
  }
};

struct CountAndSum
    : AggregateFunction<Ev, std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>> {
  std::pair<int64_t, int64_t> create_accumulator() const override { return {0, 0}; }
  void add(const Ev& e, std::pair<int64_t, int64_t>& acc) const override {
    acc.first += 1;
    acc.second += e.value;
  }
  std::pair<int64_t, int64_t> get_result(const std::pair<int64_t, int64_t>& acc) const override {
    return acc;
  }
  void merge(const std::pair<int64_t, int64_t>& from,
             std::pair<int64_t, int64_t>& into) const override {
    into.first += from.first;
    into.second += from.second;
  }
};

struct LabelResult : ProcessWindowFunction<std::pair<int64_t, int64_t>, Result, int64_t> {
  void process(const int64_t& key, const WindowContext& ctx,
               const std::vector<std::pair<int64_t, int64_t>>& r, Collector<Result>& out) override {
    out.collect(Result{key, ctx.window().start, ctx.window().end, r[0].first, r[0].second});
  }
};

struct CountAllElements : ProcessWindowFunction<Ev, Result, int64_t> {
  void process(const int64_t& key, const WindowContext& ctx, const std::vector<Ev>& elements,
               Collector<Result>& out) override {
    int64_t sum = 0;
    for (const auto& e : elements) sum += e.value;
    out.collect(Result{key, ctx.window().start, ctx.window().end,
                       static_cast<int64_t>(elements.size()), sum});
  }
};

// Punctuated: after each batch, max timestamp seen - bound - 1.
class AfterEachBatch final : public WatermarkGenerator<Ev> {
 public:
  explicit AfterEachBatch(Timestamp bound) : bound_(bound) {}
  void on_batch(const RecordBuffer<Ev>& batch, WatermarkOutput& out) override {
    for (Timestamp ts : batch.timestamps) max_ = std::max(max_, ts);
    if (max_ != kMinWatermark) out.emit_watermark(max_ - bound_ - 1);
  }

 private:
  Timestamp bound_;
  Timestamp max_ = kMinWatermark;
};

constexpr size_t kBatch = 16;  // records_per_buffer<Ev>(64): the source's batch size below
constexpr Timestamp kBound = 20;

std::vector<Ev> random_events(uint32_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<Ev> events;
  for (size_t i = 0; i < n; ++i) {
    // Disorder up to 100 ms, far beyond the 20 ms bound: late records, also past the lateness.
    auto jitter = static_cast<Timestamp>(rng() % 201) - 100;
    events.push_back(Ev{static_cast<int64_t>(rng() % 37), static_cast<int64_t>(rng() % 1000),
                        10'000 + 3 * static_cast<Timestamp>(i) + jitter});
  }
  return events;
}

// All windows [s, s + size) with s = offset + k * slide containing ts, found by brute force.
std::vector<TimeWindow> windows_of(Timestamp ts, const TimeWindowSpec& spec) {
  std::vector<TimeWindow> windows;
  for (int64_t k = (ts - spec.size - spec.offset) / spec.slide - 2;; ++k) {
    Timestamp s = spec.offset + k * spec.slide;
    if (s > ts) break;
    if (ts < s + spec.size) windows.push_back({s, s + spec.size});
  }
  return windows;
}

struct Expected {
  std::vector<Result> results;
  std::vector<Timestamp> late;  // timestamps of late records
};

Expected reference(const std::vector<Ev>& events, const TimeWindowSpec& spec, Timestamp lateness) {
  Expected expected;
  std::map<std::pair<int64_t, Timestamp>, std::pair<int64_t, int64_t>>
      state;  // (key, start) -> count, sum
  Timestamp watermark = kMinWatermark, max_ts = kMinWatermark;
  auto emit = [&](int64_t key, Timestamp start) {
    auto [count, sum] = state[{key, start}];
    expected.results.push_back(Result{key, start, start + spec.size, count, sum});
  };
  auto advance = [&](Timestamp to) {
    for (const auto& [ks, cs] : state) {
      Timestamp max = ks.second + spec.size - 1;
      if (max > watermark && max <= to) emit(ks.first, ks.second);
    }
    watermark = to;
    for (auto it = state.begin(); it != state.end();) {
      it = it->first.second + spec.size - 1 + lateness <= watermark ? state.erase(it)
                                                                    : std::next(it);
    }
  };
  for (size_t i = 0; i < events.size(); ++i) {
    const Ev& e = events[i];
    bool accepted = false;
    for (const TimeWindow& w : windows_of(e.ts, spec)) {
      if (w.max_timestamp() + lateness <= watermark) continue;  // this window is gone
      accepted = true;
      auto& [count, sum] = state[{e.key, w.start}];
      ++count;
      sum += e.value;
      if (w.max_timestamp() <= watermark) emit(e.key, w.start);  // late firing
    }
    if (!accepted) expected.late.push_back(e.ts);
    max_ts = std::max(max_ts, e.ts);
    if ((i + 1) % kBatch == 0 || i + 1 == events.size()) {
      if (max_ts - kBound - 1 > watermark) advance(max_ts - kBound - 1);
    }
  }
  advance(kMaxWatermark);
  return expected;
}

struct Case {
  const char* name;
  TimeWindowSpec spec;
  Timestamp lateness;
};

void run_case(const Case& c, bool all_elements) {
  const auto events = random_events(42, 3000);
  const Expected expected = reference(events, c.spec, c.lateness);
  ASSERT_FALSE(expected.late.empty()) << "the input should contain late records";
  for (int p : {1, 2, 4}) {
    SCOPED_TRACE(std::string(c.name) + " parallelism " + std::to_string(p) +
                 (all_elements ? " process" : " aggregate"));
    auto env = testing::quiet_env(p);
    env.set_buffer_bytes(64);
    OutputTag<Ev> late_tag("late");
    auto strategy = WatermarkStrategy<Ev>::for_generator([] {
                      return std::make_unique<AfterEachBatch>(kBound);
                    }).with_timestamp_assigner([](const Ev& e) { return e.ts; });
    // The generator runs in the collection source's one subtask, so every window subtask sees
    // records and watermarks in source order: lateness is deterministic.
    auto timestamped =
        env.from_collection(events).assign_timestamps_and_watermarks(strategy).set_parallelism(1);
    auto windowed = timestamped.key_by(&Ev::key).window(c.spec);
    windowed.allowed_lateness(std::chrono::milliseconds(c.lateness))
        .side_output_late_data(late_tag);
    auto results = all_elements ? windowed.process(CountAllElements{})
                                : windowed.aggregate(CountAndSum{}, LabelResult{});
    auto collected = results.collect();
    auto late = results.get_side_output(late_tag).map([](const Ev& e) { return e.ts; }).collect();
    env.execute();
    EXPECT_EQ(testing::sorted(collected->values()), testing::sorted(expected.results));
    EXPECT_EQ(testing::sorted(late->values()), testing::sorted(expected.late));
    // Every result carries its window's max timestamp.
    auto values = collected->values();
    auto timestamps = collected->timestamps();
    for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(timestamps[i], values[i].end - 1);
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

TEST(EventTimeWindows, ReduceAndDroppedLateRecordsAreCounted) {
  auto env = testing::quiet_env(2);
  env.set_buffer_bytes(64);
  const auto events = random_events(7, 2000);
  const Expected expected =
      reference(events, TumblingEventTimeWindows::of(std::chrono::milliseconds(50)), 0);
  auto strategy = WatermarkStrategy<Ev>::for_generator([] {
                    return std::make_unique<AfterEachBatch>(kBound);
                  }).with_timestamp_assigner([](const Ev& e) { return e.ts; });
  auto timestamped =
      env.from_collection(events).assign_timestamps_and_watermarks(strategy).set_parallelism(1);
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

TEST(EventTimeWindows, WindowAllAggregatesTheWholeStreamInOneSubtask) {
  const auto events = random_events(11, 2000);
  auto env = testing::quiet_env(3);
  env.set_buffer_bytes(64);
  auto strategy = WatermarkStrategy<Ev>::for_generator([] {
                    return std::make_unique<AfterEachBatch>(kBound);
                  }).with_timestamp_assigner([](const Ev& e) { return e.ts; });
  auto timestamped =
      env.from_collection(events).assign_timestamps_and_watermarks(strategy).set_parallelism(1);
  auto sums = timestamped.window_all(TumblingEventTimeWindows::of(std::chrono::milliseconds(100)))
                  .reduce([](const Ev& a, const Ev& b) {
                    return Ev{0, a.value + b.value, 0};
                  })
                  .collect();
  auto result = env.execute();
  // The reference, with every record under one key.
  std::vector<Ev> one_key = events;
  for (auto& e : one_key) e.key = 0;
  const Expected expected =
      reference(one_key, TumblingEventTimeWindows::of(std::chrono::milliseconds(100)), 0);
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
    void process(const int64_t& key, const WindowContext& ctx, const std::vector<int64_t>& r,
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
