// Runs a job on the embedded executor through its attempts: the first, then one per restart after
// a failure, as the restart strategy allows. A restart is Flink's full failover: every task is
// rebuilt and the job resumes from the latest completed checkpoint (from the beginning when
// checkpoints are off): state restored, sources rewound, sinks recovering their transactions.
//
// Threading: the public methods are thread-safe. One supervisor thread waits for each attempt to
// end and starts the next.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "sluice/runtime/execution_plan.h"
#include "sluice/runtime/job_client.h"

namespace sluice::runtime {

class JobExecution;

class JobRunner {
 public:
  JobRunner(StreamGraph graph, JobOptions options);
  ~JobRunner();

  // Builds and starts the first attempt; an invalid job throws here.
  void start();
  void cancel();
  // Until the last attempt ended.
  void wait();
  bool wait_for(std::chrono::milliseconds timeout);
  JobStatus status() const;
  // The failure that ended the job (the last attempt's), once it ended.
  std::optional<Error> failure() const;
  JobMetrics metrics() const;  // of the current (or last) attempt
  ExecutionPlan plan() const;  // of the current (or last) attempt
  int restarts() const;
  std::string trigger_savepoint(const std::string& directory);
  std::string stop_with_savepoint(const std::string& directory);
  const JobOptions& options() const { return options_; }

 private:
  void supervise();
  void join_supervisor();
  // The wait before the next restart, or nullopt when the strategy allows no more.
  std::optional<std::chrono::milliseconds> next_delay();

  const StreamGraph graph_;
  const JobOptions options_;
  RestartStrategy strategy_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::shared_ptr<JobExecution> current_;
  std::optional<Error> failure_;  // set when the job ended failed
  bool cancelled_ = false;
  bool stopped_with_savepoint_ = false;
  bool done_ = false;
  int restarts_ = 0;

  // Supervisor thread only.
  std::deque<std::chrono::steady_clock::time_point> failure_times_;
  std::chrono::milliseconds backoff_{0};
  std::mutex join_mutex_;
  std::thread supervisor_;
};

}  // namespace sluice::runtime
