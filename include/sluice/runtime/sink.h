// The sink interface: a Sink<T> creates one SinkWriter per parallel subtask, which receives whole
// batches. Connectors (files, Kafka) implement it like any user would.
//
// Exactly-once output is a two-phase commit driven by checkpoints (Flink's TwoPhaseCommittingSink):
// - on a checkpoint barrier the writer's prepare_commit makes what it wrote since the last one
//   durable but not yet visible (a pending file, an open transaction) and returns committables,
//   which the checkpoint stores;
// - when that checkpoint completes, Sink::commit makes them visible;
// - after a failure the job restores the last completed checkpoint and commits its committables
//   again (a checkpoint may have completed without its commits having run), so commit must be
//   idempotent; what a writer prepared for a checkpoint that never completed is never committed:
//   a new writer discards it, and the records are replayed from the sources.
// Without checkpoints, flush(true) at the end of the input makes everything visible.
//
// Threading: a writer is called only by its task's thread; Sink::commit by the thread of any of
// the sink's subtasks (several at once, with overlapping committables after a restore).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/runtime/buffer.h"
#include "sluice/runtime/operator.h"
#include "sluice/state/operator_state.h"

namespace sluice {

template <class T>
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  virtual void write(const RecordBuffer<T>& batch) = 0;
  // Make written data durable/visible; end_of_input is true once, when the input is exhausted
  // (only when checkpoints are off: with checkpoints, the last checkpoint commits the end).
  virtual void flush(bool /*end_of_input*/) {}
  // On the barrier of `checkpoint_id`: what was written since the last barrier becomes durable but
  // not visible; the result is what Sink::commit needs to make it visible. The default (for sinks
  // without transactions) flushes: at-least-once.
  virtual std::vector<std::string> prepare_commit(int64_t /*checkpoint_id*/) {
    flush(false);
    return {};
  }
  virtual void close() {}
};

template <class T>
class Sink {
 public:
  using value_type = T;
  virtual ~Sink() = default;
  virtual std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext& context) = 0;
  // Makes prepared output visible. Idempotent: committing twice, or concurrently from several
  // subtasks, is the same as once.
  virtual void commit(const std::vector<std::string>& /*committables*/) {}
};

template <class T>
class SinkOperator final : public Operator {
 public:
  explicit SinkOperator(std::shared_ptr<Sink<T>> sink) : sink_(std::move(sink)) {}
  void open() override {
    RuntimeContext runtime(context());
    // A union list: after a restore every subtask commits every committable of the checkpoint
    // before its writer discards what it left uncommitted, whatever the new parallelism.
    committables_ = &context().operator_state->get_union_list_state(
        ListStateDescriptor<std::pair<int64_t, std::string>>{"sink-committables"});
    std::vector<std::string> restored;
    for (const auto& [checkpoint, committable] : committables_->get())
      restored.push_back(committable);
    if (!restored.empty()) sink_->commit(restored);
    committables_->clear();
    writer_ = sink_->create_writer(runtime);
  }
  StateSnapshot snapshot_state(const SnapshotRequest& request) override {
    for (auto& committable : writer_->prepare_commit(request.checkpoint_id)) {
      committables_->add({request.checkpoint_id, std::move(committable)});
    }
    return {};
  }
  // A completed checkpoint covers the committables of earlier ones that did not complete.
  void notify_checkpoint_complete(int64_t checkpoint_id) override {
    std::vector<std::string> due;
    std::vector<std::pair<int64_t, std::string>> later;
    for (const auto& entry : committables_->get()) {
      if (entry.first <= checkpoint_id) {
        due.push_back(entry.second);
      } else {
        later.push_back(entry);
      }
    }
    if (due.empty()) return;
    sink_->commit(due);
    committables_->update(std::move(later));
  }
  void process_batch(Buffer& batch, int) override {
    writer_->write(static_cast<RecordBuffer<T>&>(batch));
  }
  void process_watermark(Timestamp) override {}
  void process_watermark_status(bool) override {}
  void process_latency_marker(const LatencyMarker& marker) override {
    context().metrics->latency.record(monotonic_nanos() - marker.created_ns);
  }
  void finish() override {
    if (!context().checkpointing) writer_->flush(true);
  }
  void close() override {
    if (writer_) writer_->close();
  }

 private:
  std::shared_ptr<Sink<T>> sink_;
  std::unique_ptr<SinkWriter<T>> writer_;
  ListState<std::pair<int64_t, std::string>>* committables_ = nullptr;
};

}  // namespace sluice
