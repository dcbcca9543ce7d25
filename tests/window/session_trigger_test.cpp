// Session windows (static and dynamic gaps, with and without allowed lateness) against a
// brute-force reference, and triggers, evictors, count windows and window state.
#include "window/window_test_util.h"

namespace sluice {
namespace {
using namespace window_testing;

// The reference for session windows: the key's sessions as plain intervals. A record's window
// [ts, ts + gap) merges with every session it overlaps or touches; it is late when even the merged
// session is past its end + lateness. A session fires when the watermark reaches its end, or at
// once when a record lands in (or merges into) a session already at or below the watermark.
template <class Gap>
Expected session_reference(const std::vector<Ev>& events, Gap gap, Timestamp lateness) {
  struct Session {
    Timestamp start, end;
    int64_t count, sum;
  };
  Expected expected;
  std::map<int64_t, std::vector<Session>> sessions;
  Timestamp watermark = kMinWatermark, max_ts = kMinWatermark;
  auto emit = [&](int64_t key, const Session& s) {
    expected.results.push_back(Result{key, s.start, s.end, s.count, s.sum});
  };
  auto advance = [&](Timestamp to) {
    for (auto& [key, list] : sessions) {
      for (const auto& s : list) {
        if (s.end - 1 > watermark && s.end - 1 <= to) emit(key, s);
      }
      std::erase_if(list, [&](const Session& s) { return s.end - 1 + lateness <= to; });
    }
    watermark = to;
  };
  for (size_t i = 0; i < events.size(); ++i) {
    const Ev& e = events[i];
    Session merged{e.ts, e.ts + gap(e), 1, e.value};
    auto& list = sessions[e.key];
    auto touches = [&](const Session& s) { return s.start <= e.ts + gap(e) && s.end >= e.ts; };
    for (const auto& s : list) {
      if (!touches(s)) continue;
      merged.start = std::min(merged.start, s.start);
      merged.end = std::max(merged.end, s.end);
      merged.count += s.count;
      merged.sum += s.sum;
    }
    if (merged.end - 1 + lateness <= watermark) {
      expected.late.push_back(e.ts);
    } else {
      std::erase_if(list, touches);
      list.push_back(merged);
      if (merged.end - 1 <= watermark) emit(e.key, merged);
    }
    max_ts = std::max(max_ts, e.ts);
    if ((i + 1) % kBatch == 0 || i + 1 == events.size()) {
      if (max_ts - kBound - 1 > watermark) advance(max_ts - kBound - 1);
    }
  }
  advance(kMaxWatermark);
  return expected;
}

template <class Assigner, class Gap>
void run_session_case(const std::string& name, Assigner assigner, Gap gap, Timestamp lateness) {
  const auto events = random_events(17, 3000);
  const Expected expected = session_reference(events, gap, lateness);
  ASSERT_FALSE(expected.late.empty()) << "the input should contain late records";
  for (bool all_elements : {false, true}) {
    for (int p : {1, 2, 4}) {
      SCOPED_TRACE(name + " parallelism " + std::to_string(p) +
                   (all_elements ? " process" : " aggregate"));
      expect_matches(events, expected, p, all_elements, [&](auto keyed) {
        return keyed.window(assigner).allowed_lateness(std::chrono::milliseconds(lateness));
      });
    }
  }
}

TEST(SessionWindows, StaticGapMatchesReference) {
  auto gap = [](const Ev&) -> Timestamp { return 60; };
  run_session_case("gap 60", EventTimeSessionWindows::with_gap(std::chrono::milliseconds(60)), gap,
                   0);
  run_session_case("gap 60 lateness 40",
                   EventTimeSessionWindows::with_gap(std::chrono::milliseconds(60)), gap, 40);
  // Wide gaps merge long sessions, and late records bridge sessions that already fired.
  auto wide = [](const Ev&) -> Timestamp { return 120; };
  run_session_case("gap 120 lateness 30",
                   EventTimeSessionWindows::with_gap(std::chrono::milliseconds(120)), wide, 30);
}

TEST(SessionWindows, DynamicGapMatchesReference) {
  auto gap = [](const Ev& e) -> Timestamp { return 10 + e.value % 150; };
  run_session_case("dynamic gap", EventTimeSessionWindows::with_dynamic_gap(gap), gap, 0);
  run_session_case("dynamic gap lateness 50",
                   EventTimeSessionWindows::with_dynamic_gap(
                       [](const Ev& e) { return std::chrono::milliseconds(10 + e.value % 150); }),
                   gap, 50);
}

// Sessions with a 50 ms gap and a day of allowed lateness, which keeps a cleanup timer per session
// far in the future: the job's results at `parallelism` equal the reference's `results` ones.
void expect_day_late_sessions_match_reference(const std::vector<Ev>& events, int parallelism,
                                              size_t results) {
  const Timestamp day = 24 * 3600 * 1000;
  auto gap = [](const Ev&) -> Timestamp { return 50; };
  const Expected expected = session_reference(events, gap, day);
  ASSERT_EQ(expected.results.size(), results);
  auto env = testing::quiet_env(parallelism);
  auto windowed = timestamped_events(env, events)
                      .key_by(&Ev::key)
                      .window(EventTimeSessionWindows::with_gap(std::chrono::milliseconds(50)));
  windowed.allowed_lateness(std::chrono::milliseconds(day));
  auto out = windowed.aggregate(CountAndSum{}, LabelResult{}).collect();
  env.execute();
  EXPECT_EQ(testing::sorted(out->values()), testing::sorted(expected.results));
}

TEST(SessionWindows, ALongLatenessKeepsResultsAndTimersInCheck) {
  // In order, with a pause every 1,000 records that closes every key's session. A day of
  // lateness keeps a cleanup timer per session far in the future, and every extension of a
  // session leaves a stale one behind: the operator compacts its timer queue as they pile up.
  std::vector<Ev> events;
  for (int64_t i = 0; i < 60'000; ++i) events.push_back(Ev{i % 5, i % 7, i + (i / 1'000) * 100});
  expect_day_late_sessions_match_reference(events, 2, 60u * 5);
}

