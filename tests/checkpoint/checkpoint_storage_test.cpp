// The checkpoint directory: durable completed checkpoints, retention, and falling back past
// corrupt or incomplete ones with a reason.
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/checkpoint/checkpoint_location.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "sluice/core/error.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

class CheckpointStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice-checkpoints-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Checkpoint `id` with two states whose contents name the checkpoint.
  CompletedCheckpoint write(CheckpointStorage& storage, int64_t id) {
    PendingCheckpoint pending = storage.begin(id);
    pending.write_state("op-1/subtask-0/keyed", "keyed state of " + std::to_string(id));
    pending.write_state("source/splits", std::string(1000, static_cast<char>('a' + id)));
    pending.set_property("parallelism", "2");
    return pending.commit(1'000 * id);
  }
  fs::path folder(int64_t id) const { return dir_ / ("chk-" + std::to_string(id)); }

  fs::path dir_;
};

TEST_F(CheckpointStorageTest, CommittedCheckpointsReadBackAndOnlyTheNewestAreKept) {
  CheckpointStorage storage(dir_, 2);
  for (int64_t id = 1; id <= 4; ++id) write(storage, id);
  EXPECT_FALSE(fs::exists(folder(1)));
  EXPECT_FALSE(fs::exists(folder(2)));
  EXPECT_TRUE(fs::exists(folder(3) / "_metadata"));
  EXPECT_TRUE(fs::exists(folder(4) / "_metadata"));
  auto latest = storage.latest();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->id, 4);
  EXPECT_EQ(latest->timestamp, 4'000);
  EXPECT_EQ(latest->properties.at("parallelism"), "2");
  EXPECT_EQ(CheckpointStorage::read_state(*latest, "op-1/subtask-0/keyed"), "keyed state of 4");
  EXPECT_EQ(CheckpointStorage::read_state(*latest, "source/splits"), std::string(1000, 'e'));
  EXPECT_THROW(CheckpointStorage::read_state(*latest, "no such state"), Error);
}

TEST_F(CheckpointStorageTest, AStateWrittenInPiecesReadsBackWhole) {
  // Small pieces are gathered, large ones written as they come; the checksum covers them all.
  CheckpointStorage storage(dir_, 2);
  PendingCheckpoint pending = storage.begin(1);
  std::string expected;
  const CheckpointLocation location = pending.location();
  {
    auto writer = location.begin_state("op-1/subtask-0/keyed");
    for (size_t size : {3u, 0u, 600'000u, 17u, 200'000u, 200'000u, 1u}) {
      std::string piece(size, static_cast<char>('a' + expected.size() % 26));
      writer->write(piece);
      expected += piece;
    }
    EXPECT_EQ(writer->size(), expected.size());
    pending.add_state("op-1/subtask-0/keyed", writer->close());
  }
  auto abandoned = location.begin_state("never-closed");
  abandoned->write("half");
  abandoned.reset();  // e.g. the snapshot threw: never acknowledged, so never listed
  pending.write_state("source/splits", "splits");
  EXPECT_THROW(pending.add_state("source/splits", StateFile{"other", 5, 6}), Error)
      << "a state is listed once";
  EXPECT_THROW(location.begin_state("../escape"), Error) << "names are the layout's";
  const CompletedCheckpoint done = pending.commit(1'000);
  EXPECT_EQ(CheckpointStorage::read_state(done, "op-1/subtask-0/keyed"), expected);
  EXPECT_EQ(CheckpointStorage::read_state(done, "source/splits"), "splits");
}

TEST_F(CheckpointStorageTest, ACorruptStateFileFallsBackToThePreviousCheckpoint) {
  CheckpointStorage storage(dir_, 3);
  write(storage, 1);
  auto second = write(storage, 2);
  {  // flip one byte, same size
    const fs::path file = second.folder / second.states.at("source/splits").file;
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(500);
    f.put('X');
  }
  std::vector<std::string> problems;
  auto latest = storage.latest(&problems);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->id, 1);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("checksum mismatch"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("chk-2"), std::string::npos) << problems[0];
}

TEST_F(CheckpointStorageTest, TruncatedOrMissingMetadataIsNotACheckpoint) {
  CheckpointStorage storage(dir_, 5);
  write(storage, 1);
  write(storage, 2);
  write(storage, 3);
  fs::resize_file(folder(3) / "_metadata", 20);  // a torn write
  fs::remove(folder(2) / "_metadata");           // never completed
  std::vector<std::string> problems;
  auto latest = storage.latest(&problems);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->id, 1);
  // The torn one is reported; the one that never completed is not a checkpoint at all.
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("does not parse"), std::string::npos) << problems[0];
  EXPECT_THROW(CheckpointStorage::load(folder(2)), Error) << "loading it by name says why";
}

TEST_F(CheckpointStorageTest, AMissingOrTruncatedStateFileIsDetected) {
  CheckpointStorage storage(dir_, 5);
  auto first = write(storage, 1);
  auto second = write(storage, 2);
  fs::remove(second.folder / second.states.at("op-1/subtask-0/keyed").file);
  fs::resize_file(first.folder / first.states.at("source/splits").file, 10);
  std::vector<std::string> problems;
  EXPECT_FALSE(storage.latest(&problems).has_value()) << "no checkpoint is usable";
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("is missing"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("has 10 bytes"), std::string::npos) << problems[1];
}

