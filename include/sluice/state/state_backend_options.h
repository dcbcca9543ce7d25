// Which keyed state backend a job's operators use, and how it is set up (Flink's state.backend.*
// options). Flags: --state-backend heap|rocksdb, --state-dir DIR, --incremental-checkpoints,
// --rocksdb-memory SIZE, --rocksdb-state-cache SIZE.
//
// Threading: plain configuration, read-only while a job runs.
#pragma once

#include <cstddef>
#include <string>

namespace sluice {

enum class StateBackendKind {
  // Hash maps in memory (Flink's HashMapStateBackend): fastest; state must fit in memory.
  kHeap,
  // An embedded RocksDB per operator instance, on local disk (Flink's EmbeddedRocksDBStateBackend):
  // state larger than memory, incremental checkpoints.
  kRocksDb,
};

struct StateBackendOptions {
  StateBackendKind kind = StateBackendKind::kHeap;
  // Where RocksDB keeps its working files (Flink's state.backend.rocksdb.localdir); empty: the
  // system temporary directory. Each operator instance gets a folder, removed when it closes.
  std::string local_directory;
  // RocksDB: checkpoints upload only the SST files that are new since the previous one (Flink's
  // state.backend.incremental). Savepoints are always full, in the canonical format.
  bool incremental = false;
  // RocksDB: memory for block cache and write buffers of every instance in the process together
  // (Flink's managed memory for RocksDB).
  size_t rocksdb_memory_bytes = size_t{512} << 20;
  // RocksDB: the part of that memory (at most half) that holds recently used state entries in
  // front of RocksDB, changes included until they are written back in batches (a Sluice addition:
  // Flink's backend reads and writes RocksDB on every access). 0: every access goes to RocksDB.
  size_t rocksdb_state_cache_bytes = size_t{64} << 20;
};

}  // namespace sluice