TEST(SessionWindows, ManyKeysExtendingTogetherHaveTheirStaleTimersCompactedInSteps) {
  // Thousands of keys whose sessions all end in the same millisecond: their timer buckets are too
  // large to search when a session moves its timers, so the old ones stay behind, stale, and the
  // queue is compacted step by step while records keep coming. Keys 0-2,999 stop after 10 rounds:
  // their sessions' timers are live while the other keys' records drive compactions, and must
  // survive them.
  std::vector<Ev> events;
  for (int64_t round = 0; round < 40; ++round) {
    for (int64_t key = round < 10 ? 0 : 3'000; key < 6'000; ++key) {
      events.push_back(Ev{key, round, round * 20});
    }
  }
  expect_day_late_sessions_match_reference(events, 1, 6'000u);
}

TEST(SessionWindows, ACountTriggerCountsAcrossMergedSessions) {
  // One key, a record every 5 ms with a 10 ms gap: one session that every record extends, so every
  // record merges the trigger's count into the grown window.
  std::vector<Ev> events;
  for (int64_t i = 0; i < 30; ++i) events.push_back(Ev{1, 1, 5 * i});
  auto env = testing::quiet_env(1);
  auto out = timestamped_events(env, events)
                 .key_by(&Ev::key)
                 .window(EventTimeSessionWindows::with_gap(std::chrono::milliseconds(10)))
                 .trigger(CountTrigger::of(3))
                 .aggregate(CountAndSum{}, LabelResult{})
                 .collect();
  env.execute();
  std::vector<Result> expected;
  for (int64_t n = 3; n <= 30; n += 3) expected.push_back(Result{1, 0, 5 * (n - 1) + 10, n, n});
  EXPECT_EQ(out->values(), expected);
}

TEST(SessionWindows, NonPositiveDynamicGapFailsTheJob) {
  auto env = testing::quiet_env(1);
  timestamped_events(env, random_events(3, 10))
      .key_by(&Ev::key)
      .window(EventTimeSessionWindows::with_dynamic_gap([](const Ev&) { return 0; }))
      .reduce([](const Ev& a, const Ev&) { return a; })
      .collect();
  try {
    env.execute();
    FAIL() << "expected a failure";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("session gap must be positive"), std::string::npos)
        << e.what();
  }
}

struct CountOf : AggregateFunction<int64_t, int64_t, int64_t> {
  int64_t create_accumulator() const override { return 0; }
  void add(const int64_t&, int64_t& acc) const override { ++acc; }
  int64_t get_result(const int64_t& acc) const override { return acc; }
  void merge(const int64_t& from, int64_t& into) const override { into += from; }
};

