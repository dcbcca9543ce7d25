// The task side of checkpoint storage: where one checkpoint's files go (CheckpointLocation, a
// message-sized value the coordinator sends when the checkpoint starts), the writer of one state
// file, and the store of files shared between checkpoints. A task writes the asynchronous part of
// its snapshot through these and acknowledges with the StateFiles they return; the coordinator
// (CheckpointStorage / PendingCheckpoint) only lists them in the checkpoint's _metadata.
//
//   StateFileWriter out = location.begin_state("node-2/subtask-0/operator");
//   out.write(bytes);  ...
//   StateFile written = out.close();          // name, size and checksum: the acknowledgement
//
// Files are named after their state (node-2.subtask-0.operator), so that writers in different
// processes never collide. Shared files (RocksDB's SST files) are stored once under a key unique
// to their contents, published by rename, and only referenced by later checkpoints.
//
// Threading: a StateFileWriter belongs to one thread; SharedFileStore is thread-safe; a
// CheckpointLocation is a plain value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "sluice/checkpoint/checkpoint_storage.h"

namespace sluice {

class StreamingHash;

// One state file being written in pieces (a large keyed state streamed key group by key group).
// Small pieces are buffered; the checksum is computed as the bytes go. Abandoned (the file left
// for the checkpoint's folder to be removed with) unless closed.
class StateFileWriter {
 public:
  StateFileWriter(const std::filesystem::path& folder, std::string file);
  ~StateFileWriter();
  StateFileWriter(const StateFileWriter&) = delete;
  StateFileWriter& operator=(const StateFileWriter&) = delete;

  void write(std::string_view bytes);
  // Writes what is buffered and fsyncs; the file's name (inside the folder), size and checksum.
  StateFile close();
  uint64_t size() const { return size_; }

 private:
  void flush();

  std::string file_;
  std::filesystem::path path_;
  int fd_ = -1;
  std::unique_ptr<StreamingHash> hash_;  // kept out of this header
  uint64_t size_ = 0;
  std::string buffer_;
};

struct CheckpointLocation {
  int64_t checkpoint_id = 0;
  std::string folder;         // the checkpoint's own files
  std::string shared_folder;  // files shared between checkpoints; empty for a savepoint

  // The file of state `name` in the folder: '/' becomes '.'; names are the checkpoint layout's.
  static std::string file_name(std::string_view name);
  std::unique_ptr<StateFileWriter> begin_state(const std::string& name) const;
  StateFile write_state(const std::string& name, std::string_view bytes) const;
};

class SharedFileStore {
 public:
  struct Stored {
    StateFile file;      // its name is "shared/<key>"
    bool added = false;  // stored by this call (not by an earlier checkpoint)
  };
  // Makes the file at `path` shared file `key` of the location's checkpoint: hard-linked (or
  // copied, on another file system) into the shared folder unless already there. `key` must
  // identify the contents: the same key never names other contents.
  Stored add(const CheckpointLocation& location, const std::string& key,
             const std::filesystem::path& path);

 private:
  std::mutex mutex_;
  std::map<std::string, StateFile> known_;  // stored or found in a shared folder, verified
};

}  // namespace sluice
