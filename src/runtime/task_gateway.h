// The interfaces through which tasks and the checkpoint coordinator talk. Every call is a message:
// small values (ids, times, a CheckpointLocation, a TaskCheckpointAck) and no pointer into the
// other side's memory, so that a network transport can stand in for a direct call when tasks run
// in other processes, without touching the task, the coordinator or any operator.
//
//   coordinator --TaskExecutorGateway--> the process running tasks: where checkpoint n goes, or
//                                        that it was abandoned
//   coordinator --TaskGateway----------> one task: trigger checkpoint n (sources, and tasks whose
//                                        input ended), checkpoint n completed
//   tasks, their executor --CheckpointResponder--> coordinator: acknowledgements with what was
//                                        written, declines, input ended, task finished
//
// Threading: every method may be called from any thread; implementations queue and return.
#pragma once

#include <cstdint>
#include <string>

#include "sluice/checkpoint/checkpoint_location.h"
#include "sluice/checkpoint/checkpoint_messages.h"
#include "sluice/core/time.h"

namespace sluice::runtime {

class TaskGateway {
 public:
  virtual ~TaskGateway() = default;
  virtual TaskId task_id() const = 0;
  // At its next run the task snapshots checkpoint `id` (a source also injects its barrier; a
  // task whose input ended acknowledges its final state). `savepoint`: barriers never overtake.
  virtual void trigger_checkpoint(int64_t id, Timestamp time, bool savepoint) = 0;
  virtual void notify_checkpoint_complete(int64_t id) = 0;
};

class TaskExecutorGateway {
 public:
  virtual ~TaskExecutorGateway() = default;
  // Sent before any task of checkpoint `location.checkpoint_id` is triggered.
  virtual void checkpoint_started(const CheckpointLocation& location) = 0;
  // It completed or was abandoned: nothing more is written for it (work still queued is dropped).
  virtual void checkpoint_ended(int64_t id) = 0;
};

class CheckpointResponder {
 public:
  virtual ~CheckpointResponder() = default;
  virtual void acknowledge(TaskCheckpointAck ack) = 0;
  // The task could not write its part of checkpoint `id` (the checkpoint fails, not the job).
  virtual void decline(TaskId task, int64_t id, std::string reason) = 0;
  // The task's input ended; it waits for a checkpoint to cover its final state.
  virtual void input_ended(TaskId task) = 0;
  // The task closed: after its final checkpoint (its final state stands for it in every later
  // checkpoint), or because the job failed or was cancelled. `newest_snapshot`: the newest
  // checkpoint it took a snapshot for, whose acknowledgement may still be on its way; later ones
  // it was triggered for, it never takes.
  virtual void task_finished(TaskId task, bool normally, int64_t newest_snapshot) = 0;
};

}  // namespace sluice::runtime
