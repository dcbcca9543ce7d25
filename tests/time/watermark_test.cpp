// Watermark strategies end to end: generated values, monotonicity, end of input, idleness.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

// What reaches an operator, in order: records (with timestamps), watermarks and status changes.
struct Observed {
  std::mutex mutex;
  std::vector<std::pair<char, Timestamp>> events;  // 'r' record ts, 'w' watermark, 'i'/'a' status
  void add(char kind, Timestamp ts) {
    std::lock_guard lock(mutex);
    events.emplace_back(kind, ts);
  }
  std::vector<std::pair<char, Timestamp>> snapshot() {
    std::lock_guard lock(mutex);
    return events;
  }
  Timestamp last_watermark() {
    std::lock_guard lock(mutex);
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->first == 'w') return it->second;
    }
    return kMinWatermark;
  }
};

template <class T>
class Recorder final : public Operator {
 public:
  explicit Recorder(std::shared_ptr<Observed> observed) : observed_(std::move(observed)) {}
  void process_batch(Buffer& batch, int) override {
    auto& records = static_cast<RecordBuffer<T>&>(batch);
    for (size_t i = 0; i < records.size(); ++i) observed_->add('r', records.timestamp(i));
  }
  void process_watermark(Timestamp watermark) override { observed_->add('w', watermark); }
  void process_watermark_status(bool idle) override { observed_->add(idle ? 'i' : 'a', 0); }

 private:
  std::shared_ptr<Observed> observed_;
};

template <class T>
std::shared_ptr<Observed> record(const DataStream<T>& stream) {
  auto observed = std::make_shared<Observed>();
  stream.template add_operator<T>("recorder",
                                  [observed] { return std::make_unique<Recorder<T>>(observed); });
  return observed;
}

StreamEnvironment env_with_interval(int parallelism, const char* interval) {
  const char* args[] = {
      "test", "--auto-watermark-interval", interval, "--print-summary", "false", "--workers", "2"};
  auto env = StreamEnvironment::from_args(7, args);
  env.set_parallelism(parallelism);
  return env;
}

struct Reading {
  int64_t id;
  Timestamp ts;
};

// Out-of-order timestamps: ascending by 10 ms per record, each shifted back by up to 90 ms.
Reading make_reading(int64_t i) {
  return Reading{i, 1'000'000 + 10 * i - static_cast<Timestamp>(mix64(i) % 10) * 10};
}

