// The checkpoint format of keyed state: what keyed backends and keyed operators put into a
// snapshot, by key group, so that a job restored at another parallelism hands each new subtask
// the key groups of its range from whichever old subtasks held them.
//
// Canonical format of one key group of a backend: u32 number of states, then per state its name
// (length-prefixed), its StateKind (u8) and its entries (length-prefixed): u32 count, then per
// entry — kValue: lp(key) lp(value) i64 last-touched; kMap: lp(key) u32 n, n x (lp(user key)
// lp(user value) i64 last-touched). lp(x): u32 length, then x's Serializer bytes. Savepoints are
// always canonical (they restore into either backend); RocksDB's incremental checkpoints carry a
// native description instead.
//
// Threading: plain values and functions; see state_snapshot.h for who runs what.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "sluice/core/error.h"
#include "sluice/core/key_group_range.h"
#include "sluice/core/serialization.h"
#include "sluice/core/time.h"
#include "sluice/state/state_snapshot.h"

namespace sluice {

// How a state's entries are laid out in snapshots (see the format above).
enum class StateKind : uint8_t { kValue = 0, kMap = 1 };

// One key group's keyed state in the canonical format: the unit of snapshots and of rescaling (a
// subtask restored at another parallelism takes the key groups of its new range, from whichever
// old subtasks held them).
struct KeyGroupSnapshot {
  int key_group = 0;
  std::string bytes;
};

// What one keyed backend puts in a checkpoint: key groups in the canonical format, or (RocksDB
// incremental checkpoints) a description of a native RocksDB checkpoint whose SST files are shared
// files of the checkpoint.
struct KeyedBackendSnapshot {
  std::vector<KeyGroupSnapshot> groups;
  std::string native;
};

// The asynchronous part of a keyed backend's snapshot.
using BackendMaterialize = std::function<KeyedBackendSnapshot(SnapshotFiles&)>;

// What a keyed operator checkpoints: the state of its keyed backends and its own per-key data
// (timers, window contents), all by key group so that a restored instance takes the groups of its
// range from whichever old instances held them; the watermark it had reached (so that lateness is
// judged as before the failure); and its broadcast state, equal in every instance.
struct KeyedOperatorSnapshot {
  Timestamp watermark = kMinWatermark;
  std::vector<KeyedBackendSnapshot> backends;
  std::vector<KeyGroupSnapshot> internal;
  std::map<std::string, std::string> broadcast;
};

template <>
struct Serializer<KeyedOperatorSnapshot> {
  static void serialize(const KeyedOperatorSnapshot& value, BufferWriter& out);
  static KeyedOperatorSnapshot deserialize(BufferReader& in);
};

// Collects an operator's per-key items by key group: the `internal` part of a snapshot. Each
// group's bytes are a u32 item count followed by the items.
class KeyGroupedItems {
 public:
  // Where to write one more item of `key_group`.
  BufferWriter add(int key_group) {
    auto& group = groups_[key_group];
    ++group.first;
    return BufferWriter(group.second);
  }
  std::vector<KeyGroupSnapshot> finish() const;

 private:
  std::map<int, std::pair<uint32_t, std::string>> groups_;
};

// Calls read(BufferReader&) once per item of every group in `range`.
template <class Read>
void read_key_grouped_items(const std::vector<KeyGroupSnapshot>& groups, KeyGroupRange range,
                            Read&& read) {
  for (const auto& group : groups) {
    if (!range.contains(group.key_group)) continue;
    BufferReader in(group.bytes);
    for (auto n = in.read_fixed<uint32_t>(); n > 0; --n) read(in);
  }
}

// The snapshots a restored keyed operator resumes from, and the watermark it resumes at: the
// smallest of theirs (they cover the same input, so any is safe; the smallest judges nothing late
// that an instance had not judged late), or kMinWatermark on a fresh start.
std::vector<KeyedOperatorSnapshot> restored_keyed_snapshots(
    const std::vector<std::string>& restored, Timestamp* watermark);

// Writes to_bytes(snapshot) to `out` without building it in one string: each key group's bytes go
// out as they are, the small fields around them gathered in a scratch string. A large state is
// then never copied whole (the copy and its freshly mapped memory were most of a large heap
// checkpoint's time).
void write_keyed_operator_snapshot(const KeyedOperatorSnapshot& snapshot, SnapshotOutput& out);

// A keyed operator's snapshot: `fixed` (watermark, per-key items, broadcast state) taken now,
// the backends' asynchronous parts run when the checkpoint writes it.
StateSnapshot keyed_operator_snapshot(KeyedOperatorSnapshot fixed,
                                      std::vector<BackendMaterialize> backends);

namespace detail {

// Runs the deferred part of a snapshot at once: for tests and synchronous callers, which have
// nowhere to put shared files.
class NoSharedFiles final : public SnapshotFiles {
 public:
  void add_shared_file(const std::string& key, const std::filesystem::path&) override {
    throw Error(ErrorCategory::kInternal,
                "shared file '" + key + "' in a snapshot taken outside a checkpoint");
  }
};

}  // namespace detail

}  // namespace sluice
