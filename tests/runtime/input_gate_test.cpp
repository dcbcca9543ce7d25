// The watermark valve of the input gate, element by element, against Flink's rules.
#include "runtime/input_gate.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

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
  // Channels at watermarks 10, 20 and 30: the combined watermark is 10.
  void start_at_10_20_30() {
    watermark(0, 10);
    watermark(1, 20);
    watermark(2, 30);
    EXPECT_EQ(drain(), std::vector<std::string>{"w10"});
  }

  // Everything the gate reports until it has nothing: "w<ts>", "idle", "active", "end".
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

}  // namespace
}  // namespace sluice::runtime
