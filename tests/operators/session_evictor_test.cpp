// Session windows with evictors, on the general window operator alone (the operator harness), at
// subtasks of several parallelisms, against a brute-force reference: sessions merged from all of a
// key's records, then the evictor applied to each session's elements, summarized.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>

#include "sluice/functions/window_function.h"
#include "sluice/operators/trigger_window_operator.h"
#include "sluice/window/triggers.h"
#include "sluice/window/windows.h"
#include "support/operator_harness.h"
#include "window/window_test_util.h"

namespace sluice {
namespace {

using window_testing::CountAllElements;
using window_testing::Ev;
using window_testing::Result;

constexpr auto kKey = [](const Ev& e) { return e.key; };
constexpr Timestamp kGap = 50;

template <class Evictor>
std::unique_ptr<Operator> make_operator(Evictor evictor) {
  using Adapter = operators::ProcessAdapter<Ev, CountAllElements, int64_t>;
  auto sessions = EventTimeSessionWindows::with_gap(std::chrono::milliseconds(kGap));
  return std::make_unique<operators::TriggerWindowOperator<
      Ev, decltype(kKey), Adapter, decltype(sessions), DefaultTrigger, Evictor>>(
      kKey, Adapter{CountAllElements{}}, sessions, DefaultTrigger{true}, evictor, 0, std::nullopt);
}

// Each key's sessions from all its events (in arrival order within a session), with
// keep(elements) applied to each.
template <class Keep>
std::vector<Result> reference(const std::vector<Ev>& events, Keep&& keep) {
  std::map<int64_t, std::vector<Ev>> by_key;
  for (const Ev& e : events) by_key[e.key].push_back(e);
  std::vector<Result> result;
  for (auto& [key, list] : by_key) {
    std::vector<Ev> sorted = list;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Ev& a, const Ev& b) { return a.ts < b.ts; });
    size_t i = 0;
    while (i < sorted.size()) {
      Timestamp start = sorted[i].ts, end = sorted[i].ts + kGap;
      size_t j = i + 1;
      while (j < sorted.size() && sorted[j].ts <= end) end = std::max(end, sorted[j++].ts + kGap);
      std::vector<Ev> session;  // in arrival order
      for (const Ev& e : list) {
        if (e.ts >= start && e.ts < end) session.push_back(e);
      }
      const std::vector<Ev> kept = keep(session);
      int64_t sum = 0;
      for (const Ev& e : kept) sum += e.value;
      result.push_back(Result{key, start, end, static_cast<int64_t>(kept.size()), sum});
      i = j;
    }
  }
  std::sort(result.begin(), result.end());
  return result;
}

// Runs `events` through one harness per subtask (records routed by key group, as a keyed
// exchange does), with watermarks that trail the input by `disorder` + a gap (so a session that
// fires is final), and returns every subtask's output.
template <class Evictor>
std::vector<Result> run(const std::vector<Ev>& events, int parallelism, Timestamp disorder,
                        Evictor evictor) {
  std::vector<std::unique_ptr<testing::OperatorHarness<Result>>> subtasks;
  for (int s = 0; s < parallelism; ++s) {
    testing::HarnessOptions options;
    options.subtask = s;
    options.parallelism = parallelism;
    subtasks.push_back(
        std::make_unique<testing::OperatorHarness<Result>>(make_operator(evictor), options));
    subtasks.back()->open();
  }
  Timestamp max_seen = kMinWatermark;
  for (size_t i = 0; i < events.size(); ++i) {
    const Ev& e = events[i];
    const int subtask = subtask_for_key_group(key_group_for_key(e.key, kDefaultMaxParallelism),
                                              parallelism, kDefaultMaxParallelism);
    subtasks[static_cast<size_t>(subtask)]->process(e, e.ts);
    max_seen = std::max(max_seen, e.ts);
    if (i % 16 == 15) {
      for (auto& h : subtasks) h->process_watermark(max_seen - disorder - kGap - 1);
    }
  }
  std::vector<Result> result;
  for (auto& h : subtasks) {
    h->end_input();
    for (const Result& s : h->output_values()) result.push_back(s);
    EXPECT_EQ(h->counter("late_records_dropped"), 0u);
  }
  std::sort(result.begin(), result.end());
  return result;
}

// Keys' events in time order (so arrival order is time order within each key), gaps drawn so
// that sessions both form and merge.
std::vector<Ev> in_order_events(std::mt19937_64& rng, int keys, int per_key) {
  std::vector<Ev> events;
  std::vector<Timestamp> clock(static_cast<size_t>(keys), 1'000);
  int64_t id = 0;
  for (int n = 0; n < keys * per_key; ++n) {
    const auto key = static_cast<int64_t>(rng() % static_cast<uint64_t>(keys));
    Timestamp& ts = clock[static_cast<size_t>(key)];
    ts += static_cast<Timestamp>(rng() % 4 == 0 ? 60 + rng() % 100 : rng() % 30);
    events.push_back(Ev{key, ++id, ts});
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Ev& a, const Ev& b) { return a.ts < b.ts; });
  return events;
}

TEST(SessionWindowsWithEvictors, CountEvictorKeepsTheLastElementsOfEachMergedSession) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    std::mt19937_64 rng(seed);
    const auto events = in_order_events(rng, 7, 40);
    const auto expected = reference(events, [](std::vector<Ev> session) {
      if (session.size() > 3) session.erase(session.begin(), session.end() - 3);
      return session;
    });
    for (int parallelism : {1, 2, 3}) {
      EXPECT_EQ(run(events, parallelism, 0, CountEvictor::of(3)), expected)
          << "seed " << seed << ", parallelism " << parallelism;
    }
  }
}

TEST(SessionWindowsWithEvictors, TimeEvictorOverOutOfOrderInputMatchesTheReference) {
  constexpr Timestamp kDisorder = 40;
  constexpr Timestamp kKeep = 35;
  for (uint64_t seed : {11u, 12u, 13u}) {
    std::mt19937_64 rng(seed);
    // Each event arrives up to kDisorder after its timestamp: in order of ts + delay.
    std::vector<std::pair<Timestamp, Ev>> delayed;
    for (const Ev& e : in_order_events(rng, 5, 60))
      delayed.emplace_back(e.ts + static_cast<Timestamp>(rng() % kDisorder), e);
    std::stable_sort(delayed.begin(), delayed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Ev> arrival;
    for (const auto& [at, e] : delayed) arrival.push_back(e);
    const auto expected = reference(arrival, [](std::vector<Ev> session) {
      Timestamp newest = kMinWatermark;
      for (const Ev& e : session) newest = std::max(newest, e.ts);
      std::erase_if(session, [&](const Ev& e) { return e.ts <= newest - kKeep; });
      return session;
    });
    for (int parallelism : {1, 2, 3}) {
      EXPECT_EQ(
          run(arrival, parallelism, kDisorder, TimeEvictor::of(std::chrono::milliseconds(kKeep))),
          expected)
          << "seed " << seed << ", parallelism " << parallelism;
    }
  }
}

}  // namespace
}  // namespace sluice
