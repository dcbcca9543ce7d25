// The task side of checkpoint writing, one per process that runs tasks (Flink's asynchronous
// snapshot threads of a TaskManager): once a task took the synchronous part of its snapshot, the
// writer runs the asynchronous part of each state on its own thread, straight into a file of the
// checkpoint's location (streamed: a large keyed state never whole in memory), and acknowledges to
// the coordinator with what it wrote: file names, sizes, checksums and shared files. The
// coordinator never runs operator code.
//
// The thread runs at a low priority (nice 10): on a loaded machine it takes idle time rather than a
// worker's core for a scheduler slice, which every queued record would wait out (Nexmark q3's p99
// went from 27 to 6.5 ms when the checkpoint thread stopped competing).
//
// Threading: every public method is thread-safe; one internal thread writes.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/task_gateway.h"
#include "sluice/state/state_snapshot.h"

namespace sluice::runtime {

class SnapshotWriter final : public TaskExecutorGateway {
 public:
  // One state of a task's snapshot: its name in the checkpoint and its snapshot, whose
  // asynchronous part the writer runs.
  struct Part {
    std::string name;
    StateSnapshot snapshot;
  };

  SnapshotWriter();
  ~SnapshotWriter() override;
  // Where acknowledgements go; set before the first submit().
  void respond_to(CheckpointResponder& responder) { responder_ = &responder; }

  void checkpoint_started(const CheckpointLocation& location) override;
  // Returns once nothing of checkpoint `id` is being written: its folder may then be removed.
  void checkpoint_ended(int64_t id) override;
  // A task's synchronous part of checkpoint `id` is done: the rest is written in order, then
  // acknowledged (or declined, if writing fails). Parts of a checkpoint not started (or already
  // abandoned) are dropped.
  void submit(TaskId task, int64_t id, std::vector<Part> parts, bool final, double sync_ms);
  // Drops what is queued and joins the thread.
  void stop();

 private:
  struct Job {
    TaskId task;
    int64_t id = 0;
    std::vector<Part> parts;
    bool final = false;
    double sync_ms = 0;
  };
  void run();
  void write(Job& job, const CheckpointLocation& location);

  CheckpointResponder* responder_ = nullptr;
  SharedFileStore shared_files_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::map<int64_t, CheckpointLocation> locations_;  // of the checkpoints in progress
  int64_t writing_ = 0;                              // the checkpoint being written (0: none)
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sluice::runtime
