#include "runtime/job_runner.h"

#include <fmt/format.h>

#include <algorithm>

#include "runtime/job_execution.h"

namespace sluice::runtime {

namespace {

RestartStrategy effective_strategy(const JobOptions& options) {
  if (options.restart_strategy) return *options.restart_strategy;
  // Flink's defaults: no restarts without checkpoints, exponential backoff with them.
  if (options.checkpoint_interval.count() == 0) return RestartStrategy::none();
  return RestartStrategy::exponential_delay(std::chrono::seconds(1), std::chrono::minutes(1), 1.5);
}

}  // namespace

JobRunner::JobRunner(StreamGraph graph, JobOptions options)
    : graph_(std::move(graph)),
      options_(std::move(options)),
      strategy_(effective_strategy(options_)) {
  backoff_ = strategy_.delay;
}

JobRunner::~JobRunner() {
  cancel();
  join_supervisor();
}

void JobRunner::start() {
  auto first = std::make_shared<JobExecution>(graph_, options_);
  first->start();
  {
    std::lock_guard lock(mutex_);
    current_ = std::move(first);
  }
  supervisor_ = std::thread([this] { supervise(); });
}

void JobRunner::supervise() {
  while (true) {
    std::shared_ptr<JobExecution> attempt;
    {
      std::lock_guard lock(mutex_);
      attempt = current_;
    }
    attempt->wait();
    std::optional<Error> failure = attempt->failure();
    while (true) {
      std::optional<std::chrono::milliseconds> delay;
      {
        std::lock_guard lock(mutex_);
        // An invalid job fails the same way on every attempt (a graph or state layout that
        // cannot run): restarting would only repeat it.
        if (!failure || cancelled_ || failure->category() == ErrorCategory::kInvalidJob ||
            !(delay = next_delay())) {
          failure_ = std::move(failure);
          done_ = true;
          cv_.notify_all();
          return;
        }
      }
      fmt::print(stderr, "job '{}' failed: {}\nrestarting {} in {} ms (restart {})\n",
                 options_.name, failure->what(),
                 options_.checkpoint_interval.count() > 0 ? "from the latest checkpoint"
                                                          : "from the beginning",
                 delay->count(), restarts() + 1);
      {
        std::unique_lock lock(mutex_);
        if (cv_.wait_for(lock, *delay, [this] { return cancelled_; })) {
          done_ = true;  // cancelled while waiting to restart: cancelled, not failed
          cv_.notify_all();
          return;
        }
      }
      JobOptions options = options_;
      if (options.checkpoint_interval.count() > 0) options.restore_from = "latest";
      try {
        auto next = std::make_shared<JobExecution>(graph_, options);
        next->start();
        std::lock_guard lock(mutex_);
        current_ = std::move(next);
        ++restarts_;
        if (cancelled_) current_->cancel();
        break;
      } catch (const Error& e) {
        failure = e;  // the restart itself failed (a checkpoint that does not restore): count it
      }
    }
  }
}

std::optional<std::chrono::milliseconds> JobRunner::next_delay() {
  using Kind = RestartStrategy::Kind;
  const auto now = std::chrono::steady_clock::now();
  switch (strategy_.kind) {
    case Kind::kNone:
      return std::nullopt;
    case Kind::kFixedDelay:
      if (restarts_ >= strategy_.max_attempts) return std::nullopt;
      return strategy_.delay;
    case Kind::kExponentialDelay: {
      const auto delay = backoff_;
      backoff_ =
          std::min(strategy_.max_delay,
                   std::chrono::milliseconds(static_cast<int64_t>(
                       static_cast<double>(backoff_.count()) * strategy_.backoff_multiplier)));
      return delay;
    }
    case Kind::kFailureRate:
      failure_times_.push_back(now);
      while (!failure_times_.empty() && now - failure_times_.front() > strategy_.failure_interval) {
        failure_times_.pop_front();
      }
      if (static_cast<int>(failure_times_.size()) > strategy_.max_attempts) return std::nullopt;
      return strategy_.delay;
  }
  return std::nullopt;
}

void JobRunner::cancel() {
  std::shared_ptr<JobExecution> attempt;
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    attempt = current_;
  }
  cv_.notify_all();
  if (attempt) attempt->cancel();
}

