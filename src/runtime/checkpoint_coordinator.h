// Triggers checkpoints and completes them (Flink's CheckpointCoordinator, for the embedded
// executor).
//
// Every interval, if fewer than `max_concurrent` checkpoints are pending, it starts checkpoint n in
// the CheckpointStorage,
// stores each source's split enumerator state, and asks every source task to inject barrier n.
// Tasks snapshot their chain when the barrier passes them (sources: at injection; others: once the
// input gate aligned it) and acknowledge with their state; the coordinator writes the state files
// on its own thread, so tasks go on processing. When every task acknowledged, it writes the
// metadata (the checkpoint now exists) and tells every task, which tells its operators
// (two-phase-commit sinks commit then).
//
// A task whose input ended receives no barrier any more: it is asked directly and acknowledges
// with its final state (Flink's checkpoints after tasks finished, FLIP-147). When every task's
// input ended, one more checkpoint is triggered at once: the final one, which commits the end of
// the output; tasks close when a checkpoint taken after their input ended completed, and from
// then on the coordinator acknowledges for them with that final state.
//
// At most `max_concurrent` checkpoints pending (Flink's default: 1); with a `min_pause` the next
// starts at least that long after the previous one ended, one at a time (as Flink). A checkpoint
// that completes subsumes older pending ones, which are dropped (not failures). A checkpoint that
// fails to write (disk full, unwritable) or does not complete within `timeout` is abandoned and
// its folder removed; the job goes on unless more than `tolerable_failures` fail in a row.
// Savepoints are checkpoints the user asks for, into a folder of their own that retention never
// deletes, taken when no checkpoint is pending; they complete (and commit sinks) like
// checkpoints. Once a task failed or was cancelled, pending checkpoints are abandoned and no new
// one starts.
//
// Threading: acknowledge(), task_ended_input(), task_finished() and stop() are thread-safe; one
// internal thread triggers and writes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/core/error.h"
#include "sluice/state/state_snapshot.h"

namespace sluice::runtime {

class StreamTask;
class SourceCoordinator;

class CheckpointCoordinator {
 public:
  // One state of a task's snapshot: its name in the checkpoint, and its snapshot, materialized
  // by the coordinator (with the shared files it uses) before it is written.
  struct TaskStatePart {
    std::string name;
    StateSnapshot snapshot;
    std::vector<std::string> shared_files;
  };
  using TaskState = std::vector<TaskStatePart>;

  struct Settings {
    std::chrono::milliseconds interval{0};
    std::chrono::milliseconds timeout{10 * 60 * 1000};  // a checkpoint taking longer fails
    std::chrono::milliseconds min_pause{0};  // from the end of one checkpoint to the next
    int max_concurrent = 1;                  // checkpoints pending at once
    int tolerable_failures = 3;              // consecutive failed checkpoints before the job fails
    std::map<std::string, std::string> properties;  // stored with every checkpoint
  };
  struct Participants {
    std::vector<StreamTask*> tasks;
    std::vector<StreamTask*> source_tasks;
    std::vector<std::pair<int, SourceCoordinator*>> enumerators;  // node id -> coordinator
  };

  CheckpointCoordinator(CheckpointStorage storage, Settings settings, Participants participants,
                        std::function<void(Error)> fail_job);
  ~CheckpointCoordinator();

  void start();
  void stop();
  // A task snapshotted its chain for checkpoint `id`; `final`: after its input ended. `sync_ms`:
  // how long the synchronous part held the task.
  void acknowledge(StreamTask* task, int64_t id, TaskState state, bool final, double sync_ms = 0);
  // The task's input ended; it waits for a checkpoint to cover its final state.
  void task_ended_input(StreamTask* task);
  // A task closed: after its final checkpoint (its final state stands for it in every later
  // checkpoint), or because the job failed or was cancelled (no checkpoint can complete now).
  void task_finished(StreamTask* task, bool normally);

  // A savepoint into `directory` (savepoint-<id>), taken like a checkpoint as soon as none is
  // pending; the future gives its folder, or the error that made it fail.
  std::future<std::string> request_savepoint(std::string directory);

  struct Stats {
    int64_t completed = 0;
    int64_t failed = 0;
    double last_duration_ms = 0;  // of the last completed one
    double last_sync_ms = 0;      // its longest synchronous part of a task
    double max_sync_ms = 0;       // the longest synchronous part of any completed checkpoint
    double last_async_ms = 0;     // its asynchronous parts, together
    uint64_t last_bytes = 0;      // full size
    uint64_t last_new_bytes = 0;  // without the shared files stored by earlier checkpoints
    int peak_concurrent = 0;      // most checkpoints pending at once
  };
  Stats stats() const;

 private:
  struct Ack {
    int64_t id;
    double sync_ms;
    // Shared with final_states_: large, never copied; materialized in place by the coordinator.
    std::shared_ptr<TaskState> state;
    // A final state: later checkpoints write its bytes again, so they are kept (materialized)
    // rather than streamed to the file.
    bool is_final = false;
  };
  struct SavepointRequest {
    std::string directory;
    std::promise<std::string> done;
  };
  // A checkpoint being taken (coordinator thread only).
  struct Pending {
    PendingCheckpoint checkpoint;
    std::optional<SavepointRequest> savepoint;
    std::chrono::steady_clock::time_point since;
    size_t acknowledged = 0;
    uint64_t bytes = 0;
    double sync_ms = 0;
    double async_ms = 0;
  };
  void run();
  // Starts a checkpoint, or the savepoint `savepoint` asks for.
  void trigger(std::optional<SavepointRequest> savepoint);
  std::chrono::steady_clock::time_point wake_time() const;
  bool may_trigger() const;
  void reject_queued_savepoints();  // with mutex_ held
  void write(Ack& ack);
  void complete(int64_t id);
  // `failure`: counts towards the tolerable failures (a subsumed checkpoint does not).
  void abandon(int64_t id, const std::string& why, bool failure = true);
  void abandon_all(const std::string& why);
  void forget_pending(int64_t id);  // the id leaves pending_ids_

  CheckpointStorage storage_;
  Settings settings_;
  Participants participants_;
  std::function<void(Error)> fail_job_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Ack> acks_;
  std::deque<SavepointRequest> savepoint_requests_;
  bool stopping_ = false;
  bool any_task_finished_ = false;
  std::map<StreamTask*, bool> input_ended_;
  std::map<StreamTask*, std::shared_ptr<TaskState>>
      final_states_;                 // the last acknowledged after input ended
  std::vector<StreamTask*> closed_;  // closed normally: acknowledged from the cache
  std::map<StreamTask*, int64_t> last_acknowledged_;
  size_t tasks_ended_ = 0;
  std::map<int64_t, Timestamp> pending_ids_;  // pending checkpoints and their trigger times
  Stats stats_;

  // Coordinator thread only.
  std::map<int64_t, Pending> pending_;
  std::optional<CheckpointStorage> savepoint_storage_;
  std::chrono::steady_clock::time_point next_trigger_{};  // of the next periodic checkpoint
  int64_t last_id_ = 0;
  int consecutive_failures_ = 0;
  int64_t final_id_ = 0;  // the checkpoint triggered after every task's input ended
  bool final_completed_ = false;
  std::chrono::steady_clock::time_point retry_final_at_{};  // after a failed checkpoint
  std::thread thread_;
};

}  // namespace sluice::runtime
