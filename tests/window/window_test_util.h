// Shared by the window tests: a record type, window functions computing (count, sum), a
// punctuated watermark generator, random out-of-order input, and the brute-force reference for
// tumbling and sliding windows.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "sluice/api/windowed_stream.h"
#include "test_util.h"

namespace sluice::window_testing {

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
  void process(const int64_t& key, const Context& ctx,
               const std::vector<std::pair<int64_t, int64_t>>& r, Collector<Result>& out) override {
    out.collect(Result{key, ctx.window().start, ctx.window().end, r[0].first, r[0].second});
  }
};

struct CountAllElements : ProcessWindowFunction<Ev, Result, int64_t> {
  void process(const int64_t& key, const Context& ctx, const std::vector<Ev>& elements,
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

inline constexpr size_t kBatch = 16;  // records_per_buffer<Ev>(64): the source's batch size below
inline constexpr Timestamp kBound = 20;

inline std::vector<Ev> random_events(uint32_t seed, size_t n) {
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
inline std::vector<TimeWindow> windows_of(Timestamp ts, const TimeWindowSpec& spec) {
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

inline Expected time_window_reference(const std::vector<Ev>& events, const TimeWindowSpec& spec,
                                      Timestamp lateness) {
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

// Runs events through a single-subtask source with AfterEachBatch(kBound) watermarks, so every
// window subtask sees records and watermarks in source order and lateness is deterministic.
inline DataStream<Ev> timestamped_events(StreamEnvironment& env, const std::vector<Ev>& events) {
  env.set_buffer_bytes(64);
  auto strategy = WatermarkStrategy<Ev>::for_generator([] {
                    return std::make_unique<AfterEachBatch>(kBound);
                  }).with_timestamp_assigner([](const Ev& e) { return e.ts; });
  return env.from_collection(events).assign_timestamps_and_watermarks(strategy).set_parallelism(1);
}

// Runs one windowed job and compares its results and late records with the reference.
template <class MakeWindowed>
inline void expect_matches(const std::vector<Ev>& events, const Expected& expected, int parallelism,
                           bool all_elements, MakeWindowed make_windowed) {
  auto env = testing::quiet_env(parallelism);
  OutputTag<Ev> late_tag("late");
  auto windowed = make_windowed(timestamped_events(env, events).key_by(&Ev::key));
  windowed.side_output_late_data(late_tag);
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

}  // namespace sluice::window_testing
