#include "runtime/checkpoint_coordinator.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/checkpoint/checkpoint_location.h"

namespace sluice::runtime {

namespace {

constexpr auto kNever = std::chrono::steady_clock::time_point::max();
// Below the task threads, as the snapshot writer (snapshot_writer.cpp says why).
constexpr int kCoordinatorNice = 10;

void reject(std::promise<std::string>& savepoint, ErrorCategory category, std::string why) {
  savepoint.set_exception(std::make_exception_ptr(Error(category, std::move(why))));
}

}  // namespace

CheckpointCoordinator::CheckpointCoordinator(CheckpointStorage storage, Settings settings,
                                             Participants participants,
                                             std::function<void(Error)> fail_job)
    : storage_(std::move(storage)),
      settings_(std::move(settings)),
      participants_(std::move(participants)),
      fail_job_(std::move(fail_job)) {
  for (TaskGateway* task : participants_.tasks) {
    tasks_[task->task_id()] = task;
    input_ended_[task->task_id()] = false;
  }
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

void CheckpointCoordinator::acknowledge(TaskCheckpointAck ack) {
  {
    std::lock_guard lock(mutex_);
    if (ack.final) acknowledged_final_.insert(ack.task);
    acks_.push_back(Ack{std::move(ack), {}, false});
  }
  cv_.notify_all();
}

void CheckpointCoordinator::decline(TaskId task, int64_t id, std::string reason) {
  {
    std::lock_guard lock(mutex_);
    acks_.push_back(Ack{TaskCheckpointAck{task, id}, std::move(reason), false});
  }
  cv_.notify_all();
}

void CheckpointCoordinator::input_ended(TaskId task) {
  std::map<int64_t, Timestamp> pending;
  {
    std::lock_guard lock(mutex_);
    bool& ended = input_ended_.at(task);
    if (!ended) {
      ended = true;
      ++tasks_ended_;
    }
    pending = pending_ids_;
  }
  // The pending checkpoints' barriers may never reach this task now: it acknowledges directly
  // (the task ignores a checkpoint it already took a snapshot for).
  for (const auto& [id, time] : pending) tasks_.at(task)->trigger_checkpoint(id, time, false);
  cv_.notify_all();
}

void CheckpointCoordinator::task_finished(TaskId task, bool normally, int64_t newest_snapshot) {
  {
    std::lock_guard lock(mutex_);
    if (normally && acknowledged_final_.contains(task)) {
      closed_.insert(task);
      // Triggered before it closed, but it closed without taking a snapshot: its final state
      // stands for it. (The snapshots it took, acknowledged or not yet, count as themselves.)
      for (const auto& [id, time] : pending_ids_) {
        if (id > newest_snapshot) acks_.push_back(Ack{TaskCheckpointAck{task, id}, {}, true});
      }
    } else {
      any_task_finished_ = true;
    }
  }
  cv_.notify_all();
}

CheckpointCoordinator::Stats CheckpointCoordinator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::future<std::string> CheckpointCoordinator::request_savepoint(std::string directory) {
  SavepointRequest request{std::move(directory), {}};
  std::future<std::string> result = request.done.get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || any_task_finished_ || final_completed_) {
      reject(request.done, ErrorCategory::kInvalidArgument,
             "the job is ending: no savepoint can be taken");
      return result;
    }
    savepoint_requests_.push_back(std::move(request));
  }
  cv_.notify_all();
  return result;
}

// A periodic checkpoint may start: below the concurrency limit (one at a time with a minimum
// pause, as Flink), and no savepoint pending.
bool CheckpointCoordinator::may_trigger() const {
  if (pending_.empty()) return true;
  const int limit = settings_.min_pause.count() > 0 ? 1 : std::max(1, settings_.max_concurrent);
  if (pending_.size() >= static_cast<size_t>(limit)) return false;
  return std::none_of(pending_.begin(), pending_.end(),
                      [](const auto& p) { return p.second.savepoint.has_value(); });
}

// The next moment something is due: the periodic trigger, or a pending checkpoint's timeout.
std::chrono::steady_clock::time_point CheckpointCoordinator::wake_time() const {
  auto wake = may_trigger() ? next_trigger_ : kNever;
  for (const auto& [id, pending] : pending_) {
    wake = std::min(wake, pending.since + settings_.timeout);
  }
  return wake;
}