TEST(Watermarks, BoundedOutOfOrdernessEmitsMaxSeenMinusBoundMinusOne) {
  auto env = env_with_interval(1, "5ms");
  auto strategy =
      WatermarkStrategy<Reading>::for_bounded_out_of_orderness(50ms).with_timestamp_assigner(
          [](const Reading& r) { return r.ts; });
  auto stream =
      env.from_source(datagen<Reading>(make_reading).rows_per_second(20'000).number_of_rows(6'000),
                      strategy, "readings");
  auto observed = record(stream);
  env.execute();

  auto events = observed->snapshot();
  Timestamp max_seen = kMinWatermark, last_watermark = kMinWatermark;
  size_t records = 0, watermarks = 0;
  for (auto [kind, ts] : events) {
    if (kind == 'r') {
      max_seen = std::max(max_seen, ts);
      ++records;
    } else if (kind == 'w') {
      EXPECT_GT(ts, last_watermark) << "watermarks must strictly advance";
      last_watermark = ts;
      if (ts != kMaxWatermark) {
        EXPECT_EQ(ts, max_seen - 50 - 1);
        ++watermarks;
      }
    }
  }
  EXPECT_EQ(records, 6'000u);
  EXPECT_GE(watermarks, 10u) << "a 0.3 s input with a 5 ms interval emits many watermarks";
  EXPECT_EQ(last_watermark, kMaxWatermark)
      << "the end of a bounded input emits the maximum watermark";
}

TEST(Watermarks, TimestampAssignerSetsRecordTimestamps) {
  auto env = env_with_interval(2, "200ms");
  auto out = env.from_source(
                    datagen<Reading>(make_reading).number_of_rows(1000),
                    WatermarkStrategy<Reading>::for_monotonous_timestamps().with_timestamp_assigner(
                        [](const Reading& r, Timestamp) { return r.ts; }),
                    "readings")
                 .rebalance()
                 .map([](const Reading& r) { return r; })
                 .collect();
  env.execute();
  auto values = out->values();
  auto timestamps = out->timestamps();
  ASSERT_EQ(values.size(), 1000u);
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(timestamps[i], values[i].ts);
}

// A source whose subtask 1 emits a few records and then nothing, forever; subtask 0 emits
// records with growing timestamps at a steady rate.
class OneQuietSubtask final : public Source<Reading> {
 public:
  Boundedness boundedness() const override { return Boundedness::kUnbounded; }
  std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) override {
    return std::make_unique<StaticSplitEnumerator>(context,
                                                   split_index_range(2, context.parallelism()));
  }
  std::unique_ptr<SourceReader<Reading>> create_reader(SourceReaderContext& context) override {
    return std::make_unique<Reader>(context);
  }

 private:
  class Reader final : public SourceReader<Reading> {
   public:
    explicit Reader(SourceReaderContext& context) : context_(context) {}
    void add_splits(std::vector<std::unique_ptr<SourceSplit>>) override {}
    void notify_no_more_splits() override {}
    InputStatus poll_next(ReaderOutput<Reading>& output) override {
      if (context_.subtask_index() == 1) {
        if (next_ < 5) output.collect(Reading{next_, 1'000 + next_}, 1'000 + next_);
        ++next_;
        return next_ < 5 ? InputStatus::kMoreAvailable : InputStatus::kNothingAvailable;
      }
      output.collect(Reading{next_, 1'000 + 100 * next_}, 1'000 + 100 * next_);
      ++next_;
      context_.wake_at(std::chrono::steady_clock::now() + 1ms);
      return InputStatus::kNothingAvailable;
    }

   private:
    SourceReaderContext& context_;
    int64_t next_ = 0;
  };
};

// Runs the two-subtask job until `done(watermark)` or `limit`, and returns the last watermark.
template <class Done>
Timestamp run_until(bool with_idleness, std::chrono::milliseconds limit, Done done) {
  auto env = env_with_interval(2, "10ms");
  auto strategy = WatermarkStrategy<Reading>::for_monotonous_timestamps();
  if (with_idleness) strategy = strategy.with_idleness(100ms);
  auto stream = env.from_source(OneQuietSubtask(), strategy, "readings")
                    .rebalance()
                    .map([](const Reading& r) { return r; });
  stream.set_parallelism(1);
  auto observed = record(stream);
  JobClient client = env.execute_async();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done(observed->last_watermark()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  Timestamp watermark = observed->last_watermark();
  client.cancel();
  client.wait();
  return watermark;
}

TEST(Watermarks, AnIdleSubtaskStallsTheWatermarkWithoutIdleness) {
  // The quiet subtask's last timestamp was 1004: for the whole half second the active subtask
  // runs ahead, the combined watermark cannot pass it.
  EXPECT_LE(run_until(false, 500ms, [](Timestamp) { return false; }), 1'004);
}

TEST(Watermarks, IdlenessLetsTheWatermarkAdvanceWithTheActiveSubtask) {
  EXPECT_GT(run_until(true, 60s, [](Timestamp w) { return w > 5'000; }), 5'000);
}

// One reader with two splits: "fast" (odd timestamps from 1,000,001 up by 100 per poll) and
// "slow" (even timestamps from 0 up by 2 per poll). What the slow split does after its first
// five records depends on the mode.
enum class SlowSplit { kKeepsUp, kGoesQuiet, kIsReleased, kResumes };
// kResumes: 1 s after the start the slow split's records come again, with timestamps from
// kResumedBase (even, far behind the fast split).
constexpr Timestamp kResumedBase = 500'000;

class TwoSplits final : public Source<Reading> {
 public:
  explicit TwoSplits(SlowSplit mode) : mode_(mode) {}
  Boundedness boundedness() const override { return Boundedness::kUnbounded; }
  std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) override {
    return std::make_unique<StaticSplitEnumerator>(context,
                                                   split_index_range(1, context.parallelism()));
  }
  std::unique_ptr<SourceReader<Reading>> create_reader(SourceReaderContext& context) override {
    return std::make_unique<Reader>(context, mode_);
  }

 private:
  class Reader final : public SourceReader<Reading> {
   public:
    Reader(SourceReaderContext& context, SlowSplit mode) : context_(context), mode_(mode) {}
    void add_splits(std::vector<std::unique_ptr<SourceSplit>>) override {}
    void notify_no_more_splits() override {}
    InputStatus poll_next(ReaderOutput<Reading>& output) override {
      const Timestamp fast = 1'000'001 + 100 * polls_;
      output.create_output_for_split("fast").collect(Reading{polls_, fast}, fast);
      if (polls_ == 0) started_ = std::chrono::steady_clock::now();
      const bool resumed =
          mode_ == SlowSplit::kResumes && std::chrono::steady_clock::now() - started_ >= 1s;
      if (polls_ < 5 || mode_ == SlowSplit::kKeepsUp || resumed) {
        const Timestamp slow = (resumed ? kResumedBase : 0) + 2 * polls_;
        output.create_output_for_split("slow").collect(Reading{polls_, slow}, slow);
      } else if (polls_ == 5 && mode_ == SlowSplit::kIsReleased) {
        output.release_output_for_split("slow");
      }
      ++polls_;
      context_.wake_at(std::chrono::steady_clock::now() + 1ms);
      return InputStatus::kNothingAvailable;
    }

   private:
    SourceReaderContext& context_;
    SlowSplit mode_;
    int64_t polls_ = 0;
    std::chrono::steady_clock::time_point started_;
  };
  SlowSplit mode_;
};

// Runs the one-reader job until `done(observed)` or `limit`; returns what the next operator saw.
template <class Done>
std::shared_ptr<Observed> run_two_splits(SlowSplit mode, bool with_idleness,
                                         std::chrono::milliseconds limit, Done done) {
  auto env = env_with_interval(1, "5ms");
  auto strategy = WatermarkStrategy<Reading>::for_monotonous_timestamps();
  if (with_idleness) strategy = strategy.with_idleness(50ms);
  auto observed = record(env.from_source(TwoSplits(mode), strategy, "two splits"));
  JobClient client = env.execute_async();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done(*observed) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  client.cancel();
  client.wait();
  return observed;
}

TEST(SplitWatermarks, TheSourceWatermarkIsTheMinimumOverItsSplits) {
  auto observed = run_two_splits(SlowSplit::kKeepsUp, false, 60s,
                                 [](Observed& o) { return o.last_watermark() >= 40; });
  // Every watermark is behind the slow split's records seen before it (monotonous: max - 1).
  Timestamp slow_max = kMinWatermark;
  int watermarks = 0;
  for (const auto& [kind, ts] : observed->snapshot()) {
    if (kind == 'r' && ts % 2 == 0) slow_max = std::max(slow_max, ts);
    if (kind == 'w') {
      ++watermarks;
      ASSERT_LE(ts, slow_max - 1) << "a watermark ran ahead of the slow split";
    }
  }
  EXPECT_GT(watermarks, 0);
  EXPECT_GE(observed->last_watermark(), 40);
}

TEST(SplitWatermarks, AQuietSplitHoldsTheWatermarkBackWithoutIdleness) {
  auto observed =
      run_two_splits(SlowSplit::kGoesQuiet, false, 500ms, [](Observed&) { return false; });
  EXPECT_LE(observed->last_watermark(), 8 - 1);  // the slow split's last record was at 8
}

TEST(SplitWatermarks, AnIdleSplitNoLongerHoldsTheWatermarkBack) {
  auto observed = run_two_splits(SlowSplit::kGoesQuiet, true, 60s,
                                 [](Observed& o) { return o.last_watermark() > 1'000'000; });
  EXPECT_GT(observed->last_watermark(), 1'000'000);
}

TEST(SplitWatermarks, AReleasedSplitNoLongerHoldsTheWatermarkBack) {
  auto observed = run_two_splits(SlowSplit::kIsReleased, false, 60s,
                                 [](Observed& o) { return o.last_watermark() > 1'000'000; });
  EXPECT_GT(observed->last_watermark(), 1'000'000);
}

TEST(SplitWatermarks, AResumedSplitHoldsTheWatermarkBackAgain) {
  // Idle after its first records, the slow split lets the watermark run ahead with the fast one;
  // when it resumes (far behind), it is active again and the watermark stops: it never goes
  // backwards, and may not pass the resumed split's own.
  auto is_resumed = [](char kind, Timestamp ts) {
    return kind == 'r' && ts % 2 == 0 && ts >= kResumedBase && ts < 1'000'000;
  };
  auto observed = run_two_splits(SlowSplit::kResumes, true, 60s, [&](Observed& o) {
    int resumed_records = 0;
    for (const auto& [kind, ts] : o.snapshot()) resumed_records += is_resumed(kind, ts);
    return resumed_records >= 30;
  });
  // From the first resumed record on, watermarks stay where they were when it arrived.
  Timestamp at_resume = kMinWatermark;
  bool resumed = false;
  for (const auto& [kind, ts] : observed->snapshot()) {
    if (kind == 'w' && !resumed) at_resume = ts;
    if (is_resumed(kind, ts)) resumed = true;
    if (kind == 'w' && resumed) {
      EXPECT_EQ(ts, at_resume);
    }
  }
  ASSERT_TRUE(resumed);
  EXPECT_GT(at_resume, 1'000'000) << "the fast split carried the watermark while the slow was idle";
}

}  // namespace
}  // namespace sluice
