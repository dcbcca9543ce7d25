// The coordinator side of one source: owns its SplitEnumerator and delivers split assignments to
// the reader subtasks through per-reader mailboxes (so the protocol is message-shaped and can
// later cross machines). In the embedded executor it lives in the job process.
//
// Checkpoints: the enumerator's state is taken when checkpoint n is triggered, the readers' at
// their barrier n, later. A split assigned in between is unassigned in the enumerator's state, so
// it must not be in the reader's either: assignments are tagged with the latest enumerator
// snapshot, and a reader takes a split tagged n only after its own checkpoint n (as Flink holds
// coordinator events back until the barrier). No-more-splits is held the same way.
//
// Threading: every method is thread-safe; enumerator calls are serialized by one mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "runtime/scheduler.h"
#include "sluice/runtime/source.h"

namespace sluice::runtime {

class SourceCoordinator final : public SplitEnumeratorContext {
 public:
  // `restored_state`: the enumerator's state in the checkpoint the job restores from.
  SourceCoordinator(SourceFactory& factory, int parallelism,
                    const std::optional<std::string>& restored_state = std::nullopt);

  // The enumerator's state, for checkpoint `checkpoint_id` being triggered (before any barrier is
  // injected).
  std::string snapshot_enumerator(int64_t checkpoint_id);

  // Reader side. `task` is woken when assignments arrive.
  void register_reader(int subtask, Scheduler& scheduler, Schedulable* task);
  void request_split(int subtask);

  struct Assignments {
    std::vector<std::unique_ptr<SourceSplit>> splits;
    std::vector<std::string> events;  // after the splits
    bool no_more_splits = false;
  };
  // Takes what was assigned to `subtask` since the last call and may be delivered before the
  // reader's checkpoint `before_checkpoint` (assigned before the enumerator snapshot of an earlier
  // checkpoint, or before any).
  Assignments take_assignments(int subtask, int64_t before_checkpoint);

  // SplitEnumeratorContext (called by the enumerator under enumerator_mutex_).
  int parallelism() const override { return parallelism_; }
  void assign_split(int subtask, std::unique_ptr<SourceSplit> split) override;
  void signal_no_more_splits(int subtask) override;
  void send_event(int subtask, std::string event) override;
  void call_async(std::function<std::function<void()>()> work,
                  std::chrono::milliseconds period) override;

  ~SourceCoordinator() override;

 private:
  struct Tagged {
    int64_t tag;                         // the latest enumerator snapshot when it was assigned
    std::unique_ptr<SourceSplit> split;  // or, when null, an event
    std::string event;
  };
  struct Mailbox {
    std::mutex mutex;
    std::vector<Tagged> pending;
    int64_t no_more_tag = -1;  // -1: not signalled yet
    bool delivered_no_more = false;
    bool signalled_no_more = false;
    Scheduler* scheduler = nullptr;
    Schedulable* task = nullptr;
  };
  Mailbox& mailbox(int subtask);

  int parallelism_;
  std::vector<std::unique_ptr<Mailbox>> mailboxes_;
  std::recursive_mutex enumerator_mutex_;
  std::unique_ptr<SplitEnumerator> enumerator_;
  bool started_ = false;
  std::atomic<int64_t> latest_snapshot_{0};

  // call_async: one thread runs the enumerator's asynchronous work.
  struct AsyncCall {
    std::function<std::function<void()>()> work;
    std::chrono::milliseconds period;
    std::chrono::steady_clock::time_point due;
  };
  void run_async_calls();
  std::mutex async_mutex_;
  std::condition_variable async_cv_;
  std::vector<AsyncCall> async_calls_;
  bool async_stopping_ = false;
  std::thread async_thread_;
  std::exception_ptr async_failure_;  // rethrown to the readers
};

}  // namespace sluice::runtime
