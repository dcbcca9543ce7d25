// Running a job graph on the embedded (in-process) executor, and the handle to a running job.
//
// Threading: JobClient is thread-safe; any thread may wait, cancel or read metrics.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "sluice/core/config.h"
#include "sluice/core/error.h"
#include "sluice/runtime/metrics.h"
#include "sluice/runtime/stream_graph.h"
#include "sluice/state/state_backend_options.h"

namespace sluice {

// What happens when a task fails (Flink's restart strategies). A restart rebuilds the job from
// the latest completed checkpoint (or from the beginning without checkpoints): state restored,
// sources rewound, sinks recovered. Flags: --restart-strategy none|fixed-delay|exponential-delay|
// failure-rate, --restart-attempts, --restart-delay, --restart-max-delay,
// --restart-failure-interval.
struct RestartStrategy {
  enum class Kind { kNone, kFixedDelay, kExponentialDelay, kFailureRate };
  Kind kind = Kind::kNone;
  int max_attempts = 3;                         // fixed delay: restarts in all
  std::chrono::milliseconds delay{1000};        // between restarts; exponential: the first delay
  std::chrono::milliseconds max_delay{60'000};  // exponential: the cap
  double backoff_multiplier = 1.5;              // exponential
  std::chrono::milliseconds failure_interval{60'000};  // failure rate: at most max_attempts
                                                       // failures within this
  static RestartStrategy none() { return {}; }
  static RestartStrategy fixed_delay(int attempts, std::chrono::milliseconds delay) {
    return {Kind::kFixedDelay, attempts, delay};
  }
  // Unlimited restarts, waiting delay, delay * multiplier, ... up to max_delay.
  static RestartStrategy exponential_delay(std::chrono::milliseconds initial,
                                           std::chrono::milliseconds max, double multiplier) {
    return {Kind::kExponentialDelay, 0, initial, max, multiplier};
  }
  static RestartStrategy failure_rate(int failures, std::chrono::milliseconds interval,
                                      std::chrono::milliseconds delay) {
    RestartStrategy s{Kind::kFailureRate, failures, delay};
    s.failure_interval = interval;
    return s;
  }
};

struct JobOptions {
  std::string name = "sluice-job";
  int default_parallelism = 1;
  int max_parallelism = kDefaultMaxParallelism;
  int workers = 0;                  // worker threads; 0: the number of cores
  size_t buffer_bytes = 32 * 1024;  // target size of a channel buffer
  size_t channel_capacity = 4;      // buffers per channel before backpressure
  bool print_summary = true;        // metrics table on stderr when the job ends
  // Sources emit a latency marker this often; sinks report the latency. 0: off (Flink's default).
  std::chrono::milliseconds latency_tracking_interval{0};
  // Checkpoints every interval into checkpoint_dir (0: off), keeping the newest `retained`.
  std::chrono::milliseconds checkpoint_interval{0};
  std::string checkpoint_dir;
  int checkpoints_retained = 3;
  // Consecutive failed checkpoints (e.g. disk full) the job survives; one more fails it.
  int tolerable_failed_checkpoints = 3;
  // A checkpoint not complete after this fails; the next starts at least min_pause after the
  // previous one ended.
  std::chrono::milliseconds checkpoint_timeout{10 * 60 * 1000};
  std::chrono::milliseconds min_pause_between_checkpoints{0};
  // Checkpoints in progress at once (flag --max-concurrent-checkpoints; with a minimum pause, 1).
  int max_concurrent_checkpoints = 1;
  // Exactly once (aligned barriers, the default) or at least once (no alignment: after a failure
  // some records are processed twice). Flag --checkpointing-mode exactly-once|at-least-once.
  bool at_least_once = false;
  // Unaligned checkpoints (exactly once only): barriers overtake the data queued in channels, which
  // is stored with the checkpoint, so checkpoints stay fast under backpressure. With a positive
  // aligned_checkpoint_timeout a checkpoint starts aligned and turns unaligned when older than
  // that (Flink's execution.checkpointing.unaligned / aligned-checkpoint-timeout). Flags
  // --unaligned-checkpoints, --aligned-checkpoint-timeout. Savepoints are always aligned.
  bool unaligned_checkpoints = false;
  std::chrono::milliseconds aligned_checkpoint_timeout{0};
  // Where keyed state lives (heap or RocksDB; see sluice/state/state_backend_options.h).
  StateBackendOptions state_backend;
  // Resume from a checkpoint or savepoint folder, or "latest": the newest usable checkpoint in
  // checkpoint_dir (a fresh start when there is none). Empty: a fresh start.
  std::string restore_from;
  // Default (unset): exponential delay (1 s to 1 min) with checkpoints, none without, as Flink.
  std::optional<RestartStrategy> restart_strategy;
  Configuration config;  // passed to user functions
};

enum class JobStatus { kRunning, kFinished, kFailed, kCancelled };
const char* to_string(JobStatus status);

struct ExecutionPlan;  // sluice/runtime/execution_plan.h

namespace runtime {
class JobRunner;
}

class JobClient {
 public:
  explicit JobClient(std::shared_ptr<runtime::JobRunner> runner);

  const std::string& name() const;
  JobStatus status() const;
  // Blocks until the job ends. Throws the job's error (a sluice::Error naming the operator and
  // subtask) if it failed; returns normally when it finished or was cancelled.
  void wait();
  // Waits at most `timeout`; true if the job ended.
  bool wait_for(std::chrono::milliseconds timeout);
  // Asks every task to stop; returns at once (wait() to join).
  void cancel();
  JobMetrics metrics() const;
  std::optional<std::string> failure() const;
  // How often the job restarted after a failure so far.
  int restarts() const;
  // The plan the current attempt runs (a restart plans again, restoring the latest checkpoint).
  ExecutionPlan plan() const;
  // Takes a savepoint into `directory` (folder savepoint-<id>) while the job runs, and returns
  // its folder once complete; --restore-from that folder resumes from it, at any parallelism.
  // Needs checkpoints on. Throws a sluice::Error if the savepoint fails.
  std::string trigger_savepoint(const std::string& directory);
  // A savepoint, then the job stops (status FINISHED). Output after the savepoint is not
  // committed: a job resumed from the savepoint produces it.
  std::string stop_with_savepoint(const std::string& directory);

 private:
  std::shared_ptr<runtime::JobRunner> runner_;
};

// Validates and expands the graph, starts its tasks on a private worker pool, and returns at once.
JobClient start_local_job(const StreamGraph& graph, const JobOptions& options);

}  // namespace sluice
