// The watermark valve of the input gate, element by element, against Flink's rules.
#include "runtime/input_gate.h"

#include "runtime/channel.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "test_util.h"

namespace sluice::runtime {
namespace {

class InputGateTest : public ::testing::Test {
 protected:
  struct NoTask final : Schedulable {
    RunResult run() override { return RunResult::kWait; }
  };

  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      channels_.push_back(std::make_unique<Channel>(scheduler_, 4));
      channels_.back()->connect(&producer_, &consumer_);
      gate_.add_channel(channels_.back().get(), 0);
    }
  }
  void TearDown() override { scheduler_.shutdown(); }

  void watermark(int channel, Timestamp ts) {
    channels_[channel]->push(StreamElement::watermark(ts));
  }
  void status(int channel, bool idle) {
    channels_[channel]->push(
        StreamElement::control(StreamElement::Kind::kWatermarkStatus, idle ? 1 : 0));
  }
  void end(int channel) { channels_[channel]->push(StreamElement::end_of_input()); }
  void barrier(int channel, int64_t checkpoint) {
    channels_[channel]->push(
        StreamElement::control(StreamElement::Kind::kBarrier, checkpoint, 1000 * checkpoint));
  }
  // A one-record buffer carrying `value`.
  void record(int channel, int64_t value) {
    auto buffer = std::make_unique<RecordBuffer<int64_t>>();
    buffer->values.push_back(value);
    channels_[channel]->push(StreamElement::data(std::move(buffer)));
  }
  // Channels at watermarks 10, 20 and 30: the combined watermark is 10.
  void start_at_10_20_30() {
    watermark(0, 10);
    watermark(1, 20);
    watermark(2, 30);
    EXPECT_EQ(drain(), std::vector<std::string>{"w10"});
  }

  // Everything the gate reports until it has nothing: "w<ts>", "idle", "active", "end",
  // "r<value>" for a record buffer, "c<id>" for a checkpoint barrier.
  std::vector<std::string> drain() {
    std::vector<std::string> seen;
    while (true) {
      InputGate::Event e = gate_.next();
      switch (e.kind) {
        case InputGate::Event::Kind::kNothing:
          return seen;
        case InputGate::Event::Kind::kWatermark:
          seen.push_back("w" + std::to_string(e.watermark));
          break;
        case InputGate::Event::Kind::kWatermarkStatus:
          seen.push_back(e.idle ? "idle" : "active");
          break;
        case InputGate::Event::Kind::kEndOfInput:
          seen.push_back("end");
          break;
        case InputGate::Event::Kind::kBuffer:
          seen.push_back(
              "r" + std::to_string(static_cast<RecordBuffer<int64_t>&>(*e.buffer).values.at(0)));
          break;
        case InputGate::Event::Kind::kBarrier:
          EXPECT_EQ(e.checkpoint_time, 1000 * e.checkpoint_id);
          seen.push_back("c" + std::to_string(e.checkpoint_id));
          break;
        default:
          seen.push_back("other");
          break;
      }
    }
  }

  // The tasks outlive the scheduler: its workers may still be running a notified task.
  NoTask producer_, consumer_;
  Scheduler scheduler_{1, [](Schedulable*) {}};
  std::vector<std::unique_ptr<Channel>> channels_;
  InputGate gate_;
};

using Events = std::vector<std::string>;

TEST_F(InputGateTest, CombinedWatermarkIsTheMinimumAndNeverGoesBack) {
  watermark(0, 10);
  watermark(1, 20);
  EXPECT_EQ(drain(), Events{});
  watermark(2, 5);
  EXPECT_EQ(drain(), Events{"w5"});
  watermark(2, 30);
  EXPECT_EQ(drain(), Events{"w10"});
  watermark(0, 8);  // a channel's own watermark cannot go back either
  EXPECT_EQ(drain(), Events{});
  watermark(0, 25);
  EXPECT_EQ(drain(), Events{"w20"});
}

TEST_F(InputGateTest, IdleChannelDoesNotHoldTheWatermarkBack) {
  start_at_10_20_30();
  status(0, true);
  EXPECT_EQ(drain(), Events{"w20"});
  watermark(0, 100);  // ignored while idle
  watermark(1, 40);
  EXPECT_EQ(drain(), Events{"w30"});
}

