// The source interface, after Flink's FLIP-27: a Source creates one SplitEnumerator (the
// coordinator that discovers splits and assigns them) and one SourceReader per parallel subtask
// (which reads the splits it was given). A connector (files, Kafka, Nexmark) implements these
// like any user would; the runtime drives them through a type-erased SourceDriver.
//
// Threading:
// - SplitEnumerator methods are called one at a time (under the coordinator's lock), from any
//   thread; SplitEnumeratorContext may be called only from inside them.
// - SourceReader methods are called by the reader's task thread only. poll_next must not block:
//   a reader whose client blocks (a Kafka poll, a socket) runs it on its own fetcher thread,
//   hands records over through a queue, and calls SourceReaderContext::wake() — the one
//   thread-safe call — when data arrives. poll_next returns kNothingAvailable meanwhile, and the
//   task sleeps without holding a worker thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/config.h"
#include "sluice/core/error.h"
#include "sluice/core/serialization.h"
#include "sluice/runtime/buffer.h"
#include "sluice/runtime/operator.h"
#include "sluice/runtime/record_writer.h"

namespace sluice {

enum class Boundedness { kBounded, kUnbounded };
enum class InputStatus { kMoreAvailable, kNothingAvailable, kEndOfInput };

class SourceSplit {
 public:
  virtual ~SourceSplit() = default;
  virtual std::string split_id() const = 0;
  // The split with its current position, for checkpoints; the source's deserialize_split reads it
  // back. A split that cannot be checkpointed says so.
  virtual std::string serialize() const;
};

class SplitEnumeratorContext {
 public:
  virtual ~SplitEnumeratorContext() = default;
  virtual int parallelism() const = 0;
  virtual void assign_split(int subtask, std::unique_ptr<SourceSplit> split) = 0;
  virtual void signal_no_more_splits(int subtask) = 0;
  // A connector-defined message to a reader (Flink's SourceEvent), delivered on the reader's
  // thread after the splits assigned before it, and held back like them across a checkpoint.
  virtual void send_event(int subtask, std::string event) = 0;
  // Runs `work` on the coordinator's own thread — never a task's: it may block, e.g. on the
  // network — at once and then every `period` (0: once). The function it returns runs afterwards
  // under the enumerator's lock, where it may assign splits (Flink's callAsync). An exception from
  // either fails the job through the source's readers.
  virtual void call_async(std::function<std::function<void()>()> work,
                          std::chrono::milliseconds period) = 0;
};

class SplitEnumerator {
 public:
  virtual ~SplitEnumerator() = default;
  virtual void start() {}
  // A reader subtask started and can receive splits.
  virtual void add_reader(int subtask) = 0;
  // A reader asked for (another) split.
  virtual void handle_split_request(int subtask) = 0;
  // Checkpoints: the splits not assigned to any reader yet (and whatever else the enumerator
  // needs to resume), taken when a checkpoint is triggered, before any barrier. Splits already
  // assigned are in their readers' state.
  virtual std::string snapshot_state();
};

class SourceReaderContext {
 public:
  virtual ~SourceReaderContext() = default;
  virtual int subtask_index() const = 0;
  virtual int parallelism() const = 0;
  virtual const Configuration& config() const = 0;
  virtual OperatorMetrics& metrics() = 0;
  virtual void request_split() = 0;
  // Thread-safe: data may be available now; poll again.
  virtual void wake() = 0;
  // Poll again at `deadline` (for rate limits and periodic work).
  virtual void wake_at(std::chrono::steady_clock::time_point deadline) = 0;
  // Where records for side-output tag `tag_id` of the source go (e.g. a connector's dead letters);
  // a discarding output when no stream consumes the tag.
  virtual Output* side_output(int tag_id) = 0;
};

template <class T>
class ReaderOutput;

// The records of one split (FLIP-27's SourceOutput). With a WatermarkStrategy given to
// from_source, every split has its own watermark generator and the source's watermark is the
// minimum over its splits that are not idle; a released split no longer counts.
template <class T>
class SplitOutput {
 public:
  SplitOutput(ReaderOutput<T>& parent, int32_t number) : parent_(parent), number_(number) {}
  void collect(const T& value, Timestamp ts = kNoTimestamp) {
    parent_.collect_from(number_, value, ts);
  }
  int32_t number() const { return number_; }

