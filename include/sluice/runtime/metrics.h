// Metrics per operator and per task (one subtask of a chain). Counters are written by the one task
// thread that owns them (a relaxed load + store, no locked instruction on the hot path) and read
// at any time by JobClient::metrics() from other threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sluice {

// A monotonically increasing counter, written by one thread, read by any.
class Counter {
 public:
  void add(uint64_t n) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void increment() { add(1); }
  // For counters that track a maximum (still single-writer).
  void raise_to(uint64_t n) {
    if (n > value()) value_.store(n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// End-to-end latency seen by a sink through latency markers.
struct LatencyStats {
  Counter markers;
  Counter total_ns;
  Counter max_ns;
  void record(int64_t nanos) {
    const auto n = static_cast<uint64_t>(nanos < 0 ? 0 : nanos);
    markers.increment();
    total_ns.add(n);
    max_ns.raise_to(n);
  }
};

struct OperatorMetrics {
  LatencyStats latency;
  Counter records_in;
  Counter records_out;
  Counter bytes_in;
  Counter bytes_out;

  // User-defined counters registered through RuntimeContext::counter(). Registration takes a lock
  // (once, in open()); updates do not.
  Counter& user_counter(const std::string& name);
  std::map<std::string, uint64_t> user_counter_values() const;

 private:
  mutable std::mutex user_mutex_;
  std::map<std::string, std::unique_ptr<Counter>> user_counters_;
};

struct TaskMetrics {
  Counter busy_ns;           // running operator code
  Counter idle_ns;           // waiting for input
  Counter backpressured_ns;  // waiting for space in an output channel
};

struct OperatorMetricsSnapshot {
  std::string name;
  int node_id = 0;
  int subtask = 0;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t latency_markers = 0;
  double latency_mean_ms = 0;
  double latency_max_ms = 0;
  std::map<std::string, uint64_t> user_counters;
};

struct TaskMetricsSnapshot {
  std::string name;  // the chain, e.g. "source -> map -> filter"
  int subtask = 0;
  double busy_ms = 0;
  double idle_ms = 0;
  double backpressured_ms = 0;
};

struct JobMetrics {
  std::vector<OperatorMetricsSnapshot> operators;
  std::vector<TaskMetricsSnapshot> tasks;
  double elapsed_ms = 0;
  // From building the job (restoring state included) until every task opened: the time a
  // restart takes before processing again. 0 until then.
  double startup_ms = 0;
  int64_t checkpoints_completed = 0;  // of this attempt (savepoints included)
  int64_t checkpoints_failed = 0;
  int checkpoints_peak_concurrent = 0;  // most in progress at once
  double last_checkpoint_ms = 0;        // trigger to completion
  // The longest synchronous part of a task's snapshot (the time the task stopped processing), and
  // the asynchronous parts together (written off the task threads), of the last checkpoint.
  double last_checkpoint_sync_ms = 0;
  double last_checkpoint_async_ms = 0;
  // The longest synchronous part of any checkpoint of this attempt (the last one of a bounded job
  // is taken after its state emptied).
  double max_checkpoint_sync_ms = 0;
  uint64_t last_checkpoint_bytes = 0;  // its full size, shared files included
  // What it wrote: all but the shared files earlier checkpoints had stored (incremental size).
  uint64_t last_checkpoint_new_bytes = 0;

  // Sums over subtasks of one operator.
  OperatorMetricsSnapshot total(const std::string& operator_name) const;
  // A compact table: one line per operator (records, rates) and per task chain (busy/idle/bp %).
  std::string summary() const;
};

}  // namespace sluice
