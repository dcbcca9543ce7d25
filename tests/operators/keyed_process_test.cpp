// The keyed process operator on its own, through the operator harness: processing-time timers
// driven by the harness's clock (no sleeps), event-time timers by watermarks, deleted timers that
// never fire (also in buckets too large to search), and timers that survive a snapshot and restore.
#include <gtest/gtest.h>

#include <algorithm>

#include "sluice/operators/keyed_process.h"
#include "support/operator_harness.h"

namespace sluice {
namespace {

using testing::OperatorHarness;
using testing::Recorded;

struct Reading {
  int64_t sensor;
  Timestamp ts;
};

struct Alert {
  int64_t sensor;
  Timestamp at;
  bool event_time;
  bool operator==(const Alert&) const = default;
};

// A sensor silent for 100 ms of processing time raises an alert (each reading moves the timeout);
// every reading also asks for a reminder 10 ms of event time after it.
struct Watchdog : KeyedProcessFunction<int64_t, Reading, Alert> {
  ValueState<Timestamp>* deadline = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    deadline = &ctx.get_state(ValueStateDescriptor<Timestamp>{"deadline"});
  }
  void process_element(const Reading& r, Context& ctx, Collector<Alert>&) override {
    TimerService& timers = ctx.timer_service();
    if (auto previous = deadline->value()) timers.delete_processing_time_timer(*previous);
    const Timestamp next = timers.current_processing_time() + 100;
    deadline->update(next);
    timers.register_processing_time_timer(next);
    timers.register_event_time_timer(r.ts + 10);
  }
  void on_timer(Timestamp time, OnTimerContext& ctx, Collector<Alert>& out) override {
    out.collect(Alert{ctx.current_key(), time, ctx.time_domain() == TimeDomain::kEventTime});
    if (ctx.time_domain() == TimeDomain::kProcessingTime) deadline->clear();
  }
};

constexpr auto kSensor = [](const Reading& r) { return r.sensor; };
using Operator_ = operators::KeyedProcessOperator<Reading, decltype(kSensor), Watchdog>;

std::unique_ptr<Operator> make_watchdog() {
  return std::make_unique<Operator_>(kSensor, Watchdog{});
}

TEST(KeyedProcessOperator, ProcessingTimeTimersFireAsTheClockAdvancesAndDeletedOnesNever) {
  OperatorHarness<Alert> harness(make_watchdog());
  harness.open();
  harness.process(Reading{1, 1'000}, 1'000);  // timeout at 100
  harness.process(Reading{2, 1'000}, 1'000);  // timeout at 100
  harness.advance_processing_time(60);
  harness.process(Reading{1, 1'005}, 1'005);  // sensor 1's timeout moves to 160
  harness.advance_processing_time(120);
  EXPECT_EQ(harness.output_values(), (std::vector<Alert>{{2, 100, false}}));
  harness.advance_processing_time(200);
  EXPECT_EQ(harness.output_values(), (std::vector<Alert>{{2, 100, false}, {1, 160, false}}));
  harness.clear_output();

  // Event time: the reminders fire as the watermark passes them, with their time (those of one
  // time in no particular order, as in Flink).
  harness.process_watermark(1'010);
  auto reminders = harness.output();
  std::sort(reminders.begin(), reminders.end(),
            [](const auto& a, const auto& b) { return a.value.sensor < b.value.sensor; });
  EXPECT_EQ(reminders,
            (std::vector<Recorded<Alert>>{{{1, 1'010, true}, 1'010}, {{2, 1'010, true}, 1'010}}));
  harness.process_watermark(1'020);
  EXPECT_EQ(harness.output().back(), (Recorded<Alert>{{1, 1'015, true}, 1'015}));
  EXPECT_EQ(harness.watermarks(), (std::vector<Timestamp>{1'010, 1'020}));
}

TEST(KeyedProcessOperator, TimersDeletedFromALargeBucketAreSkippedWhenDue) {
  // Every key's timeout at the same millisecond: one bucket of 3,000 timers, too large to search
  // for a deleted one, which stays in the queue and must be skipped when it comes due.
  OperatorHarness<Alert> harness(make_watchdog());
  harness.open();
  for (int64_t sensor = 0; sensor < 3'000; ++sensor) harness.process(Reading{sensor, 0}, 0);
  harness.advance_processing_time(50);
  for (int64_t sensor = 0; sensor < 3'000; sensor += 2) harness.process(Reading{sensor, 0}, 0);
  harness.advance_processing_time(100);
  std::vector<Alert> fired = harness.output_values();
  ASSERT_EQ(fired.size(), 1'500u);
  for (const Alert& alert : fired) {
    EXPECT_EQ(alert.sensor % 2, 1);
    EXPECT_EQ(alert.at, 100);
  }
  harness.advance_processing_time(150);
  EXPECT_EQ(harness.output_values().size(), 3'000u);
}

TEST(KeyedProcessOperator, TimersAndStateSurviveASnapshotAndRestore) {
  OperatorHarness<Alert> harness(make_watchdog());
  harness.open();
  harness.process(Reading{7, 500}, 500);
  harness.advance_processing_time(30);
  harness.process(Reading{8, 520}, 520);  // timeouts: 7 at 100, 8 at 130
  const auto snapshot = harness.snapshot(1);
  harness.close();

  OperatorHarness<Alert> restored(make_watchdog(), testing::HarnessOptions::restoring(snapshot));
  restored.open();
  restored.process_watermark(515);  // sensor 7's reminder (510)
  EXPECT_EQ(restored.output_values(), (std::vector<Alert>{{7, 510, true}}));
  restored.advance_processing_time(100);
  restored.process(Reading{8, 600}, 600);  // sensor 8's state came back: its timeout moves to 200
  restored.advance_processing_time(150);
  EXPECT_EQ(restored.output_values(), (std::vector<Alert>{{7, 510, true}, {7, 100, false}}));
  restored.advance_processing_time(200);
  EXPECT_EQ(restored.output_values().back(), (Alert{8, 200, false}));
}

// Restored at another parallelism, each new subtask takes the timers of its own key groups.
TEST(KeyedProcessOperator, ARescaledRestoreSplitsTheTimersByKeyGroup) {
  OperatorHarness<Alert> single(make_watchdog());
  single.open();
  for (int64_t sensor = 0; sensor < 100; ++sensor) single.process(Reading{sensor, 0}, 0);
  const auto snapshot = single.snapshot(1);
  std::vector<int64_t> fired;
  for (int subtask = 0; subtask < 3; ++subtask) {
    testing::HarnessOptions options = testing::HarnessOptions::restoring(snapshot);
    options.subtask = subtask;
    options.parallelism = 3;
    OperatorHarness<Alert> part(make_watchdog(), options);
    part.open();
    part.advance_processing_time(100);
    const KeyGroupRange range = key_group_range_for_subtask(subtask, 3, kDefaultMaxParallelism);
    for (const Alert& alert : part.output_values()) {
      EXPECT_TRUE(range.contains(key_group_for_key(alert.sensor, kDefaultMaxParallelism)));
      fired.push_back(alert.sensor);
    }
  }
  std::sort(fired.begin(), fired.end());
  std::vector<int64_t> all(100);
  for (int64_t i = 0; i < 100; ++i) all[static_cast<size_t>(i)] = i;
  EXPECT_EQ(fired, all);
}

}  // namespace
}  // namespace sluice
