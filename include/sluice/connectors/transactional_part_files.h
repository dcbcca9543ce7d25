// Exactly-once part files for one file-sink subtask: the transaction half of Flink's FileSink and
// its committer, for the two-phase commit driven by checkpoints (see sluice/runtime/sink.h).
//
//   .part-<subtask>-<n>.<ext>.inprogress   being written; hidden from readers
//   .part-<subtask>-<n>.<ext>.pending      closed and fsynced at a checkpoint barrier (or when it
//                                          reached the size limit); still hidden
//   part-<subtask>-<n>.<ext>               committed: renamed once a checkpoint covering it
//                                          completed
//
// prepare_commit() closes the open file and returns the files that became pending since the last
// call: the committables of a checkpoint. commit() renames them; it is idempotent and tolerates
// another subtask committing the same files at the same time. A new attempt first discards every
// hidden file its subtask left (after the restored committables were committed): their records
// are replayed from the sources. So a committed file only ever holds records of completed
// checkpoints, and the files of a crashed attempt never become visible.
//
// Threading: one instance per sink subtask, used by that subtask's thread; commit() from any.
#pragma once

#include <cstdint>
#include <cstdio>
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

  // Before the first append: removes the hidden files this subtask left and numbers new parts
  // after every existing one.
  void discard_uncommitted();
  void append(std::string_view bytes);
  // The open file becomes pending; returns every file that became pending since the last call.
  std::vector<PendingPartFile> prepare_commit();
  // Renames pending files to their final names; a file already committed is skipped.
  static void commit(const std::vector<PendingPartFile>& files);

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
  std::vector<PendingPartFile> rolled_;  // since the last prepare_commit
};

}  // namespace sluice