TEST(SessionWindows, ProcessingTimeSessionsCountEveryRecordOnce) {
  auto env = testing::quiet_env(2);
  auto out = env.from_sequence(0, 2'999)
                 .key_by([](int64_t x) { return x % 5; })
                 .window(ProcessingTimeSessionWindows::with_gap(std::chrono::seconds(10)))
                 .aggregate(CountOf{})
                 .collect();
  env.execute();
  // The input takes far less than the gap: one session per key, fired at the end of the input.
  EXPECT_EQ(testing::sorted(out->values()), (std::vector<int64_t>{600, 600, 600, 600, 600}));
}

// ---- count windows, triggers, evictors ----

// Runs `make(keyed)` over random keyed values (no timestamps) and returns the sorted (key, value)
// results, at each parallelism.
template <class Make>
void expect_per_key(const std::vector<std::pair<int64_t, int64_t>>& input,
                    const std::vector<std::pair<int64_t, int64_t>>& expected, Make make) {
  for (int p : {1, 2, 4}) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    auto env = testing::quiet_env(p);
    env.set_buffer_bytes(64);
    auto keyed = env.from_collection(input).key_by(
        [](const std::pair<int64_t, int64_t>& kv) { return kv.first; });
    auto out = make(keyed).collect();
    env.execute();
    EXPECT_EQ(testing::sorted(out->values()), testing::sorted(expected));
  }
}

using KV = std::pair<int64_t, int64_t>;
KV add_values(const KV& a, const KV& b) { return {a.first, a.second + b.second}; }

std::vector<KV> random_kvs(size_t n) {
  std::mt19937_64 rng(5);
  std::vector<KV> input;
  for (size_t i = 0; i < n; ++i) {
    input.emplace_back(static_cast<int64_t>(rng() % 13), static_cast<int64_t>(rng() % 100));
  }
  return input;
}

