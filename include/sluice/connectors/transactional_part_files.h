// Exactly-once part files for one file-sink subtask: the transaction half of Flink's FileSink and
// its committer, for the two-phase commit driven by checkpoints.
//
//   .part-<subtask>-<n>.<ext>.inprogress   being written; hidden from readers
//   .part-<subtask>-<n>.<ext>.pending      closed and fsynced at a checkpoint barrier (or when it
//                                          reached the size limit); still hidden
//   part-<subtask>-<n>.<ext>               committed: renamed once a checkpoint covering it
//                                          completed
//
// prepare_commit(checkpoint) closes the open file; its pending files wait, with those of earlier
// checkpoints that did not complete, until notify_checkpoint_complete covers them. snapshot() is
// the writer's checkpoint state: every pending file not yet committed. After a failure,
// recover(state of the restored checkpoint) commits those again (commits are idempotent renames)
// and deletes every other hidden file of the subtask, whose records are replayed from the
// sources. So a committed file only ever holds records of completed checkpoints, and the files of
// a crashed attempt never become visible.
//
// Threading: one instance per sink subtask, used by that subtask's thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct PendingPartFile {
  std::string pending_path;
  std::string final_path;
  bool operator==(const PendingPartFile&) const = default;
};

class TransactionalPartFiles {
 public:
  // `max_part_bytes`: a part file rolls (becomes pending) once it reaches this size.
  TransactionalPartFiles(std::string directory, int subtask, std::string extension,
                         uint64_t max_part_bytes = 128ull << 20);
  ~TransactionalPartFiles();
  TransactionalPartFiles(const TransactionalPartFiles&) = delete;
  TransactionalPartFiles& operator=(const TransactionalPartFiles&) = delete;

  // Before the first append of an attempt. `restored`: the snapshot() of the checkpoint the job
  // restarts from (empty for a fresh start).
  void recover(const std::vector<PendingPartFile>& restored);
  void append(std::string_view bytes);
  // On the barrier of `checkpoint_id`: the open file becomes pending, owned by that checkpoint.
  void prepare_commit(int64_t checkpoint_id);
  // Every pending file not committed yet: the subtask's state for the checkpoint.
  std::vector<PendingPartFile> snapshot() const;
  // Checkpoint `checkpoint_id` completed: its pending files and older ones are committed.
  void notify_checkpoint_complete(int64_t checkpoint_id);
  // Renames pending files to their final names; a file already committed is skipped.
  static void commit(const std::vector<PendingPartFile>& files);

  // The end of a bounded input without checkpoints: everything is committed now.
  void commit_all();

 private:
  void roll();  // the open file, if any, becomes pending

  std::string directory_;
  int subtask_;
  std::string extension_;
  uint64_t max_part_bytes_;
  int64_t next_part_ = 0;
  std::FILE* file_ = nullptr;
  std::string in_progress_path_;
  std::string final_path_;
  uint64_t written_ = 0;
  std::vector<PendingPartFile> rolled_;                          // since the last barrier
  std::map<int64_t, std::vector<PendingPartFile>> uncommitted_;  // by checkpoint
};

}  // namespace sluice