// The gate polls channels round robin, so the tests drain between steps whose order matters.
TEST_F(InputGateTest, ResumedChannelCountsOnceItCatchesUp) {
  start_at_10_20_30();
  status(0, true);
  EXPECT_EQ(drain(), Events{"w20"});
  status(0, false);  // resumes behind the combined watermark (10 < 20): not aligned
  watermark(0, 15);
  EXPECT_EQ(drain(), Events{});
  watermark(1, 50);
  EXPECT_EQ(drain(), Events{"w30"});  // channel 0 at 15 does not pull the watermark back
  watermark(0, 35);                   // caught up: holds the watermark from now on
  EXPECT_EQ(drain(), Events{});
  watermark(2, 60);
  EXPECT_EQ(drain(), Events{"w35"});
}

TEST_F(InputGateTest, AllIdleEmitsTheMaximumThenIdleAndActiveAgain) {
  start_at_10_20_30();
  status(0, true);
  EXPECT_EQ(drain(), Events{"w20"});
  status(1, true);
  EXPECT_EQ(drain(), Events{"w30"});
  status(2, true);
  EXPECT_EQ(drain(), Events{"idle"});
  status(1, false);
  EXPECT_EQ(drain(), Events{"active"});
  watermark(1, 40);
  EXPECT_EQ(drain(), Events{"w40"});
}

TEST_F(InputGateTest, EndedChannelsAreIgnoredAndTheLastEndIsReportedOnce) {
  start_at_10_20_30();
  end(0);
  EXPECT_EQ(drain(), Events{"w20"});
  status(1, true);  // channel 2 is still active: not idle as a whole
  EXPECT_EQ(drain(), Events{"w30"});
  end(2);  // the only open channel left is idle: the output goes idle
  EXPECT_EQ(drain(), Events{"idle"});
  end(1);
  EXPECT_EQ(drain(), Events{"end"});
  EXPECT_EQ(drain(), Events{});
}

// Records before the barrier on every channel come before it; records after it on a channel
// that delivered it early wait until the alignment completes.
TEST_F(InputGateTest, AlignedBarrierSplitsEveryChannelAtItsBarrier) {
  record(0, 1);
  barrier(0, 1);
  record(0, 2);
  record(1, 10);
  record(2, 20);
  barrier(2, 1);
  record(2, 21);
  EXPECT_EQ(drain(), (Events{"r1", "r10", "r20"})) << "channels 0 and 2 are blocked";
  barrier(1, 1);
  record(1, 11);
  const Events after = drain();
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after[0], "c1");
  EXPECT_EQ(testing::sorted(Events(after.begin() + 1, after.end())), (Events{"r11", "r2", "r21"}));
}

TEST_F(InputGateTest, ASkewedChannelHoldsTheOthersBackUntilItsBarrier) {
  barrier(0, 1);
  for (int i = 0; i < 3; ++i) record(0, 100 + i);  // a fast channel, filling up
  barrier(2, 1);
  for (int i = 0; i < 20; ++i) {
    record(1, i);  // the slow channel's data before its barrier all goes through
    EXPECT_EQ(drain(), (Events{"r" + std::to_string(i)}));
  }
  barrier(1, 1);
  EXPECT_EQ(drain(), (Events{"c1", "r100", "r101", "r102"}));
}

TEST_F(InputGateTest, ANewerBarrierAbandonsTheAlignmentOfAnOlderOne) {
  barrier(0, 1);
  barrier(1, 2);  // checkpoint 1 cannot complete on this task any more
  EXPECT_EQ(drain(), Events{});
  EXPECT_EQ(gate_.abandoned_checkpoints(), 1);
  barrier(0, 2);
  barrier(2, 1);  // stale
  barrier(2, 2);
  EXPECT_EQ(drain(), (Events{"c2"}));
}

TEST_F(InputGateTest, AnEndedChannelCountsAsHavingDeliveredTheBarrier) {
  barrier(0, 1);
  barrier(1, 1);
  EXPECT_EQ(drain(), Events{});
  end(2);
  EXPECT_EQ(drain(), (Events{"c1"}));
  barrier(0, 2);
  end(0);
  barrier(1, 2);
  EXPECT_EQ(drain(), (Events{"c2"}));
}

TEST_F(InputGateTest, AtLeastOnceNeverBlocksAndReportsTheLastBarrier) {
  gate_.set_barrier_mode(InputGate::BarrierMode::kAtLeastOnce);
  barrier(0, 1);
  record(0, 1);
  barrier(1, 1);
  record(1, 2);
  EXPECT_EQ(drain(), (Events{"r1", "r2"})) << "records after a barrier flow on";
  barrier(2, 1);
  EXPECT_EQ(drain(), (Events{"c1"}));
}