void CheckpointCoordinator::run() {
  using Clock = std::chrono::steady_clock;
  // The coordinator's own work (the enumerators' snapshots, listing files, writing _metadata,
  // retention) waits for idle time on a busy machine. Best effort, as the writer's.
  setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kCoordinatorNice);
  std::unique_lock lock(mutex_);
  const size_t task_count = participants_.tasks.size();
  next_trigger_ = Clock::now() + settings_.interval;
  // When every task's input ended, the final checkpoint is due at once.
  auto final_due = [&] {
    return tasks_ended_ == task_count && pending_.empty() && !any_task_finished_ &&
           !final_completed_ && Clock::now() >= retry_final_at_;
  };
  auto woken = [&] {
    return stopping_ || !acks_.empty() || (any_task_finished_ && !pending_.empty()) ||
           final_due() || (pending_.empty() && !savepoint_requests_.empty());
  };
  while (true) {
    const auto wake = wake_time();
    if (wake == kNever) {
      cv_.wait(lock, woken);  // waiting until time_point::max() overflows inside the library
    } else {
      cv_.wait_until(lock, wake, woken);
    }
    if (stopping_) break;
    while (!acks_.empty()) {
      Ack ack = std::move(acks_.front());
      acks_.pop_front();
      lock.unlock();
      record(ack);  // file links without the lock: tasks keep acknowledging meanwhile
      lock.lock();
    }
    if (any_task_finished_ || final_completed_) {
      // A task failed or was cancelled, or the final checkpoint completed and the tasks close.
      if (!pending_.empty()) {
        lock.unlock();
        abandon_all("a task stopped before acknowledging");
        lock.lock();
      }
      reject_queued_savepoints();
      next_trigger_ = kNever;
      continue;
    }
    lock.unlock();
    for (auto it = pending_.begin(); it != pending_.end();) {
      const int64_t id = (it++)->first;  // abandon() erases it
      if (Clock::now() >= pending_.at(id).since + settings_.timeout) {
        abandon(id, fmt::format("it did not complete within {} ms", settings_.timeout.count()));
      }
    }
    lock.lock();
    std::optional<SavepointRequest> savepoint;
    if (pending_.empty() && !savepoint_requests_.empty()) {
      savepoint = std::move(savepoint_requests_.front());
      savepoint_requests_.pop_front();
    } else if (final_due()) {
      // the final checkpoint
    } else if (!may_trigger() || Clock::now() < next_trigger_) {
      continue;
    }
    lock.unlock();
    trigger(std::move(savepoint));
    lock.lock();
    next_trigger_ = std::max(next_trigger_, Clock::now() + settings_.interval);
  }
  reject_queued_savepoints();
  lock.unlock();
  for (auto& [id, pending] : pending_) {
    participants_.executor->checkpoint_ended(id);
    pending.checkpoint.abort();
    if (pending.savepoint) {
      reject(pending.savepoint->done, ErrorCategory::kInvalidArgument,
             "the job ended before the savepoint completed");
    }
  }
  pending_.clear();
}

void CheckpointCoordinator::reject_queued_savepoints() {
  for (auto& request : savepoint_requests_) {
    reject(request.done, ErrorCategory::kInvalidArgument, "the job ended before the savepoint");
  }
  savepoint_requests_.clear();
}

