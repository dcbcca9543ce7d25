#include "runtime/checkpoint_coordinator.h"

#include <fmt/format.h>

#include "runtime/stream_task.h"
#include "sluice/core/error.h"

namespace sluice::runtime {

CheckpointCoordinator::CheckpointCoordinator(CheckpointStorage storage,
                                             std::chrono::milliseconds interval,
                                             std::vector<StreamTask*> tasks,
                                             std::vector<StreamTask*> source_tasks)
    : storage_(std::move(storage)),
      interval_(interval),
      tasks_(std::move(tasks)),
      source_tasks_(std::move(source_tasks)) {}

CheckpointCoordinator::~CheckpointCoordinator() { stop(); }

void CheckpointCoordinator::start() {
  thread_ = std::thread([this] { run(); });
}

void CheckpointCoordinator::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CheckpointCoordinator::acknowledge(int64_t id, TaskState state) {
  {
    std::lock_guard lock(mutex_);
    acks_.push_back(Ack{id, std::move(state)});
  }
  cv_.notify_all();
}

void CheckpointCoordinator::task_finished() {
  {
    std::lock_guard lock(mutex_);
    any_task_finished_ = true;
  }
  cv_.notify_all();
}

int64_t CheckpointCoordinator::completed() const {
  std::lock_guard lock(mutex_);
  return completed_;
}

int64_t CheckpointCoordinator::failed() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

void CheckpointCoordinator::run() {
  std::unique_lock lock(mutex_);
  auto next_trigger = std::chrono::steady_clock::now() + interval_;
  while (true) {
    cv_.wait_until(lock, next_trigger, [&] { return stopping_ || !acks_.empty(); });
    if (stopping_) break;
    while (!acks_.empty()) {
      Ack ack = std::move(acks_.front());
      acks_.pop_front();
      lock.unlock();
      write(ack);  // file writes without the lock: tasks keep acknowledging meanwhile
      lock.lock();
    }
    if (any_task_finished_ && pending_) {
      lock.unlock();
      abandon("a task finished before acknowledging");
      lock.lock();
    }
    if (std::chrono::steady_clock::now() >= next_trigger) {
      next_trigger = std::chrono::steady_clock::now() + interval_;
      if (!pending_ && !any_task_finished_) {
        lock.unlock();
        trigger();
        lock.lock();
      }
    }
  }
  lock.unlock();
  if (pending_) pending_->abort();
  pending_.reset();
}

void CheckpointCoordinator::trigger() {
  const int64_t id = ++last_id_;
  try {
    pending_.emplace(storage_.begin(id));
  } catch (const Error& e) {
    fmt::print(stderr, "checkpoint {} could not start: {}\n", id, e.what());
    std::lock_guard lock(mutex_);
    ++failed_;
    return;
  }
  acknowledged_ = 0;
  const Timestamp now = wall_clock_millis();
  for (StreamTask* task : source_tasks_) task->trigger_checkpoint(id, now);
}

void CheckpointCoordinator::write(Ack& ack) {
  if (!pending_ || ack.id != pending_->id()) return;  // of an abandoned checkpoint
  try {
    for (auto& [name, bytes] : ack.state) pending_->write_state(name, bytes);
  } catch (const Error& e) {
    abandon(e.what());
    return;
  }
  if (++acknowledged_ < tasks_.size()) return;
  const int64_t id = pending_->id();
  try {
    pending_->set_property("tasks", std::to_string(tasks_.size()));
    pending_->commit(wall_clock_millis());
  } catch (const Error& e) {
    abandon(e.what());
    return;
  }
  pending_.reset();
  {
    std::lock_guard lock(mutex_);
    ++completed_;
  }
  for (StreamTask* task : tasks_) task->notify_checkpoint_complete(id);
}

void CheckpointCoordinator::abandon(const std::string& why) {
  if (!pending_) return;
  fmt::print(stderr, "checkpoint {} abandoned: {}\n", pending_->id(), why);
  pending_->abort();
  pending_.reset();
  std::lock_guard lock(mutex_);
  ++failed_;
}

}  // namespace sluice::runtime