// Unaligned checkpoints, element by element.
class UnalignedGateTest : public InputGateTest {
 protected:
  void SetUp() override {
    InputGateTest::SetUp();
    gate_.set_unaligned(true, 0);
  }
  void overtaking_barrier(int channel, int64_t checkpoint, bool savepoint = false) {
    channels_[channel]->push_overtaking(
        StreamElement::barrier(checkpoint, 1000 * checkpoint, savepoint));
  }
  // As drain(), with "+" before a record the gate flags as in flight (to be recorded), "u<id>"
  // for an unaligned snapshot and "s<id>" for a completed channel state.
  Events drain_flagged() {
    Events seen;
    for (InputGate::Event e = gate_.next(); e.kind != InputGate::Event::Kind::kNothing;
         e = gate_.next()) {
      switch (e.kind) {
        case InputGate::Event::Kind::kBuffer:
          seen.push_back(
              (e.record ? "+r" : "r") +
              std::to_string(static_cast<RecordBuffer<int64_t>&>(*e.buffer).values.at(0)));
          break;
        case InputGate::Event::Kind::kBarrier:
          seen.push_back((e.unaligned ? "u" : "c") + std::to_string(e.checkpoint_id));
          break;
        case InputGate::Event::Kind::kChannelStateComplete:
          seen.push_back("s" + std::to_string(e.checkpoint_id));
          break;
        default:
          seen.push_back("other");
          break;
      }
    }
    return seen;
  }
};

TEST_F(UnalignedGateTest, TheFirstBarrierSnapshotsAtOnceAndEarlierRecordsAreFlagged) {
  record(0, 1);
  record(0, 2);
  overtaking_barrier(0, 1);  // jumps ahead of records 1 and 2: they are in flight
  record(0, 3);
  record(1, 10);
  barrier(1, 1);
  record(1, 11);
  record(2, 20);
  EXPECT_EQ(drain_flagged(), (Events{"u1", "+r1", "+r10", "+r20", "+r2", "r11", "r3"}))
      << "records 1 and 2 (overtaken), 10 and 20 (before their channel's barrier) are in flight; "
         "no channel is blocked";
  barrier(2, 1);
  record(2, 21);
  EXPECT_EQ(drain_flagged(), (Events{"s1", "r21"}));
}

TEST_F(UnalignedGateTest, TheBarrierAlsoOvertakesAnotherChannelsQueuedData) {
  record(0, 1);
  overtaking_barrier(0, 1);
  record(1, 10);
  record(1, 11);
  barrier(1, 1);  // queued behind 10 and 11: the snapshot moves it ahead of them
  record(1, 12);
  end(2);
  EXPECT_EQ(drain_flagged(), (Events{"u1", "+r1", "+r10", "+r11", "s1", "r12"}));
}

TEST_F(UnalignedGateTest, ASavepointBarrierIsAlwaysAligned) {
  channels_[0]->push(StreamElement::barrier(3, 3000, true));
  record(0, 1);
  record(1, 10);
  EXPECT_EQ(drain_flagged(), (Events{"r10"})) << "aligned: channel 0 is blocked";
  channels_[1]->push(StreamElement::barrier(3, 3000, true));
  channels_[2]->push(StreamElement::barrier(3, 3000, true));
  EXPECT_EQ(drain_flagged(), (Events{"c3", "r1"}));
}

TEST_F(UnalignedGateTest, AnAlignedBarrierThatOvertookDataTakesEffectAfterIt) {
  gate_.set_unaligned(false, 0);
  record(0, 1);
  overtaking_barrier(0, 1);  // as an upstream task whose checkpoint turned unaligned sends it
  record(0, 2);
  barrier(1, 1);
  barrier(2, 1);
  EXPECT_EQ(drain_flagged(), (Events{"r1", "c1", "r2"}))
      << "record 1 was sent before the barrier: it belongs before the aligned snapshot";
}