 private:
  ReaderOutput<T>& parent_;
  int32_t number_;
};

// Where a reader puts records. Records go into a batch that the runtime pushes through the
// operator chain when full and after every poll_next.
template <class T>
class ReaderOutput {
 public:
  ReaderOutput(RecordBuffer<T>& batch, size_t batch_limit, Output& downstream)
      : batch_(batch), batch_limit_(batch_limit), downstream_(downstream) {}

  // Records written here belong to no split in particular.
  void collect(const T& value) { collect_from(kNoSplit, value, kNoTimestamp); }
  void collect(T&& value) { after_push((batch_.push(std::move(value)), 0)); }
  void collect(const T& value, Timestamp ts) { collect_from(kNoSplit, value, ts); }
  void collect(T&& value, Timestamp ts) { after_push((batch_.push(std::move(value), ts), 0)); }

  // The output for the split with this id (created on first use, kept until released).
  // A new split counts at once (its watermark starts at the minimum), before its first record.
  // A reader writes either through split outputs or through collect(), never both.
  SplitOutput<T>& create_output_for_split(const std::string& split_id) {
    auto& slot = splits_[split_id];
    if (!slot) {
      if (wrote_plain_) throw_mixed();
      uses_splits_ = true;
      slot = std::make_unique<SplitOutput<T>>(*this, next_split_++);
      batch_.split_runs.push_back(
          SplitRun{slot->number(), static_cast<uint32_t>(batch_.size()), false});
    }
    return *slot;
  }
  // The split is finished: its watermark no longer holds back the source's.
  void release_output_for_split(const std::string& split_id) {
    auto it = splits_.find(split_id);
    if (it == splits_.end()) return;
    batch_.split_runs.push_back(
        SplitRun{it->second->number(), static_cast<uint32_t>(batch_.size()), true});
    splits_.erase(it);
  }
  // Internal: a record of split number `split`.
  void collect_from(int32_t split, const T& value, Timestamp ts) {
    if (split == kNoSplit) {
      if (uses_splits_) throw_mixed();
      wrote_plain_ = true;
      batch_.push(value, ts);
      flush_if_full();
      return;
    }
    batch_.push(value, ts);
    auto& runs = batch_.split_runs;
    if (runs.empty() || runs.back().split != split || runs.back().released) {
      runs.push_back(SplitRun{split, 0, false});
    }
    runs.back().end = static_cast<uint32_t>(batch_.size());
    flush_if_full();
  }

  // The reader has no split at all (more readers than splits): its watermark does not hold the
  // job back until a split arrives (FLIP-27: an idle source output).
  void mark_idle() {
    if (!batch_.split_runs.empty() && batch_.split_runs.back().split == kIdleReader) return;
    uses_splits_ = true;
    batch_.split_runs.push_back(SplitRun{kIdleReader, static_cast<uint32_t>(batch_.size()), true});
  }
  static constexpr int32_t kIdleReader = -2;

  // Room left in the current batch; readers that generate in bulk fill exactly this much.
  size_t remaining() const {
    return batch_limit_ > batch_.size() ? batch_limit_ - batch_.size() : 0;
  }
  // Direct access for bulk generation; call flush_if_full() after appending.
  RecordBuffer<T>& batch() { return batch_; }
  void flush() {
    if (batch_.values.empty() && batch_.split_runs.empty()) return;
    downstream_.emit(batch_);
    batch_.clear();
  }
  void flush_if_full() {
    if (batch_.size() >= batch_limit_) flush();
  }

 private:
  static constexpr int32_t kNoSplit = -1;
  void after_push(int) {
    if (uses_splits_) throw_mixed();
    wrote_plain_ = true;
    flush_if_full();
  }
  [[noreturn]] static void throw_mixed() {
    throw Error(ErrorCategory::kInvalidJob,
                "a source reader wrote records both through per-split outputs and through "
                "collect(): use one or the other");
  }

