// A fixed pool of worker threads that run tasks cooperatively, plus one timer thread.
//
// A task (Schedulable) runs until it has no input, is backpressured, or used its time slice; it
// then returns and frees the worker for other tasks. So parallelism 16 runs on 2 cores with 2
// worker threads, and a job with many operators does not create a thread per subtask.
//
// Wake-ups never get lost: a task's state goes idle -> scheduled -> running, and a notify() that
// arrives while it runs marks it running-notified, so it is queued again as soon as it returns.
//
// Threading: notify() and wake_at() are thread-safe and cheap when the task is already scheduled
// (one atomic load). run() of one task is never executed by two threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace sluice::runtime {

class Schedulable {
 public:
  enum class RunResult { kYield, kWait, kDone };
  virtual ~Schedulable() = default;
  virtual RunResult run() = 0;

 private:
  friend class Scheduler;
  enum State : int { kIdle, kScheduled, kRunning, kRunningNotified, kDone };
  std::atomic<int> state_{kIdle};
};

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;

  // `on_done` is called (on a worker thread) once for each task that returns kDone.
  Scheduler(int workers, std::function<void(Schedulable*)> on_done);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void notify(Schedulable* task);
  void wake_at(Schedulable* task, Clock::time_point deadline);
  // Stops and joins all threads. Must not be called from a worker thread. Idempotent.
  void shutdown();
  int workers() const { return static_cast<int>(workers_.size()); }

 private:
  void enqueue(Schedulable* task);
  void worker_loop();
  void timer_loop();

  std::function<void(Schedulable*)> on_done_;
  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<Schedulable*> queue_;
  bool stopping_ = false;

  struct Timer {
    Clock::time_point deadline;
    Schedulable* task;
    bool operator>(const Timer& other) const { return deadline > other.deadline; }
  };
  std::mutex timer_mutex_;
  std::condition_variable timer_cv_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  bool timer_stopping_ = false;

  std::vector<std::thread> workers_;
  std::thread timer_thread_;
  std::once_flag shutdown_once_;
};

}  // namespace sluice::runtime
