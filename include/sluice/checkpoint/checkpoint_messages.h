// The checkpoint protocol between tasks and the coordinator, as values that can cross a process
// boundary: a task acknowledges a checkpoint with what it wrote (the files of its states and the
// shared files they use, with sizes and checksums) and how long that took; it never hands the
// coordinator its memory. Serializable with sluice/core/serialization.h.
//
// Threading: plain values.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sluice/checkpoint/checkpoint_storage.h"

namespace sluice {

// One task: a subtask of a vertex of the execution plan.
struct TaskId {
  int32_t vertex = 0;
  int32_t subtask = 0;
  auto operator<=>(const TaskId&) const = default;
};

// One state a task wrote into a checkpoint's folder: its logical name (checkpoint_layout.h), its
// file, and the shared files it uses (key -> file in the shared folder).
struct StateHandle {
  std::string name;
  StateFile file;
  std::vector<std::pair<std::string, StateFile>> shared;
  bool operator==(const StateHandle&) const = default;
};

struct TaskCheckpointAck {
  TaskId task;
  int64_t checkpoint_id = 0;
  // Taken after the task's input ended: later checkpoints list these states again.
  bool final = false;
  std::vector<StateHandle> states;
  double sync_ms = 0;             // the task held its records this long (the synchronous part)
  double async_ms = 0;            // serializing its states, off the task's thread
  uint64_t new_shared_bytes = 0;  // shared files this acknowledgement stored
  bool operator==(const TaskCheckpointAck&) const = default;
};

}  // namespace sluice