TEST_F(UnalignedGateTest, AnAlignedCheckpointTurnsUnalignedAfterTheTimeout) {
  gate_.set_unaligned(true, 60'000);
  const Timestamp now = wall_clock_millis();
  channels_[0]->push(StreamElement::barrier(1, now, false));  // young: aligned
  record(0, 1);
  record(1, 10);
  EXPECT_EQ(drain_flagged(), (Events{"r10"}));
  ASSERT_TRUE(gate_.alignment_deadline().has_value());
  EXPECT_EQ(*gate_.alignment_deadline(), now + 60'000);
  channels_[1]->push(StreamElement::barrier(2, now - 61'000, false));  // older than the timeout
  record(1, 11);
  channels_[0]->push(StreamElement::barrier(2, now - 61'000, false));
  record(2, 20);
  channels_[2]->push(StreamElement::barrier(2, now - 61'000, false));
  // Record 20 came before channel 2's barrier and before checkpoint 2 began here: it belongs to
  // the snapshot. Checkpoint 2 is past its timeout as soon as its first barrier arrives: the
  // snapshot is taken then, record 1 (channel 0, before its barrier) is in flight, record 11
  // (after channel 1's barrier) is not.
  EXPECT_EQ(drain_flagged(), (Events{"r20", "u2", "r11", "+r1", "s2"}));
  EXPECT_EQ(gate_.abandoned_checkpoints(), 1);
  EXPECT_FALSE(gate_.alignment_deadline().has_value());
}

TEST_F(UnalignedGateTest, AWaitingAlignmentTurnsUnalignedWhenItsDeadlinePasses) {
  gate_.set_unaligned(true, 20);
  channels_[0]->push(StreamElement::barrier(1, wall_clock_millis(), false));
  record(0, 1);
  record(1, 10);
  channels_[1]->push(StreamElement::barrier(1, wall_clock_millis(), false));
  record(2, 20);
  EXPECT_EQ(drain_flagged(), (Events{"r10", "r20"})) << "aligned while young";
  const Timestamp deadline = *gate_.alignment_deadline();
  while (wall_clock_millis() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  record(2, 21);
  EXPECT_EQ(drain_flagged(), (Events{"u1", "+r21", "r1"}))
      << "past the deadline with no barrier from channel 2: the snapshot is taken, and what "
         "channel 2 sends before its barrier is in flight";
  channels_[2]->push(StreamElement::barrier(1, wall_clock_millis(), false));
  EXPECT_EQ(drain_flagged(), (Events{"s1"}));
}

TEST_F(UnalignedGateTest, ABackpressuredTaskStillTakesBarriersButNoRecords) {
  record(0, 1);
  barrier(1, 1);
  InputGate::Event e = gate_.next(true);
  EXPECT_EQ(e.kind, InputGate::Event::Kind::kBarrier);
  EXPECT_TRUE(e.unaligned);
  EXPECT_EQ(gate_.next(true).kind, InputGate::Event::Kind::kNothing) << "record 1 waits";
  EXPECT_EQ(drain_flagged(), (Events{"+r1"}));
}

TEST(ChannelTest, AnOvertakingBarrierCountsTheDataItPassed) {
  struct NoTask final : Schedulable {
    RunResult run() override { return RunResult::kWait; }
  } producer, consumer;
  Scheduler scheduler{1, [](Schedulable*) {}};
  Channel channel(scheduler, 4);
  channel.connect(&producer, &consumer);
  channel.push(StreamElement::data(std::make_unique<RecordBuffer<int64_t>>()));
  channel.push(StreamElement::watermark(5));
  channel.push(StreamElement::data(std::make_unique<RecordBuffer<int64_t>>()));
  channel.push(StreamElement::barrier(7, 0, false));
  channel.push(StreamElement::data(std::make_unique<RecordBuffer<int64_t>>()));
  EXPECT_FALSE(channel.pop_barrier().has_value()) << "data at the head";
  EXPECT_TRUE(channel.promote_barrier(7));
  EXPECT_FALSE(channel.promote_barrier(8));
  auto head = channel.pop_barrier();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->a, 7);
  EXPECT_EQ(head->overtaken, 2u);
  channel.push_overtaking(StreamElement::barrier(9, 0, false));
  head = channel.pop();
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->overtaken, 3u);
  // Never ahead of an older barrier: 11 goes behind 10 and passes only the data after it.
  channel.push(StreamElement::barrier(10, 0, false));
  channel.push(StreamElement::data(std::make_unique<RecordBuffer<int64_t>>()));
  channel.push_overtaking(StreamElement::barrier(11, 0, false));
  do {
    head = channel.pop();
    ASSERT_TRUE(head.has_value());
  } while (head->kind != StreamElement::Kind::kBarrier);
  EXPECT_EQ(head->a, 10);
  head = channel.pop();
  EXPECT_EQ(head->a, 11);
  EXPECT_EQ(head->overtaken, 1u);
  scheduler.shutdown();
}

}  // namespace
}  // namespace sluice::runtime
