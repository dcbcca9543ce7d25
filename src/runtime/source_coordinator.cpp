#include "runtime/source_coordinator.h"

#include <fmt/format.h>

#include <algorithm>

#include "sluice/core/error.h"

namespace sluice {

std::string SourceSplit::serialize() const {
  throw_not_checkpointable(fmt::format("split '{}' does not implement serialize", split_id()));
}

std::string SplitEnumerator::snapshot_state() {
  throw_not_checkpointable("this source's split enumerator does not implement snapshot_state");
}

std::string serialize_split_list(const std::vector<std::unique_ptr<SourceSplit>>& splits) {
  std::vector<std::string> serialized;
  for (const auto& split : splits) {
    if (split) serialized.push_back(split->serialize());  // null: assigned already
  }
  return to_bytes(serialized);
}

SplitQueueEnumerator::SplitQueueEnumerator(SplitEnumeratorContext& context,
                                           std::vector<std::unique_ptr<SourceSplit>> splits)
    : context_(context), splits_(std::move(splits)) {}

void SplitQueueEnumerator::handle_split_request(int subtask) {
  if (next_ < splits_.size()) {
    context_.assign_split(subtask, std::move(splits_[next_++]));
  } else {
    context_.signal_no_more_splits(subtask);
  }
}

StaticSplitEnumerator::StaticSplitEnumerator(SplitEnumeratorContext& context,
                                             std::vector<std::unique_ptr<SourceSplit>> splits)
    : context_(context), splits_(std::move(splits)) {}

std::string SplitQueueEnumerator::snapshot_state() { return serialize_split_list(splits_); }

std::string StaticSplitEnumerator::snapshot_state() { return serialize_split_list(splits_); }

void StaticSplitEnumerator::add_reader(int subtask) {
  const int parallelism = context_.parallelism();
  for (size_t i = static_cast<size_t>(subtask); i < splits_.size();
       i += static_cast<size_t>(parallelism)) {
    if (splits_[i]) context_.assign_split(subtask, std::move(splits_[i]));
  }
  context_.signal_no_more_splits(subtask);
}

namespace runtime {

SourceCoordinator::SourceCoordinator(SourceFactory& factory, int parallelism,
                                     const std::optional<std::string>& restored_state)
    : parallelism_(parallelism) {
  for (int i = 0; i < parallelism; ++i) mailboxes_.push_back(std::make_unique<Mailbox>());
  enumerator_ = restored_state ? factory.restore_enumerator(*this, *restored_state)
                               : factory.create_enumerator(*this);
}

SourceCoordinator::~SourceCoordinator() {
  {
    std::lock_guard lock(async_mutex_);
    async_stopping_ = true;
  }
  async_cv_.notify_all();
  if (async_thread_.joinable()) async_thread_.join();
}

void SourceCoordinator::call_async(std::function<std::function<void()>()> work,
                                   std::chrono::milliseconds period) {
  std::lock_guard lock(async_mutex_);
  async_calls_.push_back({std::move(work), period, std::chrono::steady_clock::now()});
  if (!async_thread_.joinable()) async_thread_ = std::thread([this] { run_async_calls(); });
  async_cv_.notify_all();
}

void SourceCoordinator::run_async_calls() {
  std::unique_lock lock(async_mutex_);
  while (!async_stopping_) {
    auto next =
        std::min_element(async_calls_.begin(), async_calls_.end(),
                         [](const AsyncCall& a, const AsyncCall& b) { return a.due < b.due; });
    if (next == async_calls_.end()) {
      async_cv_.wait(lock);
      continue;
    }
    if (std::chrono::steady_clock::now() < next->due) {
      async_cv_.wait_until(lock, next->due);
      continue;
    }
    auto work = next->work;
    if (next->period.count() > 0) {
      next->due = std::chrono::steady_clock::now() + next->period;
    } else {
      async_calls_.erase(next);
    }
    lock.unlock();
    try {
      std::function<void()> then = work();  // may block: outside every lock
      if (then) {
        std::lock_guard enumerator_lock(enumerator_mutex_);
        then();
      }
    } catch (...) {
      std::lock_guard failure_lock(async_mutex_);
      if (!async_failure_) async_failure_ = std::current_exception();
      for (auto& box : mailboxes_) {
        std::lock_guard box_lock(box->mutex);
        if (box->task != nullptr) box->scheduler->notify(box->task);
      }
    }
    lock.lock();
  }
}

std::string SourceCoordinator::snapshot_enumerator(int64_t checkpoint_id) {
  std::lock_guard lock(enumerator_mutex_);
  std::string state = enumerator_->snapshot_state();
  latest_snapshot_.store(checkpoint_id);  // under the lock: assignments after it are tagged
  return state;
}

SourceCoordinator::Mailbox& SourceCoordinator::mailbox(int subtask) {
  if (subtask < 0 || subtask >= parallelism_) {
    throw Error(ErrorCategory::kInternal,
                fmt::format("split assigned to subtask {} of a source with parallelism {}", subtask,
                            parallelism_));
  }
  return *mailboxes_[static_cast<size_t>(subtask)];
}

void SourceCoordinator::register_reader(int subtask, Scheduler& scheduler, Schedulable* task) {
  {
    Mailbox& box = mailbox(subtask);
    std::lock_guard lock(box.mutex);
    box.scheduler = &scheduler;
    box.task = task;
  }
  std::lock_guard lock(enumerator_mutex_);
  if (!started_) {
    started_ = true;
    enumerator_->start();
  }
  enumerator_->add_reader(subtask);
}

void SourceCoordinator::request_split(int subtask) {
  std::lock_guard lock(enumerator_mutex_);
  enumerator_->handle_split_request(subtask);
}

SourceCoordinator::Assignments SourceCoordinator::take_assignments(int subtask,
                                                                   int64_t before_checkpoint) {
  {
    std::lock_guard lock(async_mutex_);
    if (async_failure_) std::rethrow_exception(async_failure_);
  }
  Mailbox& box = mailbox(subtask);
  std::lock_guard lock(box.mutex);
  Assignments result;
  auto held = std::stable_partition(box.pending.begin(), box.pending.end(),
                                    [&](const Tagged& t) { return t.tag < before_checkpoint; });
  for (auto it = box.pending.begin(); it != held; ++it) {
    if (it->split) {
      result.splits.push_back(std::move(it->split));
    } else {
      result.events.push_back(std::move(it->event));
    }
  }
  box.pending.erase(box.pending.begin(), held);
  // After every split assigned before it.
  if (box.signalled_no_more && !box.delivered_no_more && box.pending.empty() &&
      box.no_more_tag < before_checkpoint) {
    box.delivered_no_more = true;
    result.no_more_splits = true;
  }
  return result;
}

void SourceCoordinator::assign_split(int subtask, std::unique_ptr<SourceSplit> split) {
  Mailbox& box = mailbox(subtask);
  std::lock_guard lock(box.mutex);
  box.pending.push_back({latest_snapshot_.load(), std::move(split), {}});
  if (box.task != nullptr) box.scheduler->notify(box.task);
}

void SourceCoordinator::send_event(int subtask, std::string event) {
  Mailbox& box = mailbox(subtask);
  std::lock_guard lock(box.mutex);
  box.pending.push_back({latest_snapshot_.load(), nullptr, std::move(event)});
  if (box.task != nullptr) box.scheduler->notify(box.task);
}

void SourceCoordinator::signal_no_more_splits(int subtask) {
  Mailbox& box = mailbox(subtask);
  std::lock_guard lock(box.mutex);
  if (box.signalled_no_more) return;
  box.signalled_no_more = true;
  box.no_more_tag = latest_snapshot_.load();
  if (box.task != nullptr) box.scheduler->notify(box.task);
}

}  // namespace runtime
}  // namespace sluice
