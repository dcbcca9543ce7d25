// FLIP-27 sources: split enumeration and assignment, readers fed by their own fetcher thread
// (the pattern for blocking clients such as Kafka), collection order, rate limits.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "runtime/source_coordinator.h"
#include "test_util.h"

namespace sluice {
namespace {

using testing::quiet_env;
using testing::sorted;

// A source whose splits are ranges of numbers produced by a background thread per reader, which
// hands them to poll_next through a queue and calls wake(): poll_next never blocks.
struct RangeSplit final : SourceSplit {
  RangeSplit(int64_t first, int64_t end) : first(first), end(end) {}
  std::string split_id() const override { return std::to_string(first); }
  int64_t first, end;
};

class FetcherSource final : public Source<int64_t> {
 public:
  FetcherSource(int splits, int64_t per_split) : splits_(splits), per_split_(per_split) {}
  Boundedness boundedness() const override { return Boundedness::kBounded; }
  std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) override {
    std::vector<std::unique_ptr<SourceSplit>> splits;
    for (int i = 0; i < splits_; ++i)
      splits.push_back(std::make_unique<RangeSplit>(i * per_split_, (i + 1) * per_split_));
    return std::make_unique<SplitQueueEnumerator>(context, std::move(splits));
  }
  std::unique_ptr<SourceReader<int64_t>> create_reader(SourceReaderContext& context) override {
    return std::make_unique<Reader>(context);
  }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    explicit Reader(SourceReaderContext& context) : context_(context) {}
    ~Reader() override { close(); }
    void start() override {
      fetcher_ = std::thread([this] { fetch_loop(); });
      context_.request_split();
    }
    void add_splits(std::vector<std::unique_ptr<SourceSplit>> splits) override {
      std::lock_guard lock(mutex_);
      for (auto& s : splits) {
        auto& r = static_cast<RangeSplit&>(*s);
        work_.push_back({r.first, r.end});
      }
      cv_.notify_one();
    }
    void notify_no_more_splits() override {
      std::lock_guard lock(mutex_);
      no_more_splits_ = true;
      cv_.notify_one();
    }
    InputStatus poll_next(ReaderOutput<int64_t>& output) override {
      std::deque<int64_t> taken;
      bool split_done = false, fetcher_finished = false;
      {
        std::lock_guard lock(mutex_);
        taken.swap(ready_);
        split_done = std::exchange(split_done_, false);
        fetcher_finished = fetcher_finished_;
      }
      for (int64_t v : taken) output.collect(v);
      if (split_done) context_.request_split();
      if (!taken.empty()) return InputStatus::kMoreAvailable;
      return fetcher_finished ? InputStatus::kEndOfInput : InputStatus::kNothingAvailable;
    }
    void close() override {
      {
        std::lock_guard lock(mutex_);
        stop_ = true;
        cv_.notify_one();
      }
      if (fetcher_.joinable()) fetcher_.join();
    }

   private:
    // Simulates a blocking client: waits for work, "receives" records in small chunks.
    void fetch_loop() {
      std::unique_lock lock(mutex_);
      while (true) {
        cv_.wait(lock, [&] { return stop_ || !work_.empty() || no_more_splits_; });
        if (stop_) return;
        if (work_.empty()) {
          fetcher_finished_ = true;
          lock.unlock();
          context_.wake();
          return;
        }
        auto [next, end] = work_.front();
        work_.pop_front();
        while (next < end) {
          for (int i = 0; i < 100 && next < end; ++i) ready_.push_back(next++);
          lock.unlock();
          context_.wake();
          std::this_thread::yield();
          lock.lock();
          if (stop_) return;
        }
        split_done_ = true;
        lock.unlock();
        context_.wake();
        lock.lock();
      }
    }

    SourceReaderContext& context_;
    std::thread fetcher_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::pair<int64_t, int64_t>> work_;
    std::deque<int64_t> ready_;
    bool no_more_splits_ = false, split_done_ = false, fetcher_finished_ = false, stop_ = false;
  };

  int splits_;
  int64_t per_split_;
};

