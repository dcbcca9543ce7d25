// The state tests run against every keyed state backend: heap, RocksDB with full snapshots, and
// RocksDB with incremental (native) snapshots.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "sluice/state/keyed_state_backend.h"

namespace sluice::testing {

enum class Backend { kHeap, kRocksDb, kRocksDbIncremental };

inline std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  switch (info.param) {
    case Backend::kHeap:
      return "Heap";
    case Backend::kRocksDb:
      return "RocksDb";
    case Backend::kRocksDbIncremental:
      return "RocksDbIncremental";
  }
  return "Unknown";
}

inline StateBackendOptions backend_options(Backend backend) {
  StateBackendOptions options;
  options.kind = backend == Backend::kHeap ? StateBackendKind::kHeap : StateBackendKind::kRocksDb;
  options.incremental = backend == Backend::kRocksDbIncremental;
  options.rocksdb_memory_bytes = 64 << 20;
  options.local_directory =
      (std::filesystem::temp_directory_path() / ("sluice-state-test-" + std::to_string(::getpid())))
          .string();
  return options;
}

// A checkpoint's shared-file store for backend tests: files go to one folder, stored once.
// Asynchronous parts of several snapshots may add the same file at once (incremental snapshots
// share files), hence the lock.
class FolderFiles final : public SnapshotFiles {
 public:
  explicit FolderFiles(std::filesystem::path folder) : folder_(std::move(folder)) {
    std::filesystem::create_directories(folder_);
  }
  void add_shared_file(const std::string& key, const std::filesystem::path& path) override {
    std::lock_guard lock(mutex_);
    ++added_;
    if (std::filesystem::exists(folder_ / key)) return;
    std::filesystem::copy_file(path, folder_ / key);
    ++stored_;
  }
  const std::filesystem::path& folder() const { return folder_; }
  int added() const { return added_; }
  int stored() const { return stored_; }

 private:
  std::mutex mutex_;
  std::filesystem::path folder_;
  int added_ = 0;
  int stored_ = 0;
};

class BackendTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    options_ = backend_options(GetParam());
    shared_ = std::make_unique<FolderFiles>(std::filesystem::path(options_.local_directory) /
                                            ("shared-" + std::to_string(counter_++)));
  }
  void TearDown() override { std::filesystem::remove_all(shared_->folder()); }

  template <class K>
  std::unique_ptr<KeyedStateBackend<K>> make(KeyGroupRange range, int max_parallelism = 128) {
    KeyedBackendSetup setup{&options_, "test-" + std::to_string(counter_++), shared_->folder()};
    return make_keyed_state_backend<K>(range, max_parallelism, setup);
  }
  // A checkpoint's snapshot: native for incremental RocksDB, canonical otherwise.
  template <class K>
  KeyedBackendSnapshot checkpoint(KeyedStateBackend<K>& backend) {
    return backend.snapshot_async(false)(*shared_);
  }

  StateBackendOptions options_;
  std::unique_ptr<FolderFiles> shared_;
  static inline int counter_ = 0;
};

}  // namespace sluice::testing