  RecordBuffer<T>& batch_;
  size_t batch_limit_;
  Output& downstream_;
  std::map<std::string, std::unique_ptr<SplitOutput<T>>> splits_;
  int32_t next_split_ = 0;
  bool uses_splits_ = false;
  bool wrote_plain_ = false;
};

template <class T>
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  virtual void start() {}
  // Emit what is available now (about one batch, then return) and say whether there is more.
  virtual InputStatus poll_next(ReaderOutput<T>& output) = 0;
  virtual void add_splits(std::vector<std::unique_ptr<SourceSplit>> splits) = 0;
  virtual void notify_no_more_splits() = 0;
  // A message from the enumerator (SplitEnumeratorContext::send_event).
  virtual void handle_source_event(std::string_view /*event*/) {}
  // The reader's splits at a checkpoint barrier, each with its position (what it emitted so far):
  // a restored reader gets them back through add_splits, possibly at another subtask when the
  // parallelism changed. The default says the reader cannot be checkpointed.
  virtual std::vector<std::unique_ptr<SourceSplit>> snapshot_state(int64_t checkpoint_id);
  // Checkpoint `checkpoint_id` completed (e.g. commit the offsets it stored to the external system,
  // for monitoring).
  virtual void notify_checkpoint_complete(int64_t /*checkpoint_id*/) {}
  virtual void close() {}
};

template <class T>
class Source {
 public:
  using value_type = T;
  virtual ~Source() = default;
  virtual Boundedness boundedness() const = 0;
  virtual std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) = 0;
  virtual std::unique_ptr<SourceReader<T>> create_reader(SourceReaderContext& context) = 0;
  // Restoring from a checkpoint: a split from its serialize() form, and the enumerator from its
  // snapshot_state(). The defaults say the source cannot be restored.
  virtual std::unique_ptr<SourceSplit> deserialize_split(std::string_view bytes) const;
  virtual std::unique_ptr<SplitEnumerator> restore_enumerator(SplitEnumeratorContext& context,
                                                              std::string_view state);
  // Adds what tells this source apart to its node's description (a path, topics, a rate).
  virtual void describe(OperatorDescription& /*description*/) const {}
};

template <class T>
std::vector<std::unique_ptr<SourceSplit>> SourceReader<T>::snapshot_state(int64_t) {
  throw_not_checkpointable("this source's reader does not implement snapshot_state");
}
template <class T>
std::unique_ptr<SourceSplit> Source<T>::deserialize_split(std::string_view) const {
  throw_not_checkpointable("this source does not implement deserialize_split");
}
template <class T>
std::unique_ptr<SplitEnumerator> Source<T>::restore_enumerator(SplitEnumeratorContext&,
                                                               std::string_view) {
  throw_not_checkpointable("this source does not implement restore_enumerator");
}

// The state of the ready-made enumerators below: their splits not yet assigned.
std::string serialize_split_list(const std::vector<std::unique_ptr<SourceSplit>>& splits);
template <class T>
std::vector<std::unique_ptr<SourceSplit>> deserialize_split_list(const Source<T>& source,
                                                                 std::string_view state);

template <class T>
std::vector<std::unique_ptr<SourceSplit>> deserialize_split_list(const Source<T>& source,
                                                                 std::string_view state) {
  std::vector<std::unique_ptr<SourceSplit>> splits;
  for (const auto& bytes : from_bytes<std::vector<std::string>>(state)) {
    splits.push_back(source.deserialize_split(bytes));
  }
  return splits;
}

// Ready-made enumerators.
//
// Hands out splits one at a time to whichever reader asks (readers that finish early take more:
// natural load balancing for bounded inputs such as files). No more splits once the queue is empty.
class SplitQueueEnumerator : public SplitEnumerator {
 public:
  SplitQueueEnumerator(SplitEnumeratorContext& context,
                       std::vector<std::unique_ptr<SourceSplit>> splits);
  void add_reader(int) override {}
  void handle_split_request(int subtask) override;
  std::string snapshot_state() override;

 private:
  SplitEnumeratorContext& context_;
  std::vector<std::unique_ptr<SourceSplit>> splits_;
  size_t next_ = 0;
};

// Assigns split i to reader i mod parallelism when the reader registers, then signals no more
// splits. For unbounded splits that a reader must own for the whole job.
class StaticSplitEnumerator : public SplitEnumerator {
 public:
  StaticSplitEnumerator(SplitEnumeratorContext& context,
                        std::vector<std::unique_ptr<SourceSplit>> splits);
  void add_reader(int subtask) override;
  void handle_split_request(int) override {}
  std::string snapshot_state() override;

 private:
  SplitEnumeratorContext& context_;
  std::vector<std::unique_ptr<SourceSplit>> splits_;
};

