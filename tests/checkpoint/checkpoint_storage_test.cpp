// The checkpoint directory: durable completed checkpoints, retention, and falling back past
// corrupt or incomplete ones with a reason.
#include "sluice/checkpoint/checkpoint_storage.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sluice