TEST_F(CheckpointStorageTest, AnAbandonedCheckpointLeavesNothingAndIsNeverRestored) {
  CheckpointStorage storage(dir_, 3);
  write(storage, 1);
  {
    PendingCheckpoint pending = storage.begin(2);
    pending.write_state("s", "half written");
  }  // not committed: removed
  EXPECT_FALSE(fs::exists(folder(2)));
  EXPECT_EQ(storage.latest()->id, 1);
}

TEST_F(CheckpointStorageTest, SavepointsAreNotRetiredAndLoadByPath) {
  CheckpointStorage storage(dir_, 1);
  PendingCheckpoint savepoint = storage.begin(7, true);
  savepoint.write_state("s", "saved");
  const auto saved = savepoint.commit(42);
  for (int64_t id = 8; id <= 10; ++id) write(storage, id);
  const auto loaded = CheckpointStorage::load(saved.folder);
  EXPECT_TRUE(loaded.savepoint);
  EXPECT_EQ(CheckpointStorage::read_state(loaded, "s"), "saved");
  EXPECT_EQ(storage.latest()->id, 10) << "savepoints are not checkpoints of the directory";
}

TEST_F(CheckpointStorageTest, AnUnwritableDirectoryFailsNamingIt) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "a-file") << "x";
  CheckpointStorage storage(dir_ / "a-file" / "checkpoints", 1);
  try {
    storage.begin(1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a-file"), std::string::npos) << e.what();
  }
}

// Incremental checkpoints: a file added under a key is stored once in shared/, and later
// checkpoints that add or reference the key list it without copying it again.
TEST_F(CheckpointStorageTest, SharedFilesAreStoredOnceAndDeletedWithTheirLastCheckpoint) {
  fs::create_directories(dir_ / "local");
  auto make_local = [&](const std::string& name, const std::string& contents) {
    std::ofstream(dir_ / "local" / name) << contents;
    return dir_ / "local" / name;
  };
  const fs::path sst1 = make_local("000001.sst", std::string(5000, 'x'));
  const fs::path sst2 = make_local("000002.sst", std::string(7000, 'y'));
  CheckpointStorage storage(dir_, 2);
  SharedFileStore shared;
  // As a task adds a file: stored (or found) in shared/, then listed by the coordinator.
  auto add = [&](PendingCheckpoint& pending, const std::string& key, const fs::path& path) {
    const SharedFileStore::Stored stored = shared.add(pending.location(), key, path);
    pending.add_shared(key, stored.file);
    return stored;
  };
  {
    PendingCheckpoint pending = storage.begin(1);
    EXPECT_TRUE(add(pending, "a-000001.sst", sst1).added);
    pending.write_state("op", "1");
    pending.commit(1000);
  }
  const auto inode = [](const fs::path& p) {
    struct stat info {};
    ::stat(p.c_str(), &info);
    return info.st_ino;
  };
  const fs::path shared1 = dir_ / "shared" / "a-000001.sst";
  ASSERT_TRUE(fs::exists(shared1));
  const auto stored_inode = inode(shared1);
  {
    PendingCheckpoint pending = storage.begin(2);
    EXPECT_FALSE(add(pending, "a-000001.sst", sst1).added) << "referenced, not stored again";
    EXPECT_TRUE(add(pending, "a-000002.sst", sst2).added);
    pending.write_state("op", "2");
    pending.commit(2000);
  }
  EXPECT_EQ(inode(shared1), stored_inode);
  {
    PendingCheckpoint pending = storage.begin(3);
    add(pending, "a-000002.sst", sst2);
    pending.write_state("op", "3");
    pending.commit(3000);
  }
  // Checkpoints 2 and 3 are retained, and 2 lists 000001: it stays.
  EXPECT_TRUE(fs::exists(shared1));
  {
    PendingCheckpoint pending = storage.begin(4);
    add(pending, "a-000002.sst", sst2);
    pending.write_state("op", "4");
    pending.commit(4000);
  }
  EXPECT_FALSE(fs::exists(shared1)) << "no retained checkpoint lists it";
  EXPECT_TRUE(fs::exists(dir_ / "shared" / "a-000002.sst"));
  EXPECT_THROW(storage.begin(5).add_shared("a-000001.sst", StateFile{"shared/a-000001.sst", 5000}),
               Error)
      << "a shared file that is gone cannot be listed";

  auto latest = storage.latest();
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->id, 4);
  ASSERT_EQ(latest->shared.size(), 1u);
  EXPECT_EQ(latest->shared.begin()->second.size, 7000u);
  EXPECT_EQ(latest->shared_directory(), dir_ / "shared");
}

TEST_F(CheckpointStorageTest, ACorruptSharedFileFallsBackAndNamesIt) {
  fs::create_directories(dir_ / "local");
  std::ofstream(dir_ / "local" / "x.sst") << std::string(3000, 'x');
  std::ofstream(dir_ / "local" / "y.sst") << std::string(3000, 'y');
  CheckpointStorage storage(dir_, 3);
  write(storage, 1);
  {
    PendingCheckpoint pending = storage.begin(2);
    SharedFileStore shared;
    pending.add_shared("k-x.sst",
                       shared.add(pending.location(), "k-x.sst", dir_ / "local" / "x.sst").file);
    pending.write_state("op", "2");
    pending.commit(2000);
  }
  {  // same size, other contents: the checksum tells
    std::fstream f(dir_ / "shared" / "k-x.sst", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('!');
  }
  std::vector<std::string> problems;
  auto latest = storage.latest(&problems);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->id, 1);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("shared/k-x.sst"), std::string::npos) << problems[0];
}

}  // namespace
}  // namespace sluice