TEST(Triggers, CountTriggerOnGlobalWindowsFiresEveryNElements) {
  const auto input = random_kvs(2'000);
  // Without purging, each firing sums everything the key's window has seen so far.
  std::vector<KV> cumulative, tumbling;
  std::map<int64_t, std::pair<int64_t, int64_t>> seen;  // key -> count, sum since start
  std::map<int64_t, int64_t> since_fire;                // key -> sum since the last firing
  for (const auto& [k, v] : input) {
    auto& [count, sum] = seen[k];
    ++count;
    sum += v;
    since_fire[k] += v;
    if (count % 3 == 0) {
      cumulative.emplace_back(k, sum);
      tumbling.emplace_back(k, since_fire[k]);
      since_fire[k] = 0;
    }
  }
  expect_per_key(input, cumulative, [](auto keyed) {
    return keyed.window(GlobalWindows::create())
        .trigger(CountTrigger::of(3))
        .reduce([](const KV& a, const KV& b) { return add_values(a, b); });
  });
  // count_window(3) = global windows + a purging count trigger: disjoint groups of three.
  expect_per_key(input, tumbling, [](auto keyed) {
    return keyed.count_window(3).reduce([](const KV& a, const KV& b) { return add_values(a, b); });
  });
}

TEST(Evictors, SlidingCountWindowKeepsTheLastElements) {
  const auto input = random_kvs(2'000);
  // count_window(4, 2): every 2 elements of a key, the sum of its last (up to) 4.
  std::vector<KV> expected;
  std::map<int64_t, std::vector<int64_t>> history;
  for (const auto& [k, v] : input) {
    auto& h = history[k];
    h.push_back(v);
    if (h.size() % 2 == 0) {
      int64_t sum = 0;
      for (size_t i = h.size() >= 4 ? h.size() - 4 : 0; i < h.size(); ++i) sum += h[i];
      expected.emplace_back(k, sum);
    }
  }
  expect_per_key(input, expected, [](auto keyed) {
    return keyed.count_window(4, 2).reduce(
        [](const KV& a, const KV& b) { return add_values(a, b); });
  });
}

TEST(Evictors, TimeEvictorKeepsRecentElementsOfTheWindow) {
  // One key, timestamps 0..99 in order, one 100 ms window: the evictor keeps the last 10 ms.
  std::vector<Ev> events;
  for (int64_t i = 0; i < 100; ++i) events.push_back(Ev{1, i, i});
  auto env = testing::quiet_env(1);
  auto out = timestamped_events(env, events)
                 .key_by(&Ev::key)
                 .window(TumblingEventTimeWindows::of(std::chrono::milliseconds(100)))
                 .evictor(TimeEvictor::of(std::chrono::milliseconds(10)))
                 .process(CountAllElements{})
                 .collect();
  env.execute();
  // As Flink: 89 = 99 - 10 is evicted, 90..99 stay.
  EXPECT_EQ(
      out->values(),
      (std::vector<Result>{{1, 0, 100, 10, 90 + 91 + 92 + 93 + 94 + 95 + 96 + 97 + 98 + 99}}));
}

TEST(Triggers, ContinuousEventTimeTriggerGivesEarlyResults) {
  std::vector<Ev> events;
  for (int64_t i = 0; i < 100; ++i) events.push_back(Ev{1, 1, i});
  auto env = testing::quiet_env(1);
  auto out = timestamped_events(env, events)
                 .key_by(&Ev::key)
                 .window(TumblingEventTimeWindows::of(std::chrono::milliseconds(100)))
                 .trigger(ContinuousEventTimeTrigger::of(std::chrono::milliseconds(20)))
                 .aggregate(CountAndSum{}, LabelResult{})
                 .collect();
  env.execute();
  // Firings at 20, 40, 60 and 80 ms of event time, then at the window's end (99).
  auto results = out->values();
  ASSERT_EQ(results.size(), 5u);
  for (size_t i = 1; i < results.size(); ++i) EXPECT_LE(results[i - 1].count, results[i].count);
  EXPECT_GE(results[0].count, 21);  // every element up to ts 20 had arrived when it fired
  EXPECT_EQ(results.back().count, 100);
}

TEST(Triggers, ContinuousProcessingTimeTriggerGivesEarlyResultsAndAFinalOne) {
  auto env = testing::quiet_env(2);
  using Count = std::tuple<int64_t, Timestamp, int64_t>;  // key, window start, count so far
  struct Label : ProcessWindowFunction<int64_t, Count, int64_t> {
    void process(const int64_t& key, const Context& ctx, const std::vector<int64_t>& counts,
                 Collector<Count>& out) override {
      out.collect(Count{key, ctx.window().start, counts[0]});
    }
  };
  // 3,000 records over about 0.3 s into hour-long windows, fired every 20 ms of processing time.
  auto out = env.from_source(datagen<int64_t>([](int64_t i) { return i % 2; })
                                 .rows_per_second(10'000)
                                 .number_of_rows(3'000))
                 .key_by([](int64_t k) { return k; })
                 .window(TumblingProcessingTimeWindows::of(std::chrono::hours(1)))
                 .trigger(ContinuousProcessingTimeTrigger::of(std::chrono::milliseconds(20)))
                 .aggregate(CountOf{}, Label{})
                 .collect();
  env.execute();
  std::map<std::pair<int64_t, Timestamp>, int64_t> last;
  for (const auto& [key, start, count] : out->values()) {
    auto& previous = last[{key, start}];
    EXPECT_GE(count, previous) << "firings of a window only grow";
    previous = count;
  }
  int64_t total = 0;
  for (const auto& [window, count] : last) total += count;
  EXPECT_EQ(total, 3'000) << "the last firing of every window has all its records";
  EXPECT_GT(out->values().size(), last.size()) << "early firings while the input ran";
}

// A user-defined trigger: fires and purges as soon as a large value arrives, and at the end of
// the window for whatever is left.
struct FireOnLargeValue {
  struct State {
    int64_t large_seen = 0;
  };
  TriggerResult on_element(const Ev& e, Timestamp, const TimeWindow& w, State& s,
                           TriggerContext& ctx) {
    ctx.register_event_time_timer(w.max_timestamp());
    if (e.value < 900) return TriggerResult::kContinue;
    ++s.large_seen;
    return TriggerResult::kFireAndPurge;
  }
  TriggerResult on_event_time(Timestamp time, const TimeWindow& w, State&, TriggerContext&) {
    return time == w.max_timestamp() ? TriggerResult::kFire : TriggerResult::kContinue;
  }
  TriggerResult on_processing_time(Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  void clear(const TimeWindow& w, State&, TriggerContext& ctx) {
    ctx.delete_event_time_timer(w.max_timestamp());
  }
};

TEST(Triggers, CustomTriggerFiresAndPurges) {
  // In-order input: no late records, so the reference is a plain loop over each window.
  std::vector<Ev> events;
  std::mt19937_64 rng(9);
  for (int64_t i = 0; i < 2'000; ++i) {
    events.push_back(Ev{static_cast<int64_t>(rng() % 7), static_cast<int64_t>(rng() % 1000), i});
  }
  std::vector<Result> expected;
  std::map<std::pair<int64_t, Timestamp>, std::pair<int64_t, int64_t>> open;  // since last fire
  for (const auto& e : events) {
    const Timestamp start = e.ts - e.ts % 100;
    auto& [count, sum] = open[{e.key, start}];
    ++count;
    sum += e.value;
    if (e.value >= 900) {
      expected.push_back(Result{e.key, start, start + 100, count, sum});
      count = sum = 0;
    }
  }
  for (const auto& [ks, cs] : open) {
    if (cs.first > 0)
      expected.push_back(Result{ks.first, ks.second, ks.second + 100, cs.first, cs.second});
  }
  for (int p : {1, 3}) {
    auto env = testing::quiet_env(p);
    auto out = timestamped_events(env, events)
                   .key_by(&Ev::key)
                   .window(TumblingEventTimeWindows::of(std::chrono::milliseconds(100)))
                   .trigger(FireOnLargeValue{})
                   .process(CountAllElements{})
                   .collect();
    env.execute();
    EXPECT_EQ(testing::sorted(out->values()), testing::sorted(expected)) << "parallelism " << p;
  }
}

// Counts its firings per window (window state) and per key (global state).
struct CountFirings
    : ProcessWindowFunction<Ev, std::tuple<int64_t, Timestamp, int64_t, int64_t>, int64_t> {
  void process(const int64_t& key, const Context& ctx, const std::vector<Ev>&,
               Collector<std::tuple<int64_t, Timestamp, int64_t, int64_t>>& out) override {
    auto& per_window = ctx.window_state().get_state(ValueStateDescriptor<int64_t>{"firings"});
    auto& per_key = ctx.global_state().get_state(ValueStateDescriptor<int64_t>{"firings"});
    per_window.update(per_window.value().value_or(0) + 1);
    per_key.update(per_key.value().value_or(0) + 1);
    out.collect({key, ctx.window().start, *per_window.value(), *per_key.value()});
  }
};

TEST(WindowState, PerWindowStateSeesLateFiringsAndGlobalStateSpansWindows) {
  // Key 1: window [0,100) fires at watermark 99, then a late record (within the lateness) fires it
  // again; then window [100, 200) fires once.
  std::vector<Ev> events;
  // Batches of 16 records; the watermark after each is max ts - 21.
  for (int64_t i = 0; i < 16; ++i) events.push_back(Ev{1, 1, i * 10});  // 0..150: watermark 129
  for (int64_t i = 0; i < 16; ++i) events.push_back(Ev{1, 1, 150});
  events.push_back(Ev{1, 1, 50});  // late for [0, 100), within 100 ms of lateness
  for (bool general : {false, true}) {
    auto env = testing::quiet_env(1);
    auto windowed = timestamped_events(env, events)
                        .key_by(&Ev::key)
                        .window(TumblingEventTimeWindows::of(std::chrono::milliseconds(100)));
    windowed.allowed_lateness(std::chrono::milliseconds(100));
    auto out = general ? windowed.trigger(EventTimeTrigger::create()).process(CountFirings{})
                       : windowed.process(CountFirings{});
    auto collected = out.collect();
    env.execute();
    using R = std::tuple<int64_t, Timestamp, int64_t, int64_t>;
    EXPECT_EQ(collected->values(), (std::vector<R>{{1, 0, 1, 1}, {1, 0, 2, 2}, {1, 100, 1, 3}}))
        << (general ? "general operator" : "pane operator");
  }
}

TEST(WindowState, PerWindowStateWithSessionsFailsClearly) {
  auto env = testing::quiet_env(1);
  timestamped_events(env, random_events(3, 100))
      .key_by(&Ev::key)
      .window(EventTimeSessionWindows::with_gap(std::chrono::milliseconds(10)))
      .process(CountFirings{})
      .collect();
  try {
    env.execute();
    FAIL() << "expected a failure";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("per-window state is not available"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sluice
