// SinkOperator: runs a Sink<T>'s writer for one subtask and drives its two-phase commit with the
// checkpoints (see sluice/runtime/sink.h): committables prepared at each barrier are kept in union
// operator list state and committed when their checkpoint completes; after a restore every
// subtask commits the restored ones before its writer discards what a crashed attempt left.
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/runtime/sink.h"
#include "sluice/state/operator_state.h"

namespace sluice::operators {

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
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of<T, void>("sink");
    sink_->describe(d);
    return d;
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

}  // namespace sluice::operators
