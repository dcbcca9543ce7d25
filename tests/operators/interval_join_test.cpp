// The interval join operator on its own, through the operator harness: which pairs it joins, how
// it cleans its buffers, and where late records of either side go (their side outputs, or the
// dropped-records counter), before and after a restore.
#include <gtest/gtest.h>

#include "sluice/operators/interval_join.h"
#include "support/operator_harness.h"

namespace sluice {
namespace {

using testing::OperatorHarness;
using testing::Recorded;

struct Left {
  int64_t key;
  int64_t id;
  bool operator==(const Left&) const = default;
};
struct Right {
  int64_t key;
  int64_t id;
  bool operator==(const Right&) const = default;
};
struct Pair {
  int64_t left;
  int64_t right;
  bool operator==(const Pair&) const = default;
};

struct PairUp : ProcessJoinFunction<Left, Right, Pair> {
  void process_element(const Left& l, const Right& r, Context&, Collector<Pair>& out) override {
    out.collect(Pair{l.id, r.id});
  }
};

constexpr auto kLeftKey = [](const Left& l) { return l.key; };
constexpr auto kRightKey = [](const Right& r) { return r.key; };
using Join =
    operators::IntervalJoinOperator<Left, Right, decltype(kLeftKey), decltype(kRightKey), PairUp>;

const OutputTag<Left> kLateLeft{"late-left"};
const OutputTag<Right> kLateRight{"late-right"};

// b joins a when a.ts - 5 <= b.ts <= a.ts + 10.
std::unique_ptr<Operator> make_join(bool late_outputs) {
  return std::make_unique<Join>(
      kLeftKey, kRightKey, PairUp{}, operators::IntervalBounds{-5, 10, false, false},
      late_outputs ? std::optional<OutputTag<Left>>(kLateLeft) : std::nullopt,
      late_outputs ? std::optional<OutputTag<Right>>(kLateRight) : std::nullopt);
}

TEST(IntervalJoinOperator, JoinsWithinTheBoundsWithTheLaterTimestamp) {
  OperatorHarness<Pair> join(make_join(true));
  join.open();
  join.process(Left{1, 10}, 100);
  join.process(Right{1, 20}, 94, 1);   // below the interval
  join.process(Right{1, 21}, 95, 1);   // its lower end
  join.process(Right{2, 22}, 100, 1);  // another key
  join.process(Right{1, 23}, 110, 1);  // its upper end
  join.process(Right{1, 24}, 111, 1);  // above
  join.process(Left{1, 11}, 106);      // joins 23 (110) and 24 (111); 21 (95) is below 101
  EXPECT_EQ(join.output(),
            (std::vector<Recorded<Pair>>{
                {{10, 21}, 100}, {{10, 23}, 110}, {{11, 23}, 110}, {{11, 24}, 111}}));
}

TEST(IntervalJoinOperator, LateRecordsOfEitherSideReachTheirSideOutputs) {
  OperatorHarness<Pair> join(make_join(true));
  join.open();
  join.process(Left{1, 10}, 100);
  join.process_watermark(200);
  EXPECT_EQ(join.watermarks(), std::vector<Timestamp>{200});
  join.process(Left{1, 11}, 150);      // late: below the watermark
  join.process(Right{1, 20}, 199, 1);  // late
  join.process(Right{1, 21}, 200, 1);  // at the watermark: not late
  join.process(Left{2, 12}, 205);      // on time
  EXPECT_EQ(join.side_output(kLateLeft), (std::vector<Recorded<Left>>{{{1, 11}, 150}}));
  EXPECT_EQ(join.side_output(kLateRight), (std::vector<Recorded<Right>>{{{1, 20}, 199}}));
  EXPECT_EQ(join.counter("late_records_dropped"), 0u);
  // Neither late record was buffered: a right record that would join the late left one does not.
  join.process(Right{1, 22}, 200, 1);
  EXPECT_TRUE(join.output().empty());

  // After a restore the watermark is the snapshot's: late stays late.
  auto snapshot = join.snapshot(1);
  OperatorHarness<Pair> restored(make_join(true), testing::HarnessOptions::restoring(snapshot));
  restored.open();
  restored.process(Left{1, 13}, 190);
  restored.process(Right{2, 23}, 207, 1);  // joins the buffered left 12 (205)
  EXPECT_EQ(restored.side_output(kLateLeft), (std::vector<Recorded<Left>>{{{1, 13}, 190}}));
  EXPECT_EQ(restored.output(), (std::vector<Recorded<Pair>>{{{12, 23}, 207}}));
}

TEST(IntervalJoinOperator, WithoutSideOutputsLateRecordsAreCountedAsDropped) {
  OperatorHarness<Pair> join(make_join(false));
  join.open();
  join.process_watermark(50);
  join.process(Left{1, 1}, 10);
  join.process(Right{1, 2}, 49, 1);
  join.process(Right{1, 3}, 50, 1);
  EXPECT_EQ(join.counter("late_records_dropped"), 2u);
  EXPECT_TRUE(join.side_output(kLateLeft).empty());
}

TEST(IntervalJoinOperator, BuffersGoOnceNoLaterRecordCanJoinThem) {
  OperatorHarness<Pair> join(make_join(true));
  join.open();
  join.process(Left{1, 10}, 100);      // joinable by rights up to 110
  join.process(Right{1, 20}, 100, 1);  // joinable by lefts up to 105
  join.process_watermark(104);
  join.process(Left{1, 11}, 105);      // still joins right 20 (100 in [100, 115])
  join.process_watermark(106);         // right 20's last joining left was at 105: it goes
  join.process(Left{1, 12}, 106);      // would join right 20 (100 in [101, 116]? no) anyway
  join.process(Right{1, 21}, 110, 1);  // joins lefts 10 (100), 11 and 12
  join.process_watermark(111);         // left 10 goes (its last right was 110)
  join.process(Right{1, 22}, 111, 1);  // joins 11 (105) and 12 (106), not 10
  std::vector<Pair> pairs = join.output_values();
  EXPECT_EQ(pairs, (std::vector<Pair>{
                       {10, 20}, {11, 20}, {10, 21}, {11, 21}, {12, 21}, {11, 22}, {12, 22}}));
  // The snapshot holds what is still buffered: a restored join pairs them as the original would.
  OperatorHarness<Pair> restored(make_join(true),
                                 testing::HarnessOptions::restoring(join.snapshot(2)));
  restored.open();
  restored.process(Right{1, 23}, 115, 1);  // lefts 11 (105) and 12 (106); 10 was cleaned
  EXPECT_EQ(restored.output_values(), (std::vector<Pair>{{11, 23}, {12, 23}}));
}

}  // namespace
}  // namespace sluice
