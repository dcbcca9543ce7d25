#include "runtime/checkpoint_coordinator.h"

#include <fmt/format.h>

#include <algorithm>

#include "runtime/source_coordinator.h"
#include "runtime/stream_task.h"

namespace sluice::runtime {

namespace {
constexpr auto kNever = std::chrono::steady_clock::time_point::max();
}  // namespace

CheckpointCoordinator::CheckpointCoordinator(CheckpointStorage storage, Settings settings,
                                             Participants participants,
                                             std::function<void(Error)> fail_job)
    : storage_(std::move(storage)),
      settings_(std::move(settings)),
      participants_(std::move(participants)),
      fail_job_(std::move(fail_job)) {
  for (StreamTask* task : participants_.tasks) input_ended_[task] = false;
  last_id_ = storage_.highest_id();
}

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

void CheckpointCoordinator::acknowledge(StreamTask* task, int64_t id, TaskState state, bool final) {
  {
    std::lock_guard lock(mutex_);
    if (final) final_states_[task] = state;
    last_acknowledged_[task] = id;
    acks_.push_back(Ack{id, std::move(state)});
  }
  cv_.notify_all();
}

void CheckpointCoordinator::task_ended_input(StreamTask* task) {
  int64_t pending = 0;
  Timestamp time = 0;
  {
    std::lock_guard lock(mutex_);
    bool& ended = input_ended_.at(task);
    if (!ended) {
      ended = true;
      ++tasks_ended_;
    }
    pending = pending_id_;
    time = pending_time_;
  }
  // The pending checkpoint's barrier may never reach this task now: it acknowledges directly
  // (the task ignores a checkpoint it already acknowledged).
  if (pending != 0) task->trigger_checkpoint(pending, time);
  cv_.notify_all();
}

void CheckpointCoordinator::task_finished(StreamTask* task, bool normally) {
  {
    std::lock_guard lock(mutex_);
    if (normally && final_states_.contains(task)) {
      closed_.push_back(task);
      // Triggered before it closed, but it closed without acknowledging: its final state does.
      if (pending_id_ != 0 && last_acknowledged_[task] < pending_id_) {
        acks_.push_back(Ack{pending_id_, final_states_.at(task)});
        last_acknowledged_[task] = pending_id_;
      }
    } else {
      any_task_finished_ = true;
    }
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
  const size_t task_count = participants_.tasks.size();
  auto next_trigger = std::chrono::steady_clock::now() + settings_.interval;
  // When every task's input ended, the final checkpoint is due at once.
  auto final_due = [&] {
    return tasks_ended_ == task_count && !pending_ && !any_task_finished_ && !final_completed_ &&
           std::chrono::steady_clock::now() >= retry_final_at_;
  };
  while (true) {
    auto woken = [&] {
      return stopping_ || !acks_.empty() || (any_task_finished_ && pending_) || final_due();
    };
    if (next_trigger == kNever) {
      cv_.wait(lock, woken);  // waiting until time_point::max() overflows inside the library
    } else {
      cv_.wait_until(lock, next_trigger, woken);
    }
    if (stopping_) break;
    while (!acks_.empty()) {
      Ack ack = std::move(acks_.front());
      acks_.pop_front();
      lock.unlock();
      write(ack);  // file writes without the lock: tasks keep acknowledging meanwhile
      lock.lock();
    }
    if (any_task_finished_) {
      if (pending_) {
        lock.unlock();
        abandon("a task stopped before acknowledging");
        lock.lock();
      }
      next_trigger = kNever;
      continue;
    }
    if (final_completed_) {
      next_trigger = kNever;  // the tasks are closing
    } else if (!pending_ && (final_due() || std::chrono::steady_clock::now() >= next_trigger)) {
      next_trigger = std::chrono::steady_clock::now() + settings_.interval;
      lock.unlock();
      trigger();
      lock.lock();
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
    // The enumerators' unassigned splits, before any reader snapshots: a split assigned from now
    // on is in its reader's state instead.
    for (auto [node_id, enumerator] : participants_.enumerators) {
      pending_->write_state(fmt::format("node-{}/enumerator", node_id),
                            enumerator->snapshot_enumerator());
    }
  } catch (const Error& e) {
    abandon(fmt::format("it could not start: {}", e.what()));
    return;
  }
  acknowledged_ = 0;
  const Timestamp now = wall_clock_millis();
  std::vector<StreamTask*> to_trigger = participants_.source_tasks;
  {
    std::lock_guard lock(mutex_);
    pending_id_ = id;
    pending_time_ = now;
    for (auto [task, ended] : input_ended_) {
      const bool closed = std::find(closed_.begin(), closed_.end(), task) != closed_.end();
      if (closed) {
        acks_.push_back(Ack{id, final_states_.at(task)});
        last_acknowledged_[task] = id;
      } else if (ended) {
        to_trigger.push_back(task);
      }
    }
    if (tasks_ended_ == participants_.tasks.size()) final_id_ = id;
  }
  for (StreamTask* task : to_trigger) task->trigger_checkpoint(id, now);
}

void CheckpointCoordinator::write(Ack& ack) {
  if (!pending_ || ack.id != pending_->id()) return;  // of an abandoned checkpoint
  try {
    for (auto& [name, bytes] : ack.state) pending_->write_state(name, bytes);
  } catch (const Error& e) {
    abandon(e.what());
    return;
  }
  if (++acknowledged_ < participants_.tasks.size()) return;
  const int64_t id = pending_->id();
  try {
    pending_->set_property("tasks", std::to_string(participants_.tasks.size()));
    for (const auto& [key, value] : settings_.properties) pending_->set_property(key, value);
    pending_->commit(wall_clock_millis());
  } catch (const Error& e) {
    abandon(e.what());
    return;
  }
  pending_.reset();
  consecutive_failures_ = 0;
  if (id == final_id_) final_completed_ = true;
  {
    std::lock_guard lock(mutex_);
    pending_id_ = 0;
    ++completed_;
  }
  for (StreamTask* task : participants_.tasks) task->notify_checkpoint_complete(id);
}

void CheckpointCoordinator::abandon(const std::string& why) {
  const int64_t id = pending_ ? pending_->id() : last_id_;
  fmt::print(stderr, "checkpoint {} failed: {}\n", id, why);
  if (pending_) pending_->abort();
  pending_.reset();
  retry_final_at_ = std::chrono::steady_clock::now() + settings_.interval;
  {
    std::lock_guard lock(mutex_);
    pending_id_ = 0;
    ++failed_;
    if (any_task_finished_) return;  // the job is ending anyway
  }
  if (++consecutive_failures_ > settings_.tolerable_failures) {
    fail_job_(Error(ErrorCategory::kIo,
                    fmt::format("{} checkpoints failed in a row (tolerable: {}); the last: {}",
                                consecutive_failures_, settings_.tolerable_failures, why),
                    ErrorContext{.file = storage_.directory().string()}));
  }
}

}  // namespace sluice::runtime
