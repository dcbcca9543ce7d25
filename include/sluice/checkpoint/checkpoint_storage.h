// Checkpoint storage: where completed checkpoints live, in a directory that survives the process.
//
//   <checkpoint dir>/chk-7/
//       node-3.subtask-0.operator   state files, written first by the tasks, each fsynced
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
// The coordinator's side: a PendingCheckpoint lists what the tasks wrote (checkpoint_location.h is
// their side) and commits it.
//
// Threading: a PendingCheckpoint and the CheckpointStorage methods are used from one thread (the
// coordinator's); the static ones from any.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
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
  bool operator==(const StateFile&) const = default;
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
struct CheckpointLocation;

// A checkpoint being taken, as the coordinator sees it: its folder, and the states and shared files
// the tasks wrote into it (they write through its location(), see checkpoint_location.h). Abandoned
// (folder removed) unless committed.
class PendingCheckpoint {
 public:
  PendingCheckpoint(PendingCheckpoint&&) noexcept;
  PendingCheckpoint& operator=(PendingCheckpoint&&) = delete;
  ~PendingCheckpoint();

  int64_t id() const { return id_; }
  const std::filesystem::path& folder() const { return folder_; }
  // Where the tasks write this checkpoint's files.
  CheckpointLocation location() const;
  // A state a task wrote into this checkpoint's folder, under the logical `name` a restore asks
  // for. Each name is listed once.
  void add_state(const std::string& name, const StateFile& file);
  // A state of the coordinator's own: written (durably) and listed.
  void write_state(const std::string& name, std::string_view bytes);
  // A state written into another checkpoint's folder (a finished task's final state), linked (or
  // copied) into this one and listed.
  void adopt_state(const std::string& name, const StateFile& file,
                   const std::filesystem::path& from_folder);
  // Lists shared file `key` (stored in the shared folder by a task); throws if it is gone.
  void add_shared(const std::string& key, const StateFile& file);
  void set_property(const std::string& key, const std::string& value);
  // Writes _metadata: from now on the checkpoint exists. Then applies the retention policy.
  CompletedCheckpoint commit(Timestamp timestamp);
  void abort();

 private:
  friend class CheckpointStorage;
  PendingCheckpoint(CheckpointStorage& storage, int64_t id, bool savepoint,
                    std::filesystem::path folder);

  CheckpointStorage* storage_;
  int64_t id_;
  bool savepoint_;
  std::filesystem::path folder_;
  std::map<std::string, StateFile> states_;
  std::map<std::string, StateFile> shared_;
  std::map<std::string, std::string> properties_;
  bool done_ = false;
};

class CheckpointStorage {
 public:
  // `retained`: completed checkpoints kept (at least 1).
  explicit CheckpointStorage(std::filesystem::path directory, int retained = 3);

  const std::filesystem::path& directory() const { return directory_; }

  // Starts checkpoint `id` (ids increase): creates its folder. A savepoint goes to savepoint-<id>
  // and is never deleted by the retention policy.
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
};

}  // namespace sluice
