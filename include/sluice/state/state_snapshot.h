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
// A large state's asynchronous part should be `streamed`: it writes its bytes piece by piece to the
// checkpoint's file instead of returning them in one string.
//
// Threading: a StateSnapshot is created on the task thread and materialized by one other thread.
// The deferred function must not touch anything the task thread changes without synchronization;
// it may outlive the operator (a checkpoint written after the task closed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
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

// Where a streamed snapshot writes its bytes, piece by piece, in order.
class SnapshotOutput {
 public:
  virtual ~SnapshotOutput() = default;
  virtual void write(std::string_view bytes) = 0;
  // A hint: about this many bytes will be written (an output in memory reserves them).
  virtual void expect(size_t /*bytes*/) {}
};

class StateSnapshot {
 public:
  using Materialize = std::function<std::string(SnapshotFiles&)>;
  // An asynchronous part that writes its bytes in pieces instead of returning them in one string:
  // a large state goes to its file key group by key group, never whole in memory.
  using Stream = std::function<void(SnapshotFiles&, SnapshotOutput&)>;

  StateSnapshot() = default;
  // Implicit: an operator with small state returns its bytes, taken synchronously.
  StateSnapshot(std::string bytes)
      : bytes_(std::move(bytes)) {}  // NOLINT(google-explicit-constructor)
  static StateSnapshot deferred(Materialize materialize) {
    StateSnapshot snapshot;
    snapshot.materialize_ = std::move(materialize);
    return snapshot;
  }
  static StateSnapshot streamed(Stream stream) {
    StateSnapshot snapshot;
    snapshot.stream_ = std::move(stream);
    return snapshot;
  }
  StateSnapshot(StateSnapshot&&) noexcept = default;
  StateSnapshot& operator=(StateSnapshot&&) noexcept = default;
  StateSnapshot(const StateSnapshot&) = delete;
  StateSnapshot& operator=(const StateSnapshot&) = delete;

  bool empty() const { return bytes_.empty() && !materialize_ && !stream_; }
  bool materialized() const { return !materialize_ && !stream_; }
  // Runs the asynchronous part, once; the bytes afterwards.
  const std::string& materialize(SnapshotFiles& files) {
    if (materialize_) {
      bytes_ = materialize_(files);
      materialize_ = nullptr;  // releases what it held (a frozen state, a RocksDB snapshot)
    } else if (stream_) {
      struct Append final : SnapshotOutput {
        std::string& bytes;
        explicit Append(std::string& b) : bytes(b) {}
        void write(std::string_view piece) override { bytes.append(piece); }
        void expect(size_t size) override { bytes.reserve(bytes.size() + size); }
      } append(bytes_);
      std::exchange(stream_, nullptr)(files, append);
    }
    return bytes_;
  }
  // Writes the bytes to `out`: a streamed asynchronous part runs straight into it and keeps
  // nothing (the snapshot is spent: bytes() is empty afterwards), any other is materialized.
  void write_to(SnapshotFiles& files, SnapshotOutput& out) {
    if (stream_) {
      std::exchange(stream_, nullptr)(files, out);
    } else {
      out.write(materialize(files));
    }
  }
  // The bytes of a materialized snapshot.
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
  Materialize materialize_;
  Stream stream_;
};

}  // namespace sluice