void JobRunner::wait() {
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
  }
  join_supervisor();
}

bool JobRunner::wait_for(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [this] { return done_; })) return false;
  }
  join_supervisor();
  return true;
}

// Once the job ended no thread of it may outlive the wait: the supervisor is joined too.
void JobRunner::join_supervisor() {
  std::lock_guard lock(join_mutex_);
  if (supervisor_.joinable()) supervisor_.join();
}

JobStatus JobRunner::status() const {
  std::lock_guard lock(mutex_);
  if (!done_) return JobStatus::kRunning;
  if (failure_) return JobStatus::kFailed;
  if (cancelled_) return stopped_with_savepoint_ ? JobStatus::kFinished : JobStatus::kCancelled;
  return current_->status();
}

std::optional<Error> JobRunner::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

JobMetrics JobRunner::metrics() const {
  std::shared_ptr<JobExecution> attempt;
  {
    std::lock_guard lock(mutex_);
    attempt = current_;
  }
  return attempt->metrics();
}

ExecutionPlan JobRunner::plan() const {
  std::shared_ptr<JobExecution> attempt;
  {
    std::lock_guard lock(mutex_);
    attempt = current_;
  }
  return attempt->plan();
}

std::string JobRunner::trigger_savepoint(const std::string& directory) {
  std::shared_ptr<JobExecution> attempt;
  {
    std::lock_guard lock(mutex_);
    attempt = current_;
  }
  if (attempt->checkpoints() == nullptr) {
    throw Error(ErrorCategory::kInvalidArgument,
                "savepoints need checkpoints on (--checkpoint-interval and --checkpoint-dir)");
  }
  return attempt->checkpoints()->request_savepoint(directory).get();
}

std::string JobRunner::stop_with_savepoint(const std::string& directory) {
  std::string folder = trigger_savepoint(directory);
  {
    std::lock_guard lock(mutex_);
    stopped_with_savepoint_ = true;
  }
  cancel();
  wait();
  return folder;
}

int JobRunner::restarts() const {
  std::lock_guard lock(mutex_);
  return restarts_;
}

}  // namespace sluice::runtime

namespace sluice {

using runtime::JobRunner;

JobClient::JobClient(std::shared_ptr<JobRunner> runner) : runner_(std::move(runner)) {}
const std::string& JobClient::name() const { return runner_->options().name; }
JobStatus JobClient::status() const { return runner_->status(); }
void JobClient::wait() {
  runner_->wait();
  if (auto failure = runner_->failure()) throw *failure;
}
bool JobClient::wait_for(std::chrono::milliseconds timeout) { return runner_->wait_for(timeout); }
void JobClient::cancel() { runner_->cancel(); }
JobMetrics JobClient::metrics() const { return runner_->metrics(); }
std::optional<std::string> JobClient::failure() const {
  auto failure = runner_->failure();
  if (!failure) return std::nullopt;
  return std::string(failure->what());
}
int JobClient::restarts() const { return runner_->restarts(); }
ExecutionPlan JobClient::plan() const { return runner_->plan(); }
std::string JobClient::trigger_savepoint(const std::string& directory) {
  return runner_->trigger_savepoint(directory);
}
std::string JobClient::stop_with_savepoint(const std::string& directory) {
  return runner_->stop_with_savepoint(directory);
}

JobClient start_local_job(const StreamGraph& graph, const JobOptions& options) {
  auto runner = std::make_shared<JobRunner>(graph, options);
  runner->start();
  return JobClient(std::move(runner));
}

}  // namespace sluice
