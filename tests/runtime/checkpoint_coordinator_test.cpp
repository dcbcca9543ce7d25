// The checkpoint coordinator alone, driven through its messages (task_gateway.h) by stand-in
// tasks and a stand-in task executor: the test decides when each acknowledgement arrives, which a
// running job cannot.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "runtime/checkpoint_coordinator.h"
#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/checkpoint/checkpoint_location.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "test_util.h"

namespace sluice::runtime {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What the coordinator sent, for the test thread to wait on.
class Messages {
 public:
  void add(std::function<void()> record) {
    {
      std::lock_guard lock(mutex_);
      record();
    }
    cv_.notify_all();
  }
  // Waits (at most 10 s) until `ready` holds under the lock.
  bool wait_until(const std::function<bool()>& ready) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, 10s, ready);
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
};

struct StandInTask final : TaskGateway {
  StandInTask(TaskId id, Messages& messages, std::set<int64_t>& triggered)
      : id(id), messages(messages), triggered(triggered) {}
  TaskId task_id() const override { return id; }
  void trigger_checkpoint(int64_t checkpoint, Timestamp, bool) override {
    messages.add([&] { triggered.insert(checkpoint); });
  }
  void notify_checkpoint_complete(int64_t) override {}
  TaskId id;
  Messages& messages;
  std::set<int64_t>& triggered;
};

struct StandInExecutor final : TaskExecutorGateway {
  explicit StandInExecutor(Messages& messages) : messages(messages) {}
  void checkpoint_started(const CheckpointLocation& location) override {
    messages.add([&] { locations[location.checkpoint_id] = location; });
  }
  void checkpoint_ended(int64_t) override {}
  // Waits until checkpoint `id` started; where its files go.
  CheckpointLocation location(int64_t id) {
    CheckpointLocation found;
    EXPECT_TRUE(messages.wait_until([&] {
      if (!locations.contains(id)) return false;
      found = locations.at(id);
      return true;
    })) << "checkpoint "
        << id << " did not start";
    return found;
  }
  Messages& messages;
  std::map<int64_t, CheckpointLocation> locations;  // under the messages' lock
};

// The acknowledgement a task's executor sends: one state file, written into the location.
TaskCheckpointAck written(const CheckpointLocation& location, TaskId task, bool final,
                          const std::string& bytes) {
  TaskCheckpointAck ack;
  ack.task = task;
  ack.checkpoint_id = location.checkpoint_id;
  ack.final = final;
  const std::string name = CheckpointStateName::operator_state(task.vertex, task.subtask).str();
  ack.states.push_back(StateHandle{name, location.write_state(name, bytes), {}});
  return ack;
}

// Two tasks: a source that keeps running, and one whose input ended. Checkpoints every 20 ms.
class CheckpointCoordinatorMessages : public ::testing::Test {
 protected:
  CheckpointCoordinatorMessages()
      : coordinator(
            CheckpointStorage(dir / "checkpoints"), settings(),
            CheckpointCoordinator::Participants{{&source, &ended}, {&source}, {}, &executor},
            [this](Error e) { messages.add([&] { failures.push_back(e.what()); }); }) {
    coordinator.start();
  }
  static CheckpointCoordinator::Settings settings() {
    CheckpointCoordinator::Settings settings;
    settings.interval = 20ms;
    return settings;
  }
  fs::path checkpoint_folder(int64_t id) const {
    return fs::path(dir / "checkpoints") / ("chk-" + std::to_string(id));
  }
  // How many names the file of the ended task's state in `checkpoint` has (> 1: linked).
  static nlink_t links_of_ended_state(const CompletedCheckpoint& checkpoint) {
    struct stat info {};
    const fs::path file = checkpoint.folder / checkpoint.states.at(kEndedState).file;
    EXPECT_EQ(::stat(file.c_str(), &info), 0) << file;
    return info.st_nlink;
  }

  inline static const std::string kEndedState = CheckpointStateName::operator_state(1, 0).str();

