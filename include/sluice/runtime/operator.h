// The physical operator interface every operator implements, and Output, where it sends results.
//
// An operator receives whole buffers (process_batch), so the virtual call is paid once per batch;
// the typed operators in sluice/operators/ loop over records with the user function inlined.
// Life cycle, as Flink's StreamOperator: setup -> open -> (process_batch | process_watermark)* ->
// finish (end of input; may still emit) -> close (always called, also on failure or cancel).
//
// Threading: one operator instance belongs to one task and is only called from the worker thread
// currently running that task; it never needs locks for its own state.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sluice/core/config.h"
#include "sluice/core/key_group_range.h"
#include "sluice/core/time.h"
#include "sluice/runtime/buffer.h"
#include "sluice/runtime/metrics.h"
#include "sluice/runtime/operator_description.h"
#include "sluice/state/state_backend_options.h"
#include "sluice/state/state_snapshot.h"

namespace sluice {

class OperatorStateStore;  // sluice/state/operator_state.h

class Output {
 public:
  virtual ~Output() = default;
  // The batch stays owned by the caller and is only valid during the call: copy what you keep.
  virtual void emit(Buffer& batch) = 0;
  virtual void emit_watermark(Timestamp watermark) = 0;
  virtual void emit_latency_marker(const LatencyMarker&) {}
  // Idle: this output will send no records or watermarks for a while (see docs/SEMANTICS.md).
  virtual void emit_watermark_status(bool /*idle*/) {}
};

// Discards everything: the output of a side-output tag that no stream consumes.
class NullOutput final : public Output {
 public:
  void emit(Buffer&) override {}
  void emit_watermark(Timestamp) override {}
};

// Something that receives processing-time timer callbacks: an operator or a source driver.
class TimerTarget {
 public:
  virtual ~TimerTarget() = default;
  virtual void on_processing_time(Timestamp /*time*/) {}
};

// Processing-time timers of one task. Callbacks run on the task's thread, between batches, at or
// after the requested wall-clock time.
class ProcessingTimeService {
 public:
  virtual ~ProcessingTimeService() = default;
  virtual Timestamp now() const { return wall_clock_millis(); }
  virtual void register_timer(Timestamp time, TimerTarget* target) = 0;
};

struct OperatorContext {
  std::string operator_name;
  int node_id = 0;
  int subtask_index = 0;
  int parallelism = 1;
  int max_parallelism = kDefaultMaxParallelism;
  KeyGroupRange key_group_range;
  OperatorMetrics* metrics = nullptr;
  const Configuration* config = nullptr;
  size_t buffer_bytes = 32 * 1024;  // target size of output batches
  ProcessingTimeService* processing_time = nullptr;
  OperatorStateStore* operator_state = nullptr;  // this instance's non-keyed state
  // Checkpoints are on: sinks make output visible only when a checkpoint covering it completed.
  bool checkpointing = false;
  // The keyed state backend keyed operators use (null: heap), and, on a restore, where the
  // checkpoint's shared files are (RocksDB incremental checkpoints).
  const StateBackendOptions* state_backend = nullptr;
  std::filesystem::path restored_shared_directory;
  // A job restored from a checkpoint: the snapshot_state() bytes this instance resumes from, those
  // of every old subtask whose key-group range overlaps this one's (a single one unless the
  // parallelism changed). Empty on a fresh start. Read in open().
  std::vector<std::string> restored_state;
  // Output for side-output tag `tag_id`; a NullOutput when no stream consumes the tag.
  std::function<Output*(int tag_id)> side_output;
};

// What a user function sees of its operator ("rich" functions get it in open()).
class RuntimeContext {
 public:
  explicit RuntimeContext(const OperatorContext& context) : context_(context) {}
  const std::string& operator_name() const { return context_.operator_name; }
  int subtask_index() const { return context_.subtask_index; }
  int parallelism() const { return context_.parallelism; }
  int max_parallelism() const { return context_.max_parallelism; }
  const Configuration& config() const { return *context_.config; }
  // A named counter reported with the operator's metrics. Call in open(), keep the reference.
  Counter& counter(const std::string& name) const { return context_.metrics->user_counter(name); }
  // Non-keyed list state of this operator instance (see sluice/state/operator_state.h).
  OperatorStateStore& operator_state() const { return *context_.operator_state; }
  // Checkpoints are on (sinks: output becomes visible with them).
  bool checkpointing() const { return context_.checkpointing; }
  // Processing time as the operator's timers see it (the wall clock, or a test's clock).
  Timestamp current_processing_time() const {
    return context_.processing_time != nullptr ? context_.processing_time->now()
                                               : wall_clock_millis();
  }

 private:
  const OperatorContext& context_;
};

class Operator : public TimerTarget {
 public:
  virtual ~Operator() = default;

  void setup(OperatorContext* context, Output* output) {
    context_ = context;
    output_ = output;
  }
  virtual void open() {}
  // `input` is 0 for one-input operators, 0 or 1 for two-input operators.
  virtual void process_batch(Buffer& batch, int input) = 0;
  // Called when the combined watermark of all inputs advances; the default forwards it.
  virtual void process_watermark(Timestamp watermark) { output_->emit_watermark(watermark); }
  // Checkpoints, on the task's thread: the operator's state as of the checkpoint barrier (every
  // record before it processed, none after), and the news that a checkpoint completed (when
  // two-phase-commit sinks commit). Keyed state must be stored by key group (see
  // KeyedOperatorSnapshot) so a restore at another parallelism can split it; state that is not
  // keyed belongs in operator list state (context().operator_state), which is redistributed.
  // Empty: the operator has no state of its own. Large state returns a deferred snapshot whose
  // bytes are produced off the task thread (see sluice/state/state_snapshot.h).
  virtual StateSnapshot snapshot_state(const SnapshotRequest& /*request*/) { return {}; }
  virtual void notify_checkpoint_complete(int64_t /*checkpoint_id*/) {}
  // Latency markers pass through operators untouched; sinks record them.
  virtual void process_latency_marker(const LatencyMarker& marker) {
    output_->emit_latency_marker(marker);
  }
  // All inputs became idle (true) or one became active again (false). The default forwards it.
  virtual void process_watermark_status(bool idle) { output_->emit_watermark_status(idle); }
  virtual void finish() {}
  virtual void close() {}
  // What it is, for EXPLAIN and the execution plan: callable before setup(), on any instance.
  virtual OperatorDescription describe() const {
    OperatorDescription d;
    d.kind = "operator";
    return d;
  }

 protected:
  Output& output() { return *output_; }
  OperatorContext& context() { return *context_; }

 private:
  OperatorContext* context_ = nullptr;
  Output* output_ = nullptr;
};

}  // namespace sluice
