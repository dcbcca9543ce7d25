#include "runtime/checkpoint_coordinator.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "runtime/source_coordinator.h"
#include "runtime/stream_task.h"

namespace sluice::runtime {

namespace {

constexpr auto kNever = std::chrono::steady_clock::time_point::max();

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

void CheckpointCoordinator::acknowledge(StreamTask* task, int64_t id, TaskState state, bool final,
                                        double sync_ms) {
  {
    std::lock_guard lock(mutex_);
    auto shared = std::make_shared<TaskState>(std::move(state));
    if (final) final_states_[task] = shared;
    last_acknowledged_[task] = id;
    acks_.push_back(Ack{id, sync_ms, std::move(shared)});
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
        acks_.push_back(Ack{pending_id_, 0, final_states_.at(task)});
        last_acknowledged_[task] = pending_id_;
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

// The next moment something is due: the periodic trigger, or the pending checkpoint's timeout.
std::chrono::steady_clock::time_point CheckpointCoordinator::wake_time() const {
  if (pending_) return std::min(next_trigger_, pending_since_ + settings_.timeout);
  return next_trigger_;
}

void CheckpointCoordinator::run() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock lock(mutex_);
  const size_t task_count = participants_.tasks.size();
  next_trigger_ = Clock::now() + settings_.interval;
  // When every task's input ended, the final checkpoint is due at once.
  auto final_due = [&] {
    return tasks_ended_ == task_count && !pending_ && !any_task_finished_ && !final_completed_ &&
           Clock::now() >= retry_final_at_;
  };
  auto woken = [&] {
    return stopping_ || !acks_.empty() || (any_task_finished_ && pending_) || final_due() ||
           (!pending_ && !savepoint_requests_.empty());
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
      write(ack);  // file writes without the lock: tasks keep acknowledging meanwhile
      lock.lock();
    }
    if (any_task_finished_ || final_completed_) {
      // A task failed or was cancelled, or the final checkpoint completed and the tasks close.
      if (pending_) {
        lock.unlock();
        abandon("a task stopped before acknowledging");
        lock.lock();
      }
      reject_queued_savepoints();
      next_trigger_ = kNever;
      continue;
    }
    if (pending_ && Clock::now() >= pending_since_ + settings_.timeout) {
      lock.unlock();
      abandon(fmt::format("it did not complete within {} ms", settings_.timeout.count()));
      lock.lock();
    }
    if (pending_) continue;
    std::optional<SavepointRequest> savepoint;
    if (!savepoint_requests_.empty()) {
      savepoint = std::move(savepoint_requests_.front());
      savepoint_requests_.pop_front();
    } else if (!final_due() && Clock::now() < next_trigger_) {
      continue;
    }
    lock.unlock();
    trigger(std::move(savepoint));
    lock.lock();
    next_trigger_ = std::max(next_trigger_, Clock::now() + settings_.interval);
  }
  reject_queued_savepoints();
  lock.unlock();
  if (pending_) pending_->abort();
  pending_.reset();
  if (pending_savepoint_) {
    reject(pending_savepoint_->done, ErrorCategory::kInvalidArgument,
           "the job ended before the savepoint completed");
  }
}

void CheckpointCoordinator::reject_queued_savepoints() {
  for (auto& request : savepoint_requests_) {
    reject(request.done, ErrorCategory::kInvalidArgument, "the job ended before the savepoint");
  }
  savepoint_requests_.clear();
}

void CheckpointCoordinator::trigger(std::optional<SavepointRequest> savepoint) {
  const int64_t id = ++last_id_;
  pending_savepoint_ = std::move(savepoint);
  try {
    if (pending_savepoint_) {
      savepoint_storage_.emplace(pending_savepoint_->directory);  // outlives the pending one
      pending_.emplace(savepoint_storage_->begin(id, true));
    } else {
      pending_.emplace(storage_.begin(id));
    }
    pending_since_ = std::chrono::steady_clock::now();
    pending_bytes_ = 0;
    pending_sync_ms_ = 0;
    pending_async_ms_ = 0;
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
        acks_.push_back(Ack{id, 0, final_states_.at(task)});
        last_acknowledged_[task] = id;
      } else if (ended) {
        to_trigger.push_back(task);
      }
    }
    if (tasks_ended_ == participants_.tasks.size()) final_id_ = id;
  }
  // Savepoints are always aligned (as Flink's): their barriers never overtake data.
  const bool is_savepoint = pending_savepoint_.has_value();
  for (StreamTask* task : to_trigger) task->trigger_checkpoint(id, now, is_savepoint);
}

