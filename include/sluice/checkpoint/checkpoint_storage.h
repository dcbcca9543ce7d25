// Checkpoint storage: where completed checkpoints live, in a directory that survives the process.
//
//   <checkpoint dir>/chk-7/
//       op-3-subtask-0.keyed        state files, written first (any thread), each fsynced
//       ...
//       _metadata                   written last: write _metadata.inprogress, fsync, rename,
//                                   fsync the folder. Lists every state file with its size and
//                                   XXH3-64 checksum, and carries a checksum of itself.
//
//   <checkpoint dir>/shared/<key>   files shared between checkpoints (RocksDB SST files of
//                                   incremental checkpoints), stored once; a checkpoint's
//                                   _metadata lists those it uses, with size and checksum
//
// A folder is a completed checkpoint only if its _metadata parses, its own checksum matches and
// every file it lists (its own and the shared ones) has the listed size and checksum. Restoring
// takes the newest completed checkpoint and falls back to older ones when a newer one is corrupt or
// truncated, reporting why. After a checkpoint completes, all but the newest `retained` completed
// ones are deleted (never the newest), together with folders of checkpoints that never completed,
// and the shared files no retained checkpoint lists.
//
// Threading: a PendingCheckpoint's write_state may be called from several threads at once (each
// file is independent); commit / abort and the CheckpointStorage methods from one thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/time.h"

namespace sluice {

struct StateFile {
  std::string file;  // name inside the checkpoint folder
  uint64_t size = 0;
  uint64_t checksum = 0;  // XXH3-64 of the contents
};

struct CompletedCheckpoint {
  int64_t id = 0;
  Timestamp timestamp = 0;
  bool savepoint = false;
  std::filesystem::path folder;
  std::map<std::string, StateFile> states;        // logical state name -> file
  std::map<std::string, StateFile> shared;        // shared file key -> file (in shared/)
  std::map<std::string, std::string> properties;  // small values (e.g. the job's parallelism)

  // Where the shared files of this checkpoint are.
  std::filesystem::path shared_directory() const { return folder.parent_path() / "shared"; }
};

class CheckpointStorage;

class PendingCheckpoint;
class StreamingHash;

// One state file of a pending checkpoint written in pieces (a large keyed state streamed key group
// by key group instead of built in one string first). Small pieces are buffered; the checksum is
// computed as the bytes go. Nothing is recorded unless close() succeeds. One thread.
class StateFileWriter {
 public:
  ~StateFileWriter();
  StateFileWriter(const StateFileWriter&) = delete;
  StateFileWriter& operator=(const StateFileWriter&) = delete;
  void write(std::string_view bytes);
  // Writes what is buffered, fsyncs, and lists the state in the checkpoint.
  void close();
  uint64_t size() const { return size_; }

 private:
  friend class PendingCheckpoint;
  StateFileWriter(PendingCheckpoint& checkpoint, std::string name, std::string file,
                  std::filesystem::path path);
  void flush();

  PendingCheckpoint* checkpoint_;
  std::string name_;
  std::string file_;
  std::filesystem::path path_;
  int fd_ = -1;
  std::unique_ptr<StreamingHash> hash_;  // kept out of this header
  uint64_t size_ = 0;
  std::string buffer_;
};

// A checkpoint being written. Abandoned (folder removed) unless committed.
class PendingCheckpoint {
 public:
  PendingCheckpoint(PendingCheckpoint&&) noexcept;
  PendingCheckpoint& operator=(PendingCheckpoint&&) = delete;
  ~PendingCheckpoint();

  int64_t id() const { return id_; }
  // Writes one state durably; `name` is the logical name the restore asks for.
  void write_state(const std::string& name, std::string_view bytes);
  // The same, in pieces (see StateFileWriter).
  std::unique_ptr<StateFileWriter> begin_state(const std::string& name);
  // Makes the file at `path` part of the checkpoint as shared file `key` (see SnapshotFiles):
  // copied (or hard-linked: the file must never change) into shared/ unless already there.
  void add_shared_file(const std::string& key, const std::filesystem::path& path);
  // Lists shared file `key`, which an earlier add_shared_file of this storage stored, again.
  void reference_shared_file(const std::string& key);
  // Bytes of the shared files this checkpoint lists, and of those it stored itself.
  uint64_t shared_bytes() const;
  uint64_t new_shared_bytes() const;
  void set_property(const std::string& key, const std::string& value);
  // Writes _metadata: from now on the checkpoint exists. Then applies the retention policy.
  CompletedCheckpoint commit(Timestamp timestamp);
  void abort();

 private:
  friend class CheckpointStorage;
  friend class StateFileWriter;
  PendingCheckpoint(CheckpointStorage& storage, int64_t id, bool savepoint,
                    std::filesystem::path folder);

  CheckpointStorage* storage_;
  int64_t id_;
  bool savepoint_;
  std::filesystem::path folder_;
  mutable std::mutex mutex_;  // guards states_, shared_ and properties_
  std::map<std::string, StateFile> states_;
  std::map<std::string, StateFile> shared_;
  uint64_t new_shared_bytes_ = 0;
  std::map<std::string, std::string> properties_;
  bool done_ = false;
};

class CheckpointStorage {
 public:
  // `retained`: completed checkpoints kept (at least 1).
  explicit CheckpointStorage(std::filesystem::path directory, int retained = 3);
  CheckpointStorage(CheckpointStorage&& other) noexcept;

  const std::filesystem::path& directory() const { return directory_; }

  // Starts checkpoint `id` (ids increase); a savepoint goes to savepoint-<id> and is never
  // deleted by the retention policy.
  PendingCheckpoint begin(int64_t id, bool savepoint = false);

  // The highest id of any checkpoint folder, completed or not (0 if none): a job that resumes in
  // this directory numbers its checkpoints after it, never over an existing folder.
  int64_t highest_id() const;

  // The newest checkpoint that verifies. Every newer one that does not is skipped and described
  // in `problems` (one line each); folders without _metadata (checkpoints that never completed)
  // are skipped silently. Empty when none verifies.
  std::optional<CompletedCheckpoint> latest(std::vector<std::string>* problems = nullptr) const;
  // One checkpoint folder (or a savepoint), verified; throws an Error saying what is wrong.
  static CompletedCheckpoint load(const std::filesystem::path& folder);
  // A state's bytes, verified against its checksum; throws an Error naming the file.
  static std::string read_state(const CompletedCheckpoint& checkpoint, const std::string& name);
  // Reads every file of the checkpoint against its checksum; throws an Error naming the first
  // that does not match.
  static void verify(const CompletedCheckpoint& checkpoint);

 private:
  friend class PendingCheckpoint;
  void apply_retention(int64_t newest_completed);

  std::filesystem::path directory_;
  int retained_;
  std::mutex shared_mutex_;
  std::map<std::string, StateFile> known_shared_;  // stored in shared/ and verified
};

}  // namespace sluice
