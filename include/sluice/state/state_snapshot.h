// What an operator hands to a checkpoint: its state at the barrier, in two parts (Flink's
// synchronous and asynchronous snapshot phases). The synchronous part runs on the task thread
// when the barrier passes and must be short: it freezes the state (a copy-on-write marker, a
// RocksDB snapshot or native checkpoint). The asynchronous part runs later on a checkpoint thread,
// while the task goes on processing, and produces the bytes (and, for RocksDB, the files shared
// between checkpoints).
//
//   StateSnapshot snapshot_state(const SnapshotRequest&) override { return to_bytes(small); }
//   StateSnapshot snapshot_state(const SnapshotRequest&) override {
//     return StateSnapshot::deferred([frozen = freeze()](SnapshotFiles&) { return frozen->bytes();
//     });
//   }
//
// Threading: a StateSnapshot is created on the task thread and materialized by one other thread.
// The deferred function must not touch anything the task thread changes without synchronization;
// it may outlive the operator (a checkpoint written after the task closed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>

namespace sluice {

// What a snapshot is for: the checkpoint, and whether it is a savepoint (whose state must be in
// the canonical format, restorable into any backend).
struct SnapshotRequest {
  int64_t checkpoint_id = 0;
  bool savepoint = false;
};

// Files of a checkpoint that are too large to copy into every checkpoint: RocksDB's SST files,
// which are immutable, stored once in the checkpoint directory's shared/ folder and referenced by
// every checkpoint that contains them (incremental checkpoints).
class SnapshotFiles {
 public:
  virtual ~SnapshotFiles() = default;
  // Makes the file at `path` part of this checkpoint under `key`, which must identify its contents
  // (the same key is never used for other contents). Stored once: a later checkpoint adding the
  // same key only references it.
  virtual void add_shared_file(const std::string& key, const std::filesystem::path& path) = 0;
};

class StateSnapshot {
 public:
  using Materialize = std::function<std::string(SnapshotFiles&)>;

  StateSnapshot() = default;
  // Implicit: an operator with small state returns its bytes, taken synchronously.
  StateSnapshot(std::string bytes)
      : bytes_(std::move(bytes)) {}  // NOLINT(google-explicit-constructor)
  static StateSnapshot deferred(Materialize materialize) {
    StateSnapshot snapshot;
    snapshot.materialize_ = std::move(materialize);
    return snapshot;
  }
  StateSnapshot(StateSnapshot&&) noexcept = default;
  StateSnapshot& operator=(StateSnapshot&&) noexcept = default;
  StateSnapshot(const StateSnapshot&) = delete;
  StateSnapshot& operator=(const StateSnapshot&) = delete;

  bool empty() const { return bytes_.empty() && !materialize_; }
  bool materialized() const { return !materialize_; }
  // Runs the asynchronous part, once; the bytes afterwards.
  const std::string& materialize(SnapshotFiles& files) {
    if (materialize_) {
      bytes_ = materialize_(files);
      materialize_ = nullptr;  // releases what it held (a frozen state, a RocksDB snapshot)
    }
    return bytes_;
  }
  // The bytes of a materialized snapshot.
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  Materialize materialize_;
};

}  // namespace sluice