void CheckpointCoordinator::trigger(std::optional<SavepointRequest> savepoint) {
  const int64_t id = ++last_id_;
  const bool is_savepoint = savepoint.has_value();
  try {
    std::optional<PendingCheckpoint> checkpoint;
    if (is_savepoint) {
      savepoint_storage_.emplace(savepoint->directory);  // outlives the pending one
      checkpoint.emplace(savepoint_storage_->begin(id, true));
    } else {
      checkpoint.emplace(storage_.begin(id));
    }
    // The enumerators' unassigned splits, before any reader snapshots: a split assigned from now
    // on is in its reader's state instead.
    for (const Enumerator& enumerator : participants_.enumerators) {
      checkpoint->write_state(CheckpointStateName::enumerator(enumerator.node_id).str(),
                              enumerator.snapshot(id));
    }
    participants_.executor->checkpoint_started(checkpoint->location());
    pending_.emplace(id, Pending{std::move(*checkpoint), std::move(savepoint),
                                 std::chrono::steady_clock::now()});
  } catch (const Error& e) {
    fmt::print(stderr, "checkpoint {} failed: it could not start: {}\n", id, e.what());
    if (savepoint) {
      reject(savepoint->done, ErrorCategory::kIo,
             fmt::format("savepoint {} failed: it could not start: {}", id, e.what()));
    }
    const auto now = std::chrono::steady_clock::now();
    retry_final_at_ = now + settings_.interval;
    next_trigger_ = std::max(next_trigger_, now + settings_.min_pause);
    {
      std::lock_guard lock(mutex_);
      ++stats_.failed;
    }
    if (++consecutive_failures_ > settings_.tolerable_failures) {
      fail_job_(Error(ErrorCategory::kIo,
                      fmt::format("{} checkpoints failed in a row (tolerable: {}); the last: {}",
                                  consecutive_failures_, settings_.tolerable_failures, e.what()),
                      ErrorContext{.file = storage_.directory().string()}));
    }
    return;
  }
  const Timestamp now = wall_clock_millis();
  std::vector<TaskGateway*> to_trigger = participants_.source_tasks;
  std::vector<TaskId> closed;
  {
    std::lock_guard lock(mutex_);
    pending_ids_[id] = now;
    stats_.peak_concurrent =
        std::max(stats_.peak_concurrent, static_cast<int>(pending_ids_.size()));
    for (auto [task, ended] : input_ended_) {
      if (closed_.contains(task)) {
        closed.push_back(task);
      } else if (ended) {
        to_trigger.push_back(tasks_.at(task));
      }
    }
    if (tasks_ended_ == participants_.tasks.size()) final_id_ = id;
  }
  if (!closed.empty()) {
    adopt_final_states(id, pending_.at(id), closed);
    if (!pending_.contains(id)) return;  // abandoned (or complete: every task had closed)
  }
  // Savepoints are always aligned (as Flink's): their barriers never overtake data.
  for (TaskGateway* task : to_trigger) task->trigger_checkpoint(id, now, is_savepoint);
}

void CheckpointCoordinator::adopt_final_states(int64_t id, Pending& pending,
                                               const std::vector<TaskId>& tasks) {
  try {
    for (TaskId task : tasks) {
      count_acknowledgement(pending, task);
      auto final = final_states_.find(task);
      if (final == final_states_.end()) {
        throw Error(ErrorCategory::kInternal,
                    fmt::format("subtask {} of vertex {} closed without a completed checkpoint of "
                                "its final state",
                                task.subtask, task.vertex));
      }
      for (const StateHandle& state : final->second.states) {
        pending.checkpoint.adopt_state(state.name, state.file, final->second.folder);
        pending.bytes += state.file.size;
        for (const auto& [key, file] : state.shared) {
          pending.checkpoint.add_shared(key, file);
          pending.shared_sizes[key] = file.size;
        }
      }
      pending.final_states[task] = final->second.states;
    }
  } catch (const std::exception& e) {
    abandon(id, e.what());
    return;
  }
  if (pending.acknowledged.size() == participants_.tasks.size()) complete(id);
}

// A second acknowledgement from one task would let the checkpoint complete without another's
// state: it is a bug, and the checkpoint is abandoned rather than completed.
void CheckpointCoordinator::count_acknowledgement(Pending& pending, TaskId task) {
  if (!pending.acknowledged.insert(task).second) {
    throw Error(ErrorCategory::kInternal,
                fmt::format("subtask {} of vertex {} acknowledged checkpoint {} twice",
                            task.subtask, task.vertex, pending.checkpoint.id()));
  }
}

