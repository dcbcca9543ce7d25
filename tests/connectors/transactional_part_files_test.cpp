// Exactly-once part files: records become visible only when a checkpoint covering them completes,
// and a crashed attempt leaves nothing visible that a restart would write again.
#include "sluice/connectors/transactional_part_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sluice/core/serialization.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

class TransactionalPartFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("sluice-parts-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The concatenated lines of the visible (committed) files, sorted by file name.
  std::vector<std::string> visible_lines() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (name[0] != '.') names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    std::vector<std::string> lines;
    for (const auto& name : names) {
      std::ifstream in(fs::path(dir_) / name);
      for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    return lines;
  }
  size_t hidden_files() const {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) n += e.path().filename().string()[0] == '.';
    return n;
  }
  static std::vector<std::string> range(int from, int to) {
    std::vector<std::string> lines;
    for (int i = from; i < to; ++i) lines.push_back("record " + std::to_string(i));
    return lines;
  }
  static void write(TransactionalPartFiles& files, int from, int to) {
    for (int i = from; i < to; ++i) files.append("record " + std::to_string(i) + "\n");
  }

  std::string dir_;
};

TEST_F(TransactionalPartFilesTest, RecordsAppearOnlyWhenTheirCheckpointCompletes) {
  TransactionalPartFiles files(dir_, 0, "txt");
  files.recover({});
  write(files, 0, 10);
  files.prepare_commit(1);
  write(files, 10, 20);
  EXPECT_TRUE(visible_lines().empty()) << "prepared, not committed";
  files.notify_checkpoint_complete(1);
  EXPECT_EQ(visible_lines(), range(0, 10));
  files.prepare_commit(2);
  files.notify_checkpoint_complete(2);
  EXPECT_EQ(visible_lines(), range(0, 20));
  EXPECT_EQ(hidden_files(), 0u);
}

TEST_F(TransactionalPartFilesTest, ACompletedCheckpointCoversEarlierOnesThatDidNot) {
  TransactionalPartFiles files(dir_, 0, "txt");
  files.recover({});
  write(files, 0, 5);
  files.prepare_commit(1);  // checkpoint 1 will never complete
  write(files, 5, 9);
  files.prepare_commit(2);
  EXPECT_EQ(files.snapshot().size(), 2u) << "checkpoint 2's state carries checkpoint 1's file";
  files.notify_checkpoint_complete(2);
  EXPECT_EQ(visible_lines(), range(0, 9));
}

TEST_F(TransactionalPartFilesTest, FilesRollBySize) {
  TransactionalPartFiles files(dir_, 3, "txt", 100);
  files.recover({});
  write(files, 0, 50);  // ~500 bytes: five or more files
  files.prepare_commit(1);
  files.notify_checkpoint_complete(1);
  EXPECT_EQ(visible_lines(), range(0, 50));
  size_t visible = 0;
  for (const auto& e : fs::directory_iterator(dir_))
    visible += e.path().filename().string()[0] != '.';
  EXPECT_GE(visible, 5u);
}

TEST_F(TransactionalPartFilesTest, ACrashedAttemptLeavesOnlyWhatItsLastCheckpointCommits) {
  std::string state;  // checkpoint 2's sink state, as the checkpoint would store it
  {
    TransactionalPartFiles files(dir_, 0, "txt");
    files.recover({});
    write(files, 0, 10);
    files.prepare_commit(1);
    files.notify_checkpoint_complete(1);
    write(files, 10, 20);
    files.prepare_commit(2);
    state = to_bytes(files.snapshot());
    write(files, 20, 25);     // after the barrier of checkpoint 2
    files.prepare_commit(3);  // checkpoint 3 starts, and the process dies before it completes
    write(files, 25, 30);
    // Checkpoint 2 completed, but the process died before the sink heard of it: no commit.
  }
  EXPECT_EQ(visible_lines(), range(0, 10));
  // The restart from checkpoint 2 commits its files, drops the rest, and replays from 20.
  TransactionalPartFiles files(dir_, 0, "txt");
  files.recover(from_bytes<std::vector<PendingPartFile>>(state));
  EXPECT_EQ(visible_lines(), range(0, 20));
  EXPECT_EQ(hidden_files(), 0u) << "files of the crashed attempt are gone";
  write(files, 20, 30);
  files.prepare_commit(3);
  files.notify_checkpoint_complete(3);
  EXPECT_EQ(visible_lines(), range(0, 30)) << "no duplicate, no loss";
}

TEST_F(TransactionalPartFilesTest, CommitIsIdempotentAndOtherSubtasksAreLeftAlone) {
  TransactionalPartFiles other(dir_, 1, "txt");
  other.recover({});
  write(other, 100, 101);  // subtask 1's file in progress
  TransactionalPartFiles files(dir_, 0, "txt");
  files.recover({});
  write(files, 0, 3);
  files.prepare_commit(1);
  const auto pending = files.snapshot();
  files.notify_checkpoint_complete(1);
  TransactionalPartFiles::commit(pending);  // again: nothing happens
  TransactionalPartFiles again(dir_, 0, "txt");
  again.recover(pending);  // a restart of subtask 0 does not touch subtask 1's files
  EXPECT_EQ(visible_lines(), range(0, 3));
  EXPECT_EQ(hidden_files(), 1u);
}

}  // namespace
}  // namespace sluice
