// One embedded RocksDB database on local disk: the keyed state of one RocksDB backend (one operator
// instance). It works on bytes; the typed backend (rocksdb_keyed_state_backend.h) serializes keys
// and values. This header keeps RocksDB's own headers out of every translation unit that uses
// state.
//
// Layout (Flink's RocksDB layout, key group first so that a key-group range is one key range):
//   key    u16 key group (big-endian) | u32 length of the key (big-endian) | key | [user key]
//   value  i64 last-touched time | value                   (kMap: one entry per user key)
// One column family per state. Lists append through a merge operator (no read per add); TTL is
// enforced on read and by a compaction filter that drops expired entries.
//
// Memory: every store of the process shares one block cache, and their write buffers are charged
// to it (Flink's managed memory for RocksDB), so StateBackendOptions::rocksdb_memory_bytes bounds
// the whole process's RocksDB memory.
//
// Snapshots: full ones iterate a RocksDB snapshot and produce the canonical format (the same as the
// heap backend's); incremental ones take a native RocksDB checkpoint (hard links to the immutable
// SST files) in the synchronous part and add the SST files as shared checkpoint files in the
// asynchronous part, so unchanged files are not stored again.
//
// Threading: reads and writes from the owning task thread; the asynchronous part of a snapshot
// runs on a checkpoint thread at the same time, which RocksDB allows. Held by shared_ptr: a
// snapshot being written keeps the database open after its operator closed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/key_group_range.h"
#include "sluice/state/state_backend_options.h"
#include "sluice/state/state_snapshot.h"

namespace sluice {

enum class StateKind : uint8_t;
struct KeyedBackendSnapshot;

class RocksDbStore : public std::enable_shared_from_this<RocksDbStore> {
 public:
  // Opens a new, empty database in a fresh folder under options.local_directory named after
  // `name` (unique within the process); the folder is removed when the store is destroyed.
  static std::shared_ptr<RocksDbStore> open(const StateBackendOptions& options,
                                            const std::string& name, KeyGroupRange range);
  ~RocksDbStore();
  RocksDbStore(const RocksDbStore&) = delete;
  RocksDbStore& operator=(const RocksDbStore&) = delete;

  // The column family of state `name` (created if new); `ttl_ms` > 0 lets compaction drop entries
  // not touched for that long.
  int column(const std::string& name, StateKind kind, int64_t ttl_ms);
  bool has_column(const std::string& name) const;

  bool get(int column, std::string_view key, std::string& value);
  void put(int column, std::string_view key, std::string_view value);
  void remove(int column, std::string_view key);
  // Appends list elements: `operand` is a list value (time | u32 count | elements).
  void merge(int column, std::string_view key, std::string_view operand);
  // Removes every entry whose key starts with `prefix`.
  void remove_prefix(int column, std::string_view prefix);
  // fn(key, value) for every entry whose key starts with `prefix`, in key order, until fn returns
  // false.
  void scan(int column, std::string_view prefix,
            const std::function<bool(std::string_view key, std::string_view value)>& fn);

  // The synchronous part of a snapshot; the function is the asynchronous part.
  std::function<KeyedBackendSnapshot(SnapshotFiles&)> snapshot(bool incremental);
  // Loads the key groups of this store's range from old snapshots, native or canonical.
  // `shared_directory`: where the checkpoint's shared files are.
  void restore(std::vector<KeyedBackendSnapshot> snapshots,
               const std::filesystem::path& shared_directory);

  // Memory of the process's RocksDB stores together, in bytes: the shared block cache, which holds
  // data, index and filter blocks and is charged for every memtable (write buffer).
  uint64_t memory_usage() const;
  // Compacts every column family now (expired entries are dropped).
  void compact();
  const std::filesystem::path& directory() const;

  // Key layout helpers shared with the typed backend.
  static void append_key_prefix(std::string& out, int key_group, std::string_view key_bytes);
  static constexpr size_t kKeyHeader = 6;  // u16 key group + u32 key length
  static constexpr size_t kTimeBytes = 8;

  class Impl;

 private:
  explicit RocksDbStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
