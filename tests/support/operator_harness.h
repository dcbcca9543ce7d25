// An operator test harness, as Flink's OneInputStreamOperatorTestHarness and
// TwoInputStreamOperatorTestHarness: one operator outside any job, driven element by element.
// Push records (with timestamps), watermarks, checkpoint barriers and processing-time advances
// into it; read its output, side outputs, watermarks and counters; take a snapshot and restore a
// new instance from it, at another parallelism too.
//
//   OperatorHarness<Out> harness(std::make_unique<SomeOperator>(...));
//   harness.open();
//   harness.process<In>(record, /*timestamp=*/100);
//   harness.process_watermark(200);
//   harness.advance_processing_time(5'000);        // fires due processing-time timers
//   EXPECT_EQ(harness.output_values(), ...);
//   OperatorSnapshotBytes snapshot = harness.snapshot(1);   // what a barrier takes
//   OperatorHarness<Out> restored(make_operator(), HarnessOptions::restoring(snapshot));
//
// Processing time is the harness's own clock (starts at 0): timers fire only when a test advances
// it, so tests need no sleeps. Keyed state lives in the configured backend (heap by default).
//
// Threading: one thread (the test's), as an operator's task thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

#include "sluice/core/config.h"
#include "sluice/functions/output_tag.h"
#include "sluice/runtime/operator.h"
#include "sluice/state/keyed_snapshot.h"
#include "sluice/state/operator_state.h"

namespace sluice::testing {

// A record as an operator emitted it.
template <class T>
struct Recorded {
  T value;
  Timestamp timestamp = kNoTimestamp;
  bool operator==(const Recorded&) const = default;
};

// What a checkpoint barrier takes from one operator: its snapshot_state() bytes (both parts run)
// and its operator list state.
struct OperatorSnapshotBytes {
  std::string state;
  OperatorStateSnapshot lists;
};

struct HarnessOptions {
  int subtask = 0;
  int parallelism = 1;
  int max_parallelism = kDefaultMaxParallelism;
  bool checkpointing = false;
  StateBackendOptions state_backend;
  Configuration config;
  // A restore: the snapshots of every old subtask whose key groups overlap this subtask's (one
  // unless rescaled), and this subtask's share of the operator list state.
  std::vector<std::string> restored_state;
  OperatorStateSnapshot restored_lists;

  static HarnessOptions restoring(const OperatorSnapshotBytes& snapshot) {
    HarnessOptions options;
    options.restored_state = {snapshot.state};
    options.restored_lists = snapshot.lists;
    return options;
  }
};

// Processing time that moves only when the test says so; timers fire in time order.
class ManualProcessingTime final : public ProcessingTimeService {
 public:
  Timestamp now() const override { return now_; }
  void register_timer(Timestamp time, TimerTarget* target) override {
    timers_.push(Timer{time, next_++, target});
  }
  // Moves the clock to `time`, firing every timer due by then (including ones registered while
  // firing), each with the clock at its own time.
  void advance_to(Timestamp time) {
    while (!timers_.empty() && timers_.top().time <= time) {
      const Timer timer = timers_.top();
      timers_.pop();
      now_ = std::max(now_, timer.time);
      timer.target->on_processing_time(timer.time);
    }
    now_ = std::max(now_, time);
  }
  size_t pending() const { return timers_.size(); }

 private:
  struct Timer {
    Timestamp time;
    uint64_t order;  // registration order breaks ties
    TimerTarget* target;
    bool operator>(const Timer& other) const {
      return time != other.time ? time > other.time : order > other.order;
    }
  };
  Timestamp now_ = 0;
  uint64_t next_ = 0;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
};

// Keeps copies of every batch an operator emits on one output, and its watermarks.
class CapturingOutput final : public Output {
 public:
  void emit(Buffer& batch) override {
    if (batch.size() > 0) batches_.push_back(batch.clone());
  }
  void emit_watermark(Timestamp watermark) override { watermarks_.push_back(watermark); }
  void emit_watermark_status(bool idle) override { statuses_.push_back(idle); }

  template <class T>
  std::vector<Recorded<T>> records() const {
    std::vector<Recorded<T>> out;
    for (const auto& batch : batches_) {
      const auto& records = static_cast<const RecordBuffer<T>&>(*batch);
      for (size_t i = 0; i < records.size(); ++i)
        out.push_back({records.values[i], records.timestamp(i)});
    }
    return out;
  }
  const std::vector<Timestamp>& watermarks() const { return watermarks_; }
  const std::vector<bool>& statuses() const { return statuses_; }
  void clear() {
    batches_.clear();
    watermarks_.clear();
    statuses_.clear();
  }

