// The coordinator side of one source: owns its SplitEnumerator and delivers split assignments to
// the reader subtasks through per-reader mailboxes (so the protocol is message-shaped and can
// later cross machines). In the embedded executor it lives in the job process.
//
// Threading: every method is thread-safe; enumerator calls are serialized by one mutex.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/scheduler.h"
#include "sluice/runtime/source.h"

namespace sluice::runtime {

class SourceCoordinator final : public SplitEnumeratorContext {
 public:
  // `restored_state`: the enumerator's state in the checkpoint the job restores from.
  SourceCoordinator(SourceFactory& factory, int parallelism,
                    const std::optional<std::string>& restored_state = std::nullopt);

  // The enumerator's state, for a checkpoint being triggered (before any barrier is injected).
  std::string snapshot_enumerator();

  // Reader side. `task` is woken when assignments arrive.
  void register_reader(int subtask, Scheduler& scheduler, Schedulable* task);
  void request_split(int subtask);

  struct Assignments {
    std::vector<std::unique_ptr<SourceSplit>> splits;
    bool no_more_splits = false;
  };
  // Takes what was assigned to `subtask` since the last call.
  Assignments take_assignments(int subtask);

  // SplitEnumeratorContext (called by the enumerator under enumerator_mutex_).
  int parallelism() const override { return parallelism_; }
  void assign_split(int subtask, std::unique_ptr<SourceSplit> split) override;
  void signal_no_more_splits(int subtask) override;

 private:
  struct Mailbox {
    std::mutex mutex;
    Assignments pending;
    bool delivered_no_more = false;
    Scheduler* scheduler = nullptr;
    Schedulable* task = nullptr;
  };
  Mailbox& mailbox(int subtask);

  int parallelism_;
  std::vector<std::unique_ptr<Mailbox>> mailboxes_;
  std::recursive_mutex enumerator_mutex_;
  std::unique_ptr<SplitEnumerator> enumerator_;
  bool started_ = false;
};

}  // namespace sluice::runtime
