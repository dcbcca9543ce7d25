#include "runtime/scheduler.h"

namespace sluice::runtime {

Scheduler::Scheduler(int workers, std::function<void(Schedulable*)> on_done)
    : on_done_(std::move(on_done)) {
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { worker_loop(); });
  timer_thread_ = std::thread([this] { timer_loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::shutdown() {
  std::call_once(shutdown_once_, [this] {
    {
      std::lock_guard lock(queue_mutex_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    {
      std::lock_guard lock(timer_mutex_);
      timer_stopping_ = true;
    }
    timer_cv_.notify_all();
    for (auto& t : workers_) t.join();
    timer_thread_.join();
  });
}

void Scheduler::notify(Schedulable* task) {
  int state = task->state_.load(std::memory_order_acquire);
  while (true) {
    if (state == Schedulable::kIdle) {
      if (task->state_.compare_exchange_weak(state, Schedulable::kScheduled,
                                             std::memory_order_acq_rel)) {
        enqueue(task);
        return;
      }
    } else if (state == Schedulable::kRunning) {
      if (task->state_.compare_exchange_weak(state, Schedulable::kRunningNotified,
                                             std::memory_order_acq_rel)) {
        return;
      }
    } else {
      return;  // already scheduled, already notified, or done
    }
  }
}

void Scheduler::wake_at(Schedulable* task, Clock::time_point deadline) {
  {
    std::lock_guard lock(timer_mutex_);
    timers_.push({deadline, task});
  }
  timer_cv_.notify_one();
}

void Scheduler::enqueue(Schedulable* task) {
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(task);
  }
  queue_cv_.notify_one();
}

void Scheduler::worker_loop() {
  while (true) {
    Schedulable* task = nullptr;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      task = queue_.front();
      queue_.pop_front();
    }
    task->state_.store(Schedulable::kRunning, std::memory_order_release);
    Schedulable::RunResult result = task->run();
    switch (result) {
      case Schedulable::RunResult::kDone:
        task->state_.store(Schedulable::kDone, std::memory_order_release);
        on_done_(task);
        break;
      case Schedulable::RunResult::kYield:
        task->state_.store(Schedulable::kScheduled, std::memory_order_release);
        enqueue(task);
        break;
      case Schedulable::RunResult::kWait: {
        int expected = Schedulable::kRunning;
        if (!task->state_.compare_exchange_strong(expected, Schedulable::kIdle,
                                                  std::memory_order_acq_rel)) {
          // Notified while running: the condition it waits for may already hold.
          task->state_.store(Schedulable::kScheduled, std::memory_order_release);
          enqueue(task);
        }
        break;
      }
    }
  }
}

void Scheduler::timer_loop() {
  std::unique_lock lock(timer_mutex_);
  while (!timer_stopping_) {
    if (timers_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    auto next = timers_.top();
    if (Clock::now() >= next.deadline) {
      timers_.pop();
      lock.unlock();
      notify(next.task);
      lock.lock();
      continue;
    }
    timer_cv_.wait_until(lock, next.deadline);
  }
}

}  // namespace sluice::runtime
