// Triggers checkpoints and completes them (Flink's CheckpointCoordinator, for the embedded
// executor).
//
// Every interval, if fewer than `max_concurrent` checkpoints are pending, it starts checkpoint n in
// the CheckpointStorage, stores each source's split enumerator state, tells the task executor where
// n's files go, and asks every source task to inject barrier n. Tasks snapshot their chain when
// the barrier passes them (sources: at injection; others: once the input gate aligned it); their
// executor writes the snapshots' files and acknowledges with what it wrote (see task_gateway.h:
// only messages cross, the coordinator never runs operator code). When every task acknowledged,
// the coordinator writes the metadata (the checkpoint now exists) and tells every task, which tells
// its operators (two-phase-commit sinks commit then).
//
// A task whose input ended receives no barrier any more: it is asked directly and acknowledges
// with its final state (Flink's checkpoints after tasks finished, FLIP-147). When every task's
// input ended, one more checkpoint is triggered at once: the final one, which commits the end of
// the output; tasks close when a checkpoint taken after their input ended completed, and from
// then on the coordinator acknowledges for them with that final state: its files, linked from the
// newest completed checkpoint that lists them into each new one.
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
// Threading: the CheckpointResponder methods, request_savepoint(), stats() and stop() are
// thread-safe; one internal thread triggers, records acknowledgements and commits.
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
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "runtime/task_gateway.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/core/error.h"

namespace sluice::runtime {

class CheckpointCoordinator final : public CheckpointResponder {
 public:
  struct Settings {
    std::chrono::milliseconds interval{0};
    std::chrono::milliseconds timeout{10 * 60 * 1000};  // a checkpoint taking longer fails
    std::chrono::milliseconds min_pause{0};  // from the end of one checkpoint to the next
    int max_concurrent = 1;                  // checkpoints pending at once
    int tolerable_failures = 3;              // consecutive failed checkpoints before the job fails
    std::map<std::string, std::string> properties;  // stored with every checkpoint
  };
  // A source's split enumerator, whose state every checkpoint stores first.
  struct Enumerator {
    int node_id = 0;
    std::function<std::string(int64_t checkpoint_id)> snapshot;
  };
  struct Participants {
    std::vector<TaskGateway*> tasks;
    std::vector<TaskGateway*> source_tasks;
    std::vector<Enumerator> enumerators;
    TaskExecutorGateway* executor = nullptr;  // where the tasks' snapshots are written
  };

  CheckpointCoordinator(CheckpointStorage storage, Settings settings, Participants participants,
                        std::function<void(Error)> fail_job);
  ~CheckpointCoordinator() override;

  void start();
  void stop();

  // CheckpointResponder.
  void acknowledge(TaskCheckpointAck ack) override;
  void decline(TaskId task, int64_t id, std::string reason) override;
  void input_ended(TaskId task) override;
  void task_finished(TaskId task, bool normally, int64_t newest_snapshot) override;

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
  // What a task's executor wrote for a checkpoint, or (adopted) a closed task's final state.
  struct Ack {
    TaskCheckpointAck ack;
    std::string declined;  // non-empty: the task could not write its part, and why
    bool adopt = false;    // the task closed: its final state stands in (ack holds the id only)
  };
  // A closed task's final state: the newest completed checkpoint folder listing its files.
  struct FinalState {
    std::vector<StateHandle> states;
    std::filesystem::path folder;
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
    std::set<TaskId> acknowledged;  // by an ack or by a finished task's final state
    uint64_t bytes = 0;
    uint64_t new_shared_bytes = 0;
    double sync_ms = 0;
    double async_ms = 0;
    std::map<std::string, uint64_t> shared_sizes;             // the shared files it lists
    std::map<TaskId, std::vector<StateHandle>> final_states;  // of tasks whose input ended
  };
  void run();
  static void count_acknowledgement(Pending& pending, TaskId task);
  // Starts a checkpoint, or the savepoint `savepoint` asks for.
  void trigger(std::optional<SavepointRequest> savepoint);
  std::chrono::steady_clock::time_point wake_time() const;
  bool may_trigger() const;
  void reject_queued_savepoints();  // with mutex_ held
  void record(Ack& ack);
  // The final states of closed tasks, linked into `pending` (whose folder is `id`'s).
  void adopt_final_states(int64_t id, Pending& pending, const std::vector<TaskId>& tasks);
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
  std::map<TaskId, TaskGateway*> tasks_;
  std::map<TaskId, bool> input_ended_;
  std::set<TaskId> acknowledged_final_;  // acknowledged a state taken after their input ended
  std::set<TaskId> closed_;  // closed normally: their final state is adopted by the coordinator
  size_t tasks_ended_ = 0;
  std::map<int64_t, Timestamp> pending_ids_;  // pending checkpoints and their trigger times
  int64_t final_id_ = 0;  // the checkpoint triggered after every task's input ended
  bool final_completed_ = false;
  Stats stats_;

  // Coordinator thread only.
  std::map<int64_t, Pending> pending_;
  std::map<TaskId, FinalState> final_states_;
  std::optional<CheckpointStorage> savepoint_storage_;
  std::chrono::steady_clock::time_point next_trigger_{};  // of the next periodic checkpoint
  int64_t last_id_ = 0;
  int consecutive_failures_ = 0;
  std::chrono::steady_clock::time_point retry_final_at_{};  // after a failed checkpoint
  std::thread thread_;
};

}  // namespace sluice::runtime
