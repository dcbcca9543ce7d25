// The embedded executor's view of one running job: plans the logical StreamGraph (see
// sluice/runtime/execution_plan.h), deploys the plan as chained, parallel tasks connected by
// channels, runs them on a private Scheduler, and tracks completion, failure and cancellation.
//
// Deployment: one task per vertex and subtask, with a chain member per node (its operator, context
// and restored state); one channel per (producer, consumer) subtask pair of every edge that is not
// chained; then every member's outputs (chained calls, network writers, side outputs).
//
// Threading: the public methods are thread-safe. Tasks call back into fail_task() and the
// scheduler's done hook from worker threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "runtime/channel.h"
#include "runtime/checkpoint_coordinator.h"
#include "runtime/planner.h"
#include "runtime/scheduler.h"
#include "runtime/snapshot_writer.h"
#include "runtime/source_coordinator.h"
#include "runtime/stream_task.h"
#include "sluice/runtime/job_client.h"

namespace sluice::runtime {

class JobExecution {
 public:
  JobExecution(const StreamGraph& graph, JobOptions options);
  ~JobExecution();

  void start();
  void cancel();
  // Blocks until every task ended, then joins the worker threads.
  void wait();
  bool wait_for(std::chrono::milliseconds timeout);
  JobStatus status() const;
  std::optional<Error> failure() const;
  JobMetrics metrics() const;

  const JobOptions& options() const { return options_; }
  Scheduler& scheduler() { return *scheduler_; }
  bool cancelling() const { return cancelling_.load(std::memory_order_relaxed); }
  int64_t latency_marker_interval_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(options_.latency_tracking_interval)
        .count();
  }
  void fail_task(StreamTask& task, int node_id, std::exception_ptr cause);
  void task_opened();
  // Null unless checkpointing is on.
  CheckpointCoordinator* checkpoints() { return checkpoints_.get(); }
  const ExecutionPlan& plan() const { return planned_.plan; }

 private:
  struct NodeMetrics {
    std::string name;
    int parallelism = 0;
    std::vector<std::unique_ptr<OperatorMetrics>> per_subtask;
  };

  void build(const StreamGraph& graph);
  // Tasks by node and subtask.
  std::vector<std::vector<StreamTask*>> create_tasks(const StreamGraph& graph);
  ChainMember create_member(const StreamNode& node, StreamTask& task, int subtask, int parallelism);
  void create_channels(const StreamGraph& graph,
                       const std::vector<std::vector<StreamTask*>>& task_of);
  void restore_in_flight_records(const StreamGraph& graph,
                                 const std::vector<std::vector<StreamTask*>>& task_of);
  void wire_outputs(const StreamGraph& graph);
  // What the plan restores into `node_id`; null on a fresh start.
  const ExecutionPlan::NodeRestore* restore_of(int node_id) const;
  const std::vector<OperatorStateSnapshot>& restored_lists(
      const ExecutionPlan::NodeRestore& restored, int parallelism);
  // A state of the checkpoint the job resumes from, verified.
  std::string restored_state(const std::string& name) const;
  void fail_job(Error error);
  void on_task_done(Schedulable* task);
  JobMetrics metrics_locked() const;

  JobOptions options_;
  std::vector<NodeMetrics> node_metrics_;
  PlannedJob planned_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<SourceCoordinator>> coordinators_;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::vector<std::unique_ptr<StreamTask>> tasks_;
  std::unique_ptr<NullOutput> null_output_ = std::make_unique<NullOutput>();
  std::unique_ptr<CheckpointCoordinator> checkpoints_;
  // Declared after the coordinator: destroyed first, as it acknowledges to the coordinator.
  std::unique_ptr<SnapshotWriter> snapshot_writer_;
  std::vector<CheckpointCoordinator::Enumerator> enumerators_;
  // Channels of the edges that are not chained: [edge][producer subtask] = the targets.
  std::vector<std::vector<std::vector<ChannelWriter*>>> edge_channels_;
  std::map<int, std::vector<OperatorStateSnapshot>> restored_lists_;  // by node

  std::atomic<bool> cancelling_{false};
  int64_t start_ns_ = 0;
  const int64_t build_start_ns_;
  std::atomic<size_t> tasks_to_open_{0};
  std::atomic<int64_t> startup_ns_{0};
  mutable std::mutex mutex_;
  std::condition_variable done_cv_;
  size_t remaining_tasks_ = 0;
  bool cancel_requested_ = false;
  std::optional<Error> failure_;
  std::optional<JobMetrics> final_metrics_;
};

}  // namespace sluice::runtime
