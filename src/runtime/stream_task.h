// One parallel subtask of a chain of operators: the unit the scheduler runs.
//
// A run takes input (a source poll, or buffers from the input gate), pushes it through the chain
// by direct calls, and returns when the input is empty, an output channel is full, or its time
// slice is used up. When the input runs dry it flushes partial output buffers at once, so records
// never wait for a timer: latency is small at low load while full buffers give throughput at high
// load.
//
// Threading: run() is called by one worker thread at a time (the scheduler guarantees it). The
// reader context's wake() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/input_gate.h"
#include "runtime/scheduler.h"
#include "runtime/snapshot_writer.h"
#include "runtime/source_coordinator.h"
#include "runtime/task_gateway.h"
#include "sluice/runtime/buffer_codec.h"
#include "sluice/runtime/operator.h"
#include "sluice/runtime/record_writer.h"
#include "sluice/runtime/source.h"
#include "sluice/state/operator_state.h"

namespace sluice::runtime {

class JobExecution;

class StreamTask;

// The processing-time service a chain member sees: the task's timers, attributed to the member.
class MemberTimerService final : public ProcessingTimeService {
 public:
  MemberTimerService(StreamTask& task, int node_id) : task_(task), node_id_(node_id) {}
  void register_timer(Timestamp time, TimerTarget* target) override;

 private:
  StreamTask& task_;
  int node_id_;
};

struct ChainMember {
  int node_id = 0;
  std::unique_ptr<MemberTimerService> timers;
  std::unique_ptr<Operator> op;  // null for the source node at the head of a source task
  std::unique_ptr<OperatorContext> context;
  std::unique_ptr<OperatorStateStore> operator_state;
  OperatorMetrics* metrics = nullptr;
};

class StreamTask final : public Schedulable, public TaskGateway {
 public:
  StreamTask(JobExecution& job, std::string name, int vertex, int subtask, int parallelism);
  ~StreamTask() override;

  RunResult run() override;

  const std::string& name() const { return name_; }
  int subtask() const { return subtask_; }
  TaskMetrics& metrics() { return metrics_; }
  // Thread: the task's own (operators register timers while processing).
  void register_timer(Timestamp time, TimerTarget* target, int node_id);
  // TaskGateway (thread-safe). At its next run, a source task snapshots and injects checkpoint
  // `id`'s barrier; a task whose input ended snapshots its final state (other tasks wait for the
  // barrier). A completed checkpoint reaches the operators at the task's next run.
  TaskId task_id() const override { return TaskId{vertex_, subtask_}; }
  // After the task ended: the newest checkpoint it took a snapshot for (0: none).
  int64_t newest_snapshot() const { return taken_checkpoint_; }
  void trigger_checkpoint(int64_t id, Timestamp time, bool savepoint) override;
  void notify_checkpoint_complete(int64_t id) override;

  // Where each input channel (in the gate's order) comes from.
  struct InputChannel {
    int producer_node = 0;
    int producer_subtask = 0;
    int input = 0;
    const BufferCodec* codec = nullptr;  // null: the records have no Serializer
  };
  // Records that were in flight towards chain member `node_id` in the checkpoint the job restores
  // from (an unaligned one); processed before any new input. `keep`: only these key groups (the
  // job was rescaled and the records are keyed).
  struct RestoredInFlight {
    int node_id = 0;
    int input = 0;
    std::shared_ptr<const BufferCodec> codec;
    std::vector<std::string> buffers;
    std::optional<KeyGroupRange> keep;
  };

  // Wiring, done by JobExecution before the task first runs.
  std::vector<ChainMember> members;  // topological order, head first
  std::vector<InputChannel> input_channels;
  std::vector<RestoredInFlight> restored_in_flight;
  std::vector<std::unique_ptr<Output>> owned_outputs;
  std::vector<NetworkOutput*> network_outputs;
  std::unordered_map<int64_t, Output*> side_outputs;  // (node_id << 32 | tag) -> output
  InputGate gate;
  Output* head_output = nullptr;  // source tasks: where the reader's records go
  std::unique_ptr<SourceDriver> source;
  SourceCoordinator* coordinator = nullptr;
  // With checkpoints on: where the asynchronous parts of snapshots go, and who hears that the
  // input ended.
  SnapshotWriter* snapshot_writer = nullptr;
  CheckpointResponder* checkpoint_responder = nullptr;