 private:
  std::vector<std::unique_ptr<Buffer>> batches_;
  std::vector<Timestamp> watermarks_;
  std::vector<bool> statuses_;
};

// Drives one operator. `Out` is its main output's record type.
template <class Out>
class OperatorHarness {
 public:
  explicit OperatorHarness(std::unique_ptr<Operator> op, HarnessOptions options = {})
      : op_(std::move(op)), options_(std::move(options)) {
    context_.operator_name = "operator under test";
    context_.subtask_index = options_.subtask;
    context_.parallelism = options_.parallelism;
    context_.max_parallelism = options_.max_parallelism;
    context_.key_group_range = key_group_range_for_subtask(options_.subtask, options_.parallelism,
                                                           options_.max_parallelism);
    context_.metrics = &metrics_;
    context_.config = &options_.config;
    context_.processing_time = &clock_;
    context_.operator_state = &lists_;
    context_.checkpointing = options_.checkpointing;
    context_.state_backend = &options_.state_backend;
    context_.restored_state = options_.restored_state;
    context_.side_output = [this](int tag) -> Output* {
      auto& output = side_outputs_[tag];
      if (!output) output = std::make_unique<CapturingOutput>();
      return output.get();
    };
    lists_.restore(options_.restored_lists);
    op_->setup(&context_, &output_);
  }
  ~OperatorHarness() {
    if (opened_ && !closed_) op_->close();
  }
  OperatorHarness(const OperatorHarness&) = delete;
  OperatorHarness& operator=(const OperatorHarness&) = delete;

  void open() {
    op_->open();
    opened_ = true;
  }
  // One record on input `input` (0, or 1 for a two-input operator's second).
  template <class In>
  void process(In value, Timestamp timestamp = kNoTimestamp, int input = 0) {
    RecordBuffer<In> batch;
    batch.push(std::move(value), timestamp);
    op_->process_batch(batch, input);
  }
  // A whole batch, as a channel delivers it.
  template <class In>
  void process_batch(std::vector<Recorded<In>> records, int input = 0) {
    RecordBuffer<In> batch;
    for (auto& record : records) batch.push(std::move(record.value), record.timestamp);
    op_->process_batch(batch, input);
  }
  void process_watermark(Timestamp watermark) { op_->process_watermark(watermark); }
  void process_watermark_status(bool idle) { op_->process_watermark_status(idle); }
  void advance_processing_time(Timestamp time) { clock_.advance_to(time); }
  Timestamp processing_time() const { return clock_.now(); }
  size_t pending_processing_timers() const { return clock_.pending(); }

  // A checkpoint barrier: the operator's synchronous snapshot, then its asynchronous part, as a
  // checkpoint writes it.
  OperatorSnapshotBytes snapshot(int64_t checkpoint_id, bool savepoint = false) {
    StateSnapshot state = op_->snapshot_state(SnapshotRequest{checkpoint_id, savepoint});
    detail::NoSharedFiles files;
    return OperatorSnapshotBytes{state.empty() ? std::string() : state.materialize(files),
                                 lists_.snapshot()};
  }
  void notify_checkpoint_complete(int64_t checkpoint_id) {
    op_->notify_checkpoint_complete(checkpoint_id);
  }
  // The end of a bounded input: the maximum watermark, then finish().
  void end_input() {
    op_->process_watermark(kMaxWatermark);
    op_->finish();
  }
  void close() {
    closed_ = true;
    op_->close();
  }

  std::vector<Recorded<Out>> output() const { return output_.template records<Out>(); }
  std::vector<Out> output_values() const {
    std::vector<Out> values;
    for (auto& record : output()) values.push_back(record.value);
    return values;
  }
  const std::vector<Timestamp>& watermarks() const { return output_.watermarks(); }
  template <class X>
  std::vector<Recorded<X>> side_output(const OutputTag<X>& tag) const {
    auto it = side_outputs_.find(tag.tag());
    return it == side_outputs_.end() ? std::vector<Recorded<X>>{}
                                     : it->second->template records<X>();
  }
  void clear_output() { output_.clear(); }
  // A user counter of the operator ("late_records_dropped", ...); 0 if never registered.
  uint64_t counter(const std::string& name) const {
    const auto values = metrics_.user_counter_values();
    auto it = values.find(name);
    return it == values.end() ? 0 : it->second;
  }
  Operator& op() { return *op_; }

 private:
  std::unique_ptr<Operator> op_;
  HarnessOptions options_;
  OperatorContext context_;
  OperatorMetrics metrics_;
  ManualProcessingTime clock_;
  OperatorStateStore lists_;
  CapturingOutput output_;
  std::map<int, std::unique_ptr<CapturingOutput>> side_outputs_;
  bool opened_ = false;
  bool closed_ = false;
};

}  // namespace sluice::testing