TEST(Sources, ReadersFedByFetcherThreadsDeliverEverySplitOnce) {
  for (int p : {1, 3, 8}) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    auto env = quiet_env(p);
    auto out = env.from_source(FetcherSource(7, 5'000), "fetcher")
                   .map([](int64_t x) { return x; })
                   .collect();
    env.execute();
    std::vector<int64_t> expected(35'000);
    for (int64_t i = 0; i < 35'000; ++i) expected[static_cast<size_t>(i)] = i;
    EXPECT_EQ(sorted(out->values()), expected);
  }
}

TEST(Sources, CollectionKeepsItsOrder) {
  // A collection source has parallelism 1; a sink of parallelism 1 sees its order.
  auto env = quiet_env(1);
  std::vector<std::string> input;
  for (int i = 0; i < 5000; ++i) input.push_back("item-" + std::to_string(i));
  auto out = env.from_collection(input).collect();
  env.execute();
  EXPECT_EQ(out->values(), input);
}

TEST(Sources, SequenceIsSplitAcrossSubtasks) {
  auto env = quiet_env(5);
  auto out = env.from_sequence(-100, 100'000).collect();
  auto result = env.execute();
  EXPECT_EQ(out->size(), 100'101u);
  int subtasks_with_output = 0;
  for (const auto& op : result.metrics.operators) {
    if (op.name == "sequence" && op.records_out > 0) ++subtasks_with_output;
  }
  EXPECT_EQ(subtasks_with_output, 5);
  auto values = sorted(out->values());
  EXPECT_EQ(values.front(), -100);
  EXPECT_EQ(values.back(), 100'000);
}

TEST(Sources, DatagenIsIndependentOfParallelism) {
  auto gen = [](int64_t i) {
    return static_cast<int64_t>(mix64(static_cast<uint64_t>(i)) % 1'000'000);
  };
  std::vector<int64_t> reference;
  for (int p : {1, 2, 3, 8}) {
    auto env = quiet_env(p);
    auto out = env.from_source(datagen<int64_t>(gen).number_of_rows(12'345)).collect();
    env.execute();
    auto values = sorted(out->values());
    if (reference.empty()) reference = values;
    EXPECT_EQ(values, reference) << "parallelism " << p;
  }
  EXPECT_EQ(reference.size(), 12'345u);
}

TEST(Sources, RateLimitIsRespected) {
  // 4,000 rows at 10,000 rows/s take at least 0.4 s (a lower bound: the machine may be slower).
  auto env = quiet_env(2);
  auto out = env.from_source(datagen<int64_t>([](int64_t i) { return i; })
                                 .rows_per_second(10'000)
                                 .number_of_rows(4'000))
                 .collect();
  const auto start = std::chrono::steady_clock::now();
  env.execute();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(out->size(), 4'000u);
  EXPECT_GE(seconds, 0.39);
}

TEST(Sources, EmptyBoundedSourceEndsTheJob) {
  auto env = quiet_env(3);
  auto out =
      env.from_source(datagen<int64_t>([](int64_t i) { return i; }).number_of_rows(0)).collect();
  env.execute();
  EXPECT_EQ(out->size(), 0u);
}

TEST(Sources, MoreSubtasksThanSplits) {
  auto env = quiet_env(6);
  auto out = env.from_source(FetcherSource(2, 100), "fetcher").collect();
  env.execute();
  EXPECT_EQ(out->size(), 200u);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// Emits 0..n-1 with event timestamp 1000 + 10 * value (every third record has none).
class TimestampedSource final : public Source<int64_t> {
 public:
  explicit TimestampedSource(int64_t n) : n_(n) {}
  Boundedness boundedness() const override { return Boundedness::kBounded; }
  std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) override {
    return std::make_unique<StaticSplitEnumerator>(context,
                                                   split_index_range(n_, context.parallelism()));
  }
  std::unique_ptr<SourceReader<int64_t>> create_reader(SourceReaderContext&) override {
    return std::make_unique<Reader>();
  }
  static Timestamp timestamp_of(int64_t v) { return v % 3 == 0 ? kNoTimestamp : 1000 + 10 * v; }

 private:
  class Reader final : public SourceReader<int64_t> {
   public:
    void add_splits(std::vector<std::unique_ptr<SourceSplit>> splits) override {
      for (auto& s : splits) {
        auto& r = static_cast<IndexRangeSplit&>(*s);
        ranges_.emplace_back(r.first, r.end);
      }
    }
    void notify_no_more_splits() override { no_more_ = true; }
    InputStatus poll_next(ReaderOutput<int64_t>& output) override {
      if (ranges_.empty())
        return no_more_ ? InputStatus::kEndOfInput : InputStatus::kNothingAvailable;
      auto& [next, end] = ranges_.back();
      for (int i = 0; i < 100 && next < end; ++i, ++next) output.collect(next, timestamp_of(next));
      if (next == end) ranges_.pop_back();
      return InputStatus::kMoreAvailable;
    }

   private:
    std::vector<std::pair<int64_t, int64_t>> ranges_;
    bool no_more_ = false;
  };
  int64_t n_;
};

TEST(Sources, EventTimestampsTravelWithTheirRecords) {
  for (int p : {1, 3}) {
    auto env = testing::quiet_env(p);
    struct Check : ProcessFunction<int64_t, int64_t> {
      void process_element(const int64_t& v, ProcessContext& ctx,
                           Collector<int64_t>& out) override {
        if (ctx.timestamp() != TimestampedSource::timestamp_of(v))
          throw std::runtime_error("bad timestamp");
        out.collect(v);
      }
    };
    auto out = env.from_source(TimestampedSource(5000))
                   .map([](int64_t v) { return v; })
                   .rebalance()
                   .filter([](int64_t v) { return v % 5 != 0; })
                   .flat_map([](int64_t v, Collector<int64_t>& c) { c.collect(v); })
                   .key_by([](int64_t v) { return v % 7; })
                   .process(Check{})
                   .collect();
    env.execute();
    auto values = out->values();
    auto timestamps = out->timestamps();
    ASSERT_EQ(values.size(), 4000u);
    for (size_t i = 0; i < values.size(); ++i) {
      EXPECT_EQ(timestamps[i], TimestampedSource::timestamp_of(values[i])) << "value " << values[i];
    }
  }
}

}  // namespace
// A split assigned after the enumerator's snapshot for checkpoint n is unassigned in that
// snapshot: the reader must not have it in its own snapshot n either, or a restore reads it twice.
TEST(SourceCoordinatorTest, SplitsAssignedAfterAnEnumeratorSnapshotWaitForTheReadersBarrier) {
  auto gen = [](int64_t i) { return i; };
  auto numbers = std::make_shared<std::decay_t<decltype(datagen<int64_t>(gen))>>(
      datagen<int64_t>(gen).number_of_rows(100));
  TypedSourceFactory<int64_t> source(numbers);
  runtime::SourceCoordinator coordinator(source, 1);
  const std::string state = coordinator.snapshot_enumerator(7);  // before the reader registered
  EXPECT_FALSE(state.empty());
  runtime::Scheduler scheduler{1, [](runtime::Schedulable*) {}};
  struct NoTask final : runtime::Schedulable {
    RunResult run() override { return RunResult::kWait; }
  } task;
  coordinator.register_reader(0, scheduler, &task);  // the static enumerator assigns at once
  auto before = coordinator.take_assignments(0, 7);
  EXPECT_TRUE(before.splits.empty()) << "held until the reader's checkpoint 7";
  EXPECT_FALSE(before.no_more_splits) << "no-more-splits comes after the held split";
  auto after = coordinator.take_assignments(0, 8);
  EXPECT_EQ(after.splits.size(), 1u);
  EXPECT_TRUE(after.no_more_splits);
  scheduler.shutdown();
}

// Source events travel with assignments: after the splits assigned before them, held back across
// the reader's barrier in the same way.
TEST(SourceCoordinatorTest, SourceEventsAreHeldLikeAssignments) {
  auto gen = [](int64_t i) { return i; };
  auto numbers = std::make_shared<std::decay_t<decltype(datagen<int64_t>(gen))>>(
      datagen<int64_t>(gen).number_of_rows(100));
  TypedSourceFactory<int64_t> source(numbers);
  runtime::SourceCoordinator coordinator(source, 1);
  runtime::Scheduler scheduler{1, [](runtime::Schedulable*) {}};
  struct NoTask final : runtime::Schedulable {
    RunResult run() override { return RunResult::kWait; }
  } task;
  coordinator.send_event(0, "first");
  coordinator.register_reader(0, scheduler, &task);
  coordinator.snapshot_enumerator(3);
  coordinator.send_event(0, "after-snapshot-3");
  auto before = coordinator.take_assignments(0, 3);
  EXPECT_EQ(before.splits.size(), 1u);
  EXPECT_EQ(before.events, std::vector<std::string>{"first"});
  auto after = coordinator.take_assignments(0, 4);
  EXPECT_TRUE(after.splits.empty());
  EXPECT_EQ(after.events, std::vector<std::string>{"after-snapshot-3"});
  scheduler.shutdown();
}

}  // namespace sluice
