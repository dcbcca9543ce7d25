// The embedded executor's view of one running job: expands the logical StreamGraph into chained,
// parallel tasks connected by channels, runs them on a private Scheduler, and tracks completion,
// failure and cancellation.
//
// Graph expansion (see docs/ARCHITECTURE.md):
//  1. resolve each node's parallelism and each edge's partitioning (default: forward when the
//     parallelisms match, else rebalance; an explicit forward across different parallelisms is an
//     error);
//  2. chain an edge when it is forward (or connects two parallelism-1 nodes), both ends allow
//     chaining, and the target has no other input;
//  3. create one task per chain and subtask, one channel per (producer, consumer) subtask pair of
//     every non-chained edge, and wire outputs.
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
#include "runtime/scheduler.h"
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

 private:
  struct NodeMetrics {
    std::string name;
    std::vector<std::unique_ptr<OperatorMetrics>> per_subtask;
  };

  void build(const StreamGraph& graph);
  // The checkpoint to resume from (options_.restore_from), checked against the graph.
  void load_restore_point(const StreamGraph& graph);
  // Restored state by name; nullopt when the checkpoint has none of that name (or no restore).
  std::optional<std::string> restored_state(const std::string& name) const;
  void restore_in_flight_records(const StreamGraph& graph,
                                 const std::vector<Partitioning>& partitioning,
                                 const std::vector<std::vector<StreamTask*>>& task_of);
  int restored_parallelism(int node_id) const;
  void fail_job(Error error);
  void on_task_done(Schedulable* task);
  JobMetrics metrics_locked() const;

  JobOptions options_;
  std::vector<NodeMetrics> node_metrics_;
  std::vector<int> node_parallelism_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<SourceCoordinator>> coordinators_;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::vector<std::unique_ptr<StreamTask>> tasks_;
  std::unique_ptr<NullOutput> null_output_ = std::make_unique<NullOutput>();
  std::unique_ptr<CheckpointCoordinator> checkpoints_;
  std::map<std::string, std::string> checkpoint_properties_;  // describe the graph
  std::vector<std::pair<int, SourceCoordinator*>> enumerators_;
  std::optional<CompletedCheckpoint> restored_;

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
