// The watermark valve of the input gate, element by element, against Flink's rules.
#include "runtime/input_gate.h"

#include <gtest/gtest.h>

#include <memory>
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

}  // namespace
}  // namespace sluice::runtime