  testing::TempDir dir;
  Messages messages;
  std::set<int64_t> source_triggered, ended_triggered;  // under the messages' lock
  StandInTask source{TaskId{0, 0}, messages, source_triggered};
  StandInTask ended{TaskId{1, 0}, messages, ended_triggered};
  StandInExecutor executor{messages};
  std::vector<std::string> failures;  // under the messages' lock
  CheckpointCoordinator coordinator;
};

// A task that took its snapshot for checkpoint n and then closed, before its executor's
// acknowledgement of n arrived: n must count that acknowledgement once, with the state the task
// wrote, and not also stand the task's older final state in for it (which, counted twice, would
// complete n without another task's state, or link the older file where the new one is written).
TEST_F(CheckpointCoordinatorMessages, ATaskClosingBeforeItsAcknowledgementIsCountedOnce) {
  // The second task's input ended: it is asked directly, and checkpoint 1 has its final state.
  coordinator.input_ended(ended.id);
  ASSERT_TRUE(messages.wait_until(
      [&] { return source_triggered.contains(1) && ended_triggered.contains(1); }));
  const CheckpointLocation first = executor.location(1);
  coordinator.acknowledge(written(first, ended.id, true, "final state of checkpoint 1"));
  coordinator.acknowledge(written(first, source.id, false, "source at 1"));
  ASSERT_TRUE(messages.wait_until([&] { return ended_triggered.contains(2); }));

  // It takes its snapshot for 2 and closes; its executor acknowledges 2 only afterwards.
  const CheckpointLocation second = executor.location(2);
  coordinator.task_finished(ended.id, true, /*newest_snapshot=*/2);
  coordinator.acknowledge(written(second, ended.id, true, "final state of checkpoint 2"));
  coordinator.acknowledge(written(second, source.id, false, "source at 2"));
  executor.location(3);  // 2 completed
  coordinator.stop();

  const CheckpointCoordinator::Stats stats = coordinator.stats();
  EXPECT_EQ(stats.failed, 0);
  EXPECT_GE(stats.completed, 2);
  EXPECT_TRUE(failures.empty());
  const CompletedCheckpoint checkpoint = CheckpointStorage::load(checkpoint_folder(2));
  EXPECT_EQ(CheckpointStorage::read_state(checkpoint, kEndedState), "final state of checkpoint 2");
  EXPECT_EQ(links_of_ended_state(checkpoint), 1U) << "the task's own file of 2, not one linked";
  // Checkpoint 1 keeps what it had.
  EXPECT_EQ(
      CheckpointStorage::read_state(CheckpointStorage::load(checkpoint_folder(1)), kEndedState),
      "final state of checkpoint 1");
}

// The other order: triggered for n but closed without taking a snapshot for it (its newest is
// older), so its final state stands in, linked from the checkpoint that has it.
TEST_F(CheckpointCoordinatorMessages, ATaskClosedBeforeTakingASnapshotIsCoveredByItsFinalState) {
  coordinator.input_ended(ended.id);
  const CheckpointLocation first = executor.location(1);
  coordinator.acknowledge(written(first, ended.id, true, "final state"));
  coordinator.acknowledge(written(first, source.id, false, "source at 1"));
  ASSERT_TRUE(messages.wait_until([&] { return ended_triggered.contains(2); }));
  coordinator.task_finished(ended.id, true, /*newest_snapshot=*/1);
  const CheckpointLocation second = executor.location(2);
  coordinator.acknowledge(written(second, source.id, false, "source at 2"));
  executor.location(3);  // 2 completed
  coordinator.stop();

  EXPECT_EQ(coordinator.stats().failed, 0);
  const CompletedCheckpoint checkpoint = CheckpointStorage::load(checkpoint_folder(2));
  EXPECT_EQ(CheckpointStorage::read_state(checkpoint, kEndedState), "final state");
  EXPECT_GT(links_of_ended_state(checkpoint), 1U) << "linked from checkpoint 1";
}

}  // namespace
}  // namespace sluice::runtime