 private:
  class ReaderContext;
  enum class WaitReason { kNone, kInput, kBackpressure };

  RunResult run_slice();
  RunResult run_source_slice(std::chrono::steady_clock::time_point slice_end);
  RunResult run_input_slice(std::chrono::steady_clock::time_point slice_end);
  void open_chain();
  // The input ended: operators finish and end-of-input goes downstream. Without checkpoints the
  // task is done; with, it waits for a checkpoint of its final state to complete.
  RunResult end_input();
  RunResult run_after_end_of_input();
  void close_chain() noexcept;
  bool outputs_available() const;
  void flush_outputs();
  void maybe_emit_latency_marker();
  // Snapshots the chain and forwards the barrier. Aligned: every record before it was processed,
  // and the task acknowledges. Unaligned: the barrier overtakes the queued output, and the
  // acknowledgement waits until the gate delivered every input buffer before the barrier, which
  // are recorded with the state.
  void perform_checkpoint(int64_t id, Timestamp time, bool savepoint, bool unaligned);
  void complete_channel_state(int64_t id);
  void replay_restored_in_flight();
  void promote_queued_barrier_if_due();
  void handle_gate_event(InputGate::Event& event);
  void perform_requested_checkpoint();
  // Splits the reader may have before its checkpoint `before_checkpoint` (see SourceCoordinator).
  void take_split_assignments(int64_t before_checkpoint);
  void deliver_checkpoint_notifications();
  void fire_due_timers();
  void request_timer_wakeup(Timestamp now);
  RunResult wait(WaitReason reason);
  void account_wait(int64_t now_ns);

  JobExecution& job_;
  std::string name_;
  int vertex_;
  int subtask_;
  int parallelism_;
  TaskMetrics metrics_;
  std::unique_ptr<ReaderContext> reader_context_;
  bool opened_ = false;
  bool closed_ = false;
  WaitReason waiting_for_ = WaitReason::kNone;
  int64_t waiting_since_ns_ = 0;
  int64_t next_latency_marker_ns_ = 0;

  struct Timer {
    Timestamp time;
    TimerTarget* target;
    int node_id;
    bool operator>(const Timer& other) const { return time > other.time; }
  };
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  Timestamp wakeup_requested_for_ = kMinWatermark;  // wall-clock ms of the pending wake-up

  // Checkpoints the coordinator asked this task to take (sources, tasks whose input ended).
  struct CheckpointRequest {
    int64_t id;
    Timestamp time;
    bool savepoint;
  };
  std::mutex requests_mutex_;
  std::vector<CheckpointRequest> checkpoint_requests_;
  // An unaligned checkpoint whose snapshot is taken, waiting for the rest of its in-flight input.
  struct ChannelStateCapture {
    int64_t id = 0;
    std::vector<SnapshotWriter::Part> state;
    std::vector<std::vector<std::string>> buffers;  // per input channel
    double sync_ms = 0;
  };
  std::optional<ChannelStateCapture> capture_;
  // An aligned barrier this task sent that turns unaligned in its output channels at `deadline`.
  struct QueuedBarrier {
    int64_t id = 0;
    Timestamp deadline = 0;
  };
  std::optional<QueuedBarrier> queued_barrier_;
  // The newest checkpoint whose snapshot this task took (its acknowledgement goes through the
  // snapshot writer, so the coordinator may not have it yet).
  int64_t taken_checkpoint_ = 0;
  bool input_ended_ = false;
  int64_t final_checkpoint_ = 0;                  // the first taken after the input ended
  std::atomic<int64_t> completed_checkpoint_{0};  // written by the coordinator
  int64_t notified_checkpoint_ = 0;
};

}  // namespace sluice::runtime
