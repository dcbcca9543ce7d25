// Triggers checkpoints and completes them (Flink's CheckpointCoordinator, for the embedded
// executor).
//
// Every interval, if no checkpoint is pending, it starts checkpoint n in the CheckpointStorage and
// asks every source task to inject barrier n. Tasks snapshot their chain when the barrier passes
// them (sources: at injection; others: once the input gate aligned it) and acknowledge with their
// state; the coordinator writes the state files on its own thread, so tasks go on processing. When
// every task acknowledged, it writes the metadata (the checkpoint now exists) and tells every task,
// which tells its operators (two-phase-commit sinks commit then).
//
// One checkpoint at a time. Once any task finished, no checkpoint can complete (the finished task
// will not acknowledge): the pending one is abandoned and no new one starts. A checkpoint that
// fails to write (disk full, unwritable) is abandoned and its folder removed; the job goes on.
//
// Threading: acknowledge(), task_finished() and stop() are thread-safe; one internal thread runs
// the triggering and writing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sluice/checkpoint/checkpoint_storage.h"

namespace sluice::runtime {

class StreamTask;

class CheckpointCoordinator {
 public:
  using TaskState = std::vector<std::pair<std::string, std::string>>;  // state name -> bytes

  CheckpointCoordinator(CheckpointStorage storage, std::chrono::milliseconds interval,
                        std::vector<StreamTask*> tasks, std::vector<StreamTask*> source_tasks);
  ~CheckpointCoordinator();

  void start();
  void stop();
  // A task snapshotted its chain for checkpoint `id`.
  void acknowledge(int64_t id, TaskState state);
  void task_finished();

  int64_t completed() const;
  int64_t failed() const;

 private:
  struct Ack {
    int64_t id;
    TaskState state;
  };
  void run();
  void trigger();
  void write(Ack& ack);
  void abandon(const std::string& why);

  CheckpointStorage storage_;
  std::chrono::milliseconds interval_;
  std::vector<StreamTask*> tasks_;
  std::vector<StreamTask*> source_tasks_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Ack> acks_;
  bool stopping_ = false;
  bool any_task_finished_ = false;
  int64_t completed_ = 0;
  int64_t failed_ = 0;

  // Coordinator thread only.
  std::optional<PendingCheckpoint> pending_;
  size_t acknowledged_ = 0;
  int64_t last_id_ = 0;
  std::thread thread_;
};

}  // namespace sluice::runtime