namespace {

// The checkpoint's SnapshotFiles, noting which shared files each state uses.
class RecordingFiles final : public SnapshotFiles {
 public:
  RecordingFiles(PendingCheckpoint& checkpoint, std::vector<std::string>& keys)
      : checkpoint_(checkpoint), keys_(keys) {}
  void add_shared_file(const std::string& key, const std::filesystem::path& path) override {
    checkpoint_.add_shared_file(key, path);
    keys_.push_back(key);
  }

 private:
  PendingCheckpoint& checkpoint_;
  std::vector<std::string>& keys_;
};

}  // namespace

void CheckpointCoordinator::write(Ack& ack) {
  if (!pending_ || ack.id != pending_->id()) return;  // of an abandoned checkpoint
  try {
    for (TaskStatePart& part : *ack.state) {
      // The asynchronous part of the task's snapshot, off the task thread. A final state is
      // materialized once and referenced by every later checkpoint.
      if (!part.snapshot.materialized()) {
        RecordingFiles files(*pending_, part.shared_files);
        const int64_t start = monotonic_nanos();
        part.snapshot.materialize(files);
        pending_async_ms_ += static_cast<double>(monotonic_nanos() - start) / 1e6;
      }
      for (const std::string& key : part.shared_files) pending_->reference_shared_file(key);
      pending_->write_state(part.name, part.snapshot.bytes());
      pending_bytes_ += part.snapshot.bytes().size();
    }
  } catch (const std::exception& e) {
    abandon(e.what());
    return;
  }
  pending_sync_ms_ = std::max(pending_sync_ms_, ack.sync_ms);
  if (++acknowledged_ < participants_.tasks.size()) return;
  const int64_t id = pending_->id();
  uint64_t shared_bytes = 0, new_shared_bytes = 0;
  try {
    pending_->set_property("tasks", std::to_string(participants_.tasks.size()));
    for (const auto& [key, value] : settings_.properties) pending_->set_property(key, value);
    shared_bytes = pending_->shared_bytes();
    new_shared_bytes = pending_->new_shared_bytes();
    pending_->commit(wall_clock_millis());
  } catch (const Error& e) {
    abandon(e.what());
    return;
  }
  pending_.reset();
  if (pending_savepoint_) {
    pending_savepoint_->done.set_value(
        (std::filesystem::path(pending_savepoint_->directory) / fmt::format("savepoint-{}", id))
            .string());
    pending_savepoint_.reset();
  }
  next_trigger_ = std::max(next_trigger_, std::chrono::steady_clock::now() + settings_.min_pause);
  consecutive_failures_ = 0;
  if (id == final_id_) final_completed_ = true;
  {
    std::lock_guard lock(mutex_);
    pending_id_ = 0;
    ++stats_.completed;
    stats_.last_duration_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - pending_since_)
            .count();
    stats_.last_sync_ms = pending_sync_ms_;
    stats_.last_async_ms = pending_async_ms_;
    stats_.last_bytes = pending_bytes_ + shared_bytes;
    stats_.last_new_bytes = pending_bytes_ + new_shared_bytes;
  }
  for (StreamTask* task : participants_.tasks) task->notify_checkpoint_complete(id);
}

void CheckpointCoordinator::abandon(const std::string& why) {
  const int64_t id = pending_ ? pending_->id() : last_id_;
  fmt::print(stderr, "checkpoint {} failed: {}\n", id, why);
  if (pending_) pending_->abort();
  pending_.reset();
  if (pending_savepoint_) {
    reject(pending_savepoint_->done, ErrorCategory::kIo,
           fmt::format("savepoint {} failed: {}", id, why));
    pending_savepoint_.reset();
  }
  const auto now = std::chrono::steady_clock::now();
  retry_final_at_ = now + settings_.interval;
  next_trigger_ = std::max(next_trigger_, now + settings_.min_pause);
  {
    std::lock_guard lock(mutex_);
    pending_id_ = 0;
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