void CheckpointCoordinator::record(Ack& ack) {
  const int64_t id = ack.ack.checkpoint_id;
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // of an abandoned checkpoint
  Pending& pending = it->second;
  const TaskId task = ack.ack.task;
  if (!ack.declined.empty()) {
    abandon(id, fmt::format("subtask {} of vertex {} could not write its snapshot: {}",
                            task.subtask, task.vertex, ack.declined));
    return;
  }
  if (ack.adopt) return adopt_final_states(id, pending, {task});
  try {
    count_acknowledgement(pending, task);
    for (const StateHandle& state : ack.ack.states) {
      pending.checkpoint.add_state(state.name, state.file);
      pending.bytes += state.file.size;
      for (const auto& [key, file] : state.shared) {
        pending.checkpoint.add_shared(key, file);
        pending.shared_sizes[key] = file.size;
      }
    }
  } catch (const std::exception& e) {
    abandon(id, e.what());
    return;
  }
  if (ack.ack.final) pending.final_states[task] = std::move(ack.ack.states);
  pending.new_shared_bytes += ack.ack.new_shared_bytes;
  pending.async_ms += ack.ack.async_ms;
  pending.sync_ms = std::max(pending.sync_ms, ack.ack.sync_ms);
  if (pending.acknowledged.size() == participants_.tasks.size()) complete(id);
}

void CheckpointCoordinator::complete(int64_t id) {
  Pending& pending = pending_.at(id);
  uint64_t shared_bytes = 0;
  for (const auto& [key, size] : pending.shared_sizes) shared_bytes += size;
  try {
    pending.checkpoint.set_property(std::string(checkpoint_property::kTasks),
                                    std::to_string(participants_.tasks.size()));
    for (const auto& [key, value] : settings_.properties)
      pending.checkpoint.set_property(key, value);
    pending.checkpoint.commit(wall_clock_millis());
  } catch (const Error& e) {
    abandon(id, e.what());
    return;
  }
  if (pending.savepoint) {
    pending.savepoint->done.set_value(
        (std::filesystem::path(pending.savepoint->directory) / fmt::format("savepoint-{}", id))
            .string());
  }
  const auto now = std::chrono::steady_clock::now();
  next_trigger_ = std::max(next_trigger_, now + settings_.min_pause);
  consecutive_failures_ = 0;
  {
    std::lock_guard lock(mutex_);
    if (id == final_id_) final_completed_ = true;
    ++stats_.completed;
    stats_.last_duration_ms =
        std::chrono::duration<double, std::milli>(now - pending.since).count();
    stats_.last_sync_ms = pending.sync_ms;
    stats_.max_sync_ms = std::max(stats_.max_sync_ms, pending.sync_ms);
    stats_.last_async_ms = pending.async_ms;
    stats_.last_bytes = pending.bytes + shared_bytes;
    stats_.last_new_bytes = pending.bytes + pending.new_shared_bytes;
  }
  // A finished task's final state is linked from here into later checkpoints: the newest completed
  // checkpoint is never deleted. A savepoint's folder is the user's (it may be moved or deleted),
  // so it is the source only until a checkpoint has the state.
  for (auto& [task, states] : pending.final_states) {
    FinalState final{std::move(states), pending.checkpoint.folder()};
    if (pending.savepoint) {
      final_states_.try_emplace(task, std::move(final));
    } else {
      final_states_[task] = std::move(final);
    }
  }
  participants_.executor->checkpoint_ended(id);
  pending_.erase(id);
  forget_pending(id);
  // Older pending checkpoints are subsumed: this one restores everything they would.
  while (!pending_.empty() && pending_.begin()->first < id) {
    abandon(pending_.begin()->first, fmt::format("checkpoint {} completed first", id), false);
  }
  for (TaskGateway* task : participants_.tasks) task->notify_checkpoint_complete(id);
}

void CheckpointCoordinator::forget_pending(int64_t id) {
  std::lock_guard lock(mutex_);
  pending_ids_.erase(id);
}

void CheckpointCoordinator::abandon_all(const std::string& why) {
  while (!pending_.empty()) abandon(pending_.begin()->first, why);
}

void CheckpointCoordinator::abandon(int64_t id, const std::string& why, bool failure) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  if (failure) fmt::print(stderr, "checkpoint {} failed: {}\n", id, why);
  participants_.executor->checkpoint_ended(id);
  it->second.checkpoint.abort();
  if (it->second.savepoint) {
    reject(it->second.savepoint->done, ErrorCategory::kIo,
           fmt::format("savepoint {} failed: {}", id, why));
  }
  pending_.erase(it);
  forget_pending(id);
  if (!failure) return;
  const auto now = std::chrono::steady_clock::now();
  retry_final_at_ = now + settings_.interval;
  next_trigger_ = std::max(next_trigger_, now + settings_.min_pause);
  {
    std::lock_guard lock(mutex_);
    ++stats_.failed;
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
