// Exactly-once part files: records become visible only when a checkpoint covering them completes,
// and a crashed attempt leaves nothing visible that a restart would write again.
#include "sluice/connectors/transactional_part_files.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sluice/core/error.h"

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

TEST_F(TransactionalPartFilesTest, RecordsAppearOnlyWhenCommitted) {
  TransactionalPartFiles files(dir_, 0, "txt");
  files.discard_uncommitted();
  write(files, 0, 10);
  const auto first = files.prepare_commit();
  write(files, 10, 20);
  EXPECT_TRUE(visible_lines().empty()) << "prepared, not committed";
  TransactionalPartFiles::commit(first);
  EXPECT_EQ(visible_lines(), range(0, 10));
  TransactionalPartFiles::commit(files.prepare_commit());
  EXPECT_EQ(visible_lines(), range(0, 20));
  EXPECT_EQ(hidden_files(), 0u);
  EXPECT_TRUE(files.prepare_commit().empty()) << "nothing written since";
}

TEST_F(TransactionalPartFilesTest, FilesRollBySize) {
  TransactionalPartFiles files(dir_, 3, "txt", 100);
  files.discard_uncommitted();
  write(files, 0, 50);  // ~500 bytes: five or more files
  const auto pending = files.prepare_commit();
  EXPECT_GE(pending.size(), 5u);
  TransactionalPartFiles::commit(pending);
  EXPECT_EQ(visible_lines(), range(0, 50));
}

TEST_F(TransactionalPartFilesTest, ACrashedAttemptLeavesOnlyWhatItsLastCheckpointCommits) {
  std::vector<PendingPartFile> checkpoint2;  // as checkpoint 2 stores the sink's committables
  {
    TransactionalPartFiles files(dir_, 0, "txt");
    files.discard_uncommitted();
    write(files, 0, 10);
    TransactionalPartFiles::commit(files.prepare_commit());  // checkpoint 1 completed
    write(files, 10, 20);
    checkpoint2 = files.prepare_commit();
    write(files, 20, 25);          // after the barrier of checkpoint 2
    (void)files.prepare_commit();  // checkpoint 3 starts; the process dies before it completes
    write(files, 25, 30);
    // Checkpoint 2 completed, but the process died before the sink heard of it: no commit.
  }
  EXPECT_EQ(visible_lines(), range(0, 10));
  // The restart from checkpoint 2 commits its files, drops the rest, and replays from 20.
  TransactionalPartFiles::commit(checkpoint2);
  TransactionalPartFiles files(dir_, 0, "txt");
  files.discard_uncommitted();
  EXPECT_EQ(visible_lines(), range(0, 20));
  EXPECT_EQ(hidden_files(), 0u) << "files of the crashed attempt are gone";
  write(files, 20, 30);
  TransactionalPartFiles::commit(files.prepare_commit());
  EXPECT_EQ(visible_lines(), range(0, 30)) << "no duplicate, no loss";
}

TEST_F(TransactionalPartFilesTest, CommitIsIdempotentAndOtherSubtasksAreLeftAlone) {
  TransactionalPartFiles other(dir_, 1, "txt");
  other.discard_uncommitted();
  write(other, 100, 101);  // subtask 1's file in progress
  TransactionalPartFiles files(dir_, 0, "txt");
  files.discard_uncommitted();
  write(files, 0, 3);
  const auto pending = files.prepare_commit();
  TransactionalPartFiles::commit(pending);
  TransactionalPartFiles::commit(pending);  // again: nothing happens
  TransactionalPartFiles again(dir_, 0, "txt");
  again.discard_uncommitted();  // a restart of subtask 0 does not touch subtask 1's files
  EXPECT_EQ(visible_lines(), range(0, 3));
  EXPECT_EQ(hidden_files(), 1u);
  write(again, 3, 4);
  TransactionalPartFiles::commit(again.prepare_commit());
  EXPECT_EQ(visible_lines(), range(0, 4)) << "a new part after the committed one, not over it";
}

TEST_F(TransactionalPartFilesTest, CommittingAFileThatIsNeitherPendingNorCommittedIsAnError) {
  TransactionalPartFiles files(dir_, 0, "txt");
  files.discard_uncommitted();
  EXPECT_THROW(
      TransactionalPartFiles::commit({{dir_ + "/.part-0-7.txt.pending", dir_ + "/part-0-7.txt"}}),
      Error);
}

}  // namespace
}  // namespace sluice