// --- Runtime side (type erasure of Source<T>) ---

class SourceDriver {
 public:
  virtual ~SourceDriver() = default;
  virtual void open(SourceReaderContext& context, Output& downstream, size_t buffer_bytes) = 0;
  virtual InputStatus poll() = 0;
  virtual void add_splits(std::vector<std::unique_ptr<SourceSplit>> splits) = 0;
  virtual void notify_no_more_splits() = 0;
  virtual void handle_source_event(std::string_view event) = 0;
  // The reader's splits, serialized; and, on restore (after open), the splits to resume.
  virtual std::vector<std::string> snapshot_state(int64_t checkpoint_id) = 0;
  virtual void restore_splits(const std::vector<std::string>& splits) = 0;
  virtual void notify_checkpoint_complete(int64_t checkpoint_id) = 0;
  virtual void close() = 0;
};

class SourceFactory {
 public:
  virtual ~SourceFactory() = default;
  virtual Boundedness boundedness() const = 0;
  virtual std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) = 0;
  virtual std::unique_ptr<SourceDriver> create_driver() = 0;
  virtual std::unique_ptr<SplitEnumerator> restore_enumerator(SplitEnumeratorContext& context,
                                                              std::string_view state) = 0;
  virtual OperatorDescription describe() const = 0;
};

template <class T>
class TypedSourceDriver final : public SourceDriver {
 public:
  explicit TypedSourceDriver(std::shared_ptr<Source<T>> source) : source_(std::move(source)) {}

  void open(SourceReaderContext& context, Output& downstream, size_t buffer_bytes) override {
    const size_t batch_limit = records_per_buffer<T>(buffer_bytes);
    batch_.values.reserve(batch_limit);
    output_ = std::make_unique<ReaderOutput<T>>(batch_, batch_limit, downstream);
    reader_ = source_->create_reader(context);
    reader_->start();
  }
  InputStatus poll() override {
    InputStatus status = reader_->poll_next(*output_);
    output_->flush();
    return status;
  }
  void add_splits(std::vector<std::unique_ptr<SourceSplit>> splits) override {
    reader_->add_splits(std::move(splits));
  }
  void notify_no_more_splits() override { reader_->notify_no_more_splits(); }
  void handle_source_event(std::string_view event) override { reader_->handle_source_event(event); }
  std::vector<std::string> snapshot_state(int64_t checkpoint_id) override {
    std::vector<std::string> result;
    for (const auto& split : reader_->snapshot_state(checkpoint_id)) {
      result.push_back(split->serialize());
    }
    return result;
  }
  void restore_splits(const std::vector<std::string>& splits) override {
    std::vector<std::unique_ptr<SourceSplit>> restored;
    for (const auto& bytes : splits) restored.push_back(source_->deserialize_split(bytes));
    if (!restored.empty()) reader_->add_splits(std::move(restored));
  }
  void notify_checkpoint_complete(int64_t checkpoint_id) override {
    reader_->notify_checkpoint_complete(checkpoint_id);
  }
  void close() override {
    if (reader_) reader_->close();
  }

 private:
  std::shared_ptr<Source<T>> source_;
  std::unique_ptr<SourceReader<T>> reader_;
  RecordBuffer<T> batch_;
  std::unique_ptr<ReaderOutput<T>> output_;
};

template <class T>
class TypedSourceFactory final : public SourceFactory {
 public:
  explicit TypedSourceFactory(std::shared_ptr<Source<T>> source) : source_(std::move(source)) {}
  Boundedness boundedness() const override { return source_->boundedness(); }
  std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) override {
    return source_->create_enumerator(context);
  }
  std::unique_ptr<SourceDriver> create_driver() override {
    return std::make_unique<TypedSourceDriver<T>>(source_);
  }
  std::unique_ptr<SplitEnumerator> restore_enumerator(SplitEnumeratorContext& context,
                                                      std::string_view state) override {
    return source_->restore_enumerator(context, state);
  }
  OperatorDescription describe() const override {
    OperatorDescription d;
    d.kind = "source";
    d.output = readable_type_name<T>();
    d.add("bounded", source_->boundedness() == Boundedness::kBounded ? "yes" : "no");
    source_->describe(d);
    return d;
  }

 private:
  std::shared_ptr<Source<T>> source_;
};

}  // namespace sluice
