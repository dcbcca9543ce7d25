// The generator source: records produced by a user function of their index, in parallel, bounded
// or unbounded, unthrottled or limited to a rate (Flink's DataGeneratorSource). Also the basis of
// from_collection / from_elements / from_sequence.
//
//   auto source = sluice::datagen<Txn>([](int64_t i) { return Txn{...}; })
//                     .rows_per_second(100'000)      // total over all subtasks; default
//                     unthrottled .number_of_rows(10'000'000);   // bounded; default unbounded
//
// Indexes [0, rows) are split into one contiguous range per subtask, so the parallel subtasks
// generate disjoint parts of the same sequence and the union is independent of the parallelism.
//
// Threading: the generator is copied into every subtask and called by that subtask's thread.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>

#include "sluice/core/serialization.h"
#include "sluice/runtime/source.h"

namespace sluice {

struct IndexRangeSplit final : SourceSplit {
  IndexRangeSplit(int64_t first, int64_t end, int index) : first(first), end(end), index(index) {}
  std::string split_id() const override { return "range-" + std::to_string(index); }
  std::string serialize() const override { return to_bytes(std::tuple(first, end, index)); }
  int64_t first;  // first index to generate
  int64_t end;    // exclusive
  int index;
};

// Splits [0, count) into `parts` contiguous ranges.
std::vector<std::unique_ptr<SourceSplit>> split_index_range(int64_t count, int parts);

template <class T, class Gen>
class DatagenSource final : public Source<T> {
 public:
  explicit DatagenSource(Gen gen) : gen_(std::move(gen)) {}

  DatagenSource& rows_per_second(double rate) {
    rows_per_second_ = rate;
    return *this;
  }
  DatagenSource& number_of_rows(int64_t rows) {
    rows_ = rows;
    return *this;
  }

  Boundedness boundedness() const override {
    return rows_ == kUnbounded ? Boundedness::kUnbounded : Boundedness::kBounded;
  }
  std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) override {
    return std::make_unique<StaticSplitEnumerator>(context,
                                                   split_index_range(rows_, context.parallelism()));
  }
  std::unique_ptr<SourceReader<T>> create_reader(SourceReaderContext& context) override {
    return std::make_unique<Reader>(gen_, rows_per_second_ / context.parallelism(), context);
  }
  std::unique_ptr<SourceSplit> deserialize_split(std::string_view bytes) const override {
    auto [first, end, index] = from_bytes<std::tuple<int64_t, int64_t, int>>(bytes);
    return std::make_unique<IndexRangeSplit>(first, end, index);
  }
  std::unique_ptr<SplitEnumerator> restore_enumerator(SplitEnumeratorContext& context,
                                                      std::string_view state) override {
    return std::make_unique<StaticSplitEnumerator>(context, deserialize_split_list(*this, state));
  }
  void describe(OperatorDescription& d) const override {
    d.add("generator", "datagen");
    d.add("rows", rows_ == kUnbounded ? "unbounded" : std::to_string(rows_));
    if (rows_per_second_ > 0) d.add("rows per second", std::to_string(rows_per_second_));
  }

 private:
  static constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();

  class Reader final : public SourceReader<T> {
   public:
    Reader(Gen gen, double rate, SourceReaderContext& context)
        : gen_(std::move(gen)), rate_(rate), context_(context) {}

    void add_splits(std::vector<std::unique_ptr<SourceSplit>> splits) override {
      for (auto& s : splits) {
        auto& range = static_cast<IndexRangeSplit&>(*s);
        ranges_.push_back({range.first, range.end, range.index});
      }
    }
    void notify_no_more_splits() override { no_more_splits_ = true; }
    // What is left of each range.
    std::vector<std::unique_ptr<SourceSplit>> snapshot_state(int64_t) override {
      std::vector<std::unique_ptr<SourceSplit>> left;
      for (const Range& r : ranges_) {
        if (r.next < r.end)
          left.push_back(std::make_unique<IndexRangeSplit>(r.next, r.end, r.index));
      }
      return left;
    }

    InputStatus poll_next(ReaderOutput<T>& output) override {
      while (current_ < ranges_.size() && ranges_[current_].next >= ranges_[current_].end) {
        ++current_;
      }
      if (current_ == ranges_.size()) {
        return no_more_splits_ ? InputStatus::kEndOfInput : InputStatus::kNothingAvailable;
      }
      Range& range = ranges_[current_];
      int64_t n =
          std::min<int64_t>(static_cast<int64_t>(output.remaining()), range.end - range.next);
      if (rate_ > 0) {
        n = std::min(n, allowed_now());
        if (n <= 0) return InputStatus::kNothingAvailable;  // allowed_now() scheduled a wake-up
      }
      RecordBuffer<T>& batch = output.batch();
      if (batch.timestamps.empty() && std::is_trivially_copyable_v<T>) {
        // Resize, then fill by index: no capacity check per record, so the loop vectorizes.
        const size_t old_size = batch.values.size();
        batch.values.resize(old_size + static_cast<size_t>(n));
        T* out = batch.values.data() + old_size;
        const int64_t first = range.next;
        for (int64_t i = 0; i < n; ++i) out[i] = gen_(first + i);
      } else {
        for (int64_t i = 0; i < n; ++i) batch.push(gen_(range.next + i));
      }
      range.next += n;
      emitted_ += n;
      output.flush_if_full();
      return InputStatus::kMoreAvailable;
    }

   private:
    using Clock = std::chrono::steady_clock;
    struct Range {
      int64_t next;
      int64_t end;
      int index;
    };

    // Records the rate allows now; when none, schedules a wake-up for when one is due.
    int64_t allowed_now() {
      const auto now = Clock::now();
      if (emitted_ == 0 && started_ == Clock::time_point{}) started_ = now;
      const double elapsed = std::chrono::duration<double>(now - started_).count();
      const auto due = static_cast<int64_t>(std::floor(elapsed * rate_)) + 1;
      if (due > emitted_) return due - emitted_;
      const auto next_due = started_ + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(emitted_ / rate_));
      // Waking more often than every 200 µs costs more than it gains in smoothness.
      context_.wake_at(std::max(next_due, now + std::chrono::microseconds(200)));
      return 0;
    }

    Gen gen_;
    double rate_;
    SourceReaderContext& context_;
    std::vector<Range> ranges_;
    size_t current_ = 0;
    bool no_more_splits_ = false;
    int64_t emitted_ = 0;
    Clock::time_point started_{};
  };

  Gen gen_;
  double rows_per_second_ = 0;  // 0: unthrottled
  int64_t rows_ = kUnbounded;
};

template <class T, class Gen>
DatagenSource<T, Gen> datagen(Gen gen) {
  return DatagenSource<T, Gen>(std::move(gen));
}

}  // namespace sluice
