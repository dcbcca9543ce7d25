// StreamEnvironment: where a job is defined and from which it is executed. It holds the job's
// configuration and the logical graph the DataStream API builds.
//
//   auto env = sluice::StreamEnvironment::from_args(argc, argv);   // --parallelism 4 ...
//   auto numbers = env.from_sequence(1, 1000);
//   numbers.map([](int64_t x) { return x * x; }).print();
//   env.execute("squares");
//
// Flags read from the command line: --parallelism (default: number of cores), --max-parallelism
// (128), --workers (worker threads, default: number of cores), --buffer-bytes (32768),
// --channel-capacity (buffers per channel, 4), --print-summary (true),
// --latency-tracking-interval (off; e.g. 1s), --auto-watermark-interval (200ms), --explain
// [text|json] (print the plan, run nothing). All flags stay available to the application through
// config().
//
// Threading: build and execute a job from one thread. execute_async() returns a thread-safe
// JobClient.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sluice/core/config.h"
#include "sluice/runtime/execution_plan.h"
#include "sluice/runtime/job_client.h"
#include "sluice/runtime/stream_graph.h"

namespace sluice {

template <class T>
class DataStream;
template <class T, class Assigner>
class WatermarkStrategy;

struct JobResult {
  std::string name;
  double elapsed_ms = 0;
  JobMetrics metrics;
};

class StreamEnvironment {
 public:
  StreamEnvironment();
  explicit StreamEnvironment(Configuration config);
  static StreamEnvironment from_args(int argc, const char* const* argv);
  static StreamEnvironment from_args(int argc, char** argv) {
    return from_args(argc, const_cast<const char* const*>(argv));
  }

  StreamEnvironment(StreamEnvironment&&) noexcept;
  StreamEnvironment& operator=(StreamEnvironment&&) noexcept;
  ~StreamEnvironment();

  StreamEnvironment& set_parallelism(int parallelism);
  int parallelism() const { return options_.default_parallelism; }
  StreamEnvironment& set_max_parallelism(int max_parallelism);
  StreamEnvironment& set_workers(int workers);
  StreamEnvironment& set_buffer_bytes(size_t bytes);
  StreamEnvironment& set_channel_capacity(size_t buffers);
  StreamEnvironment& set_print_summary(bool print);
  // Sources emit latency markers at this interval; sinks report end-to-end latency in metrics.
  StreamEnvironment& set_latency_tracking_interval(std::chrono::milliseconds interval);
  // Exactly-once checkpoints every `interval` into `directory` (flags: --checkpoint-interval,
  // --checkpoint-dir), and the checkpoint to resume from ("latest" or a folder; --restore-from).
  StreamEnvironment& enable_checkpointing(std::chrono::milliseconds interval,
                                          std::string directory);
  StreamEnvironment& restore_from(std::string checkpoint);
  // Where keyed state lives (flags --state-backend, --state-dir, --incremental-checkpoints,
  // --rocksdb-memory, --rocksdb-state-cache).
  StreamEnvironment& set_state_backend(StateBackendOptions options);
  // What happens when a task fails (see RestartStrategy; flag --restart-strategy).
  StreamEnvironment& set_restart_strategy(RestartStrategy strategy);
  const JobOptions& options() const { return options_; }
  const Configuration& config() const { return options_.config; }

  // Any Source<T> (FLIP-27): a connector's, or datagen<T>(...).
  template <class S>
  DataStream<typename S::value_type> from_source(S source, const std::string& name = "source");
  template <class T>
  DataStream<T> from_source(std::shared_ptr<Source<T>> source, const std::string& name = "source");
  // With event time: timestamps and watermarks generated right after the source, per subtask.
  template <class S, class Assigner>
  DataStream<typename S::value_type> from_source(
      S source, WatermarkStrategy<typename S::value_type, Assigner> strategy,
      const std::string& name);
  // A fixed collection, emitted in order by a single subtask (as Flink's fromElements).
  template <class T>
  DataStream<T> from_collection(std::vector<T> values, const std::string& name = "collection");
  template <class T, class... Rest>
  DataStream<T> from_elements(T first, Rest... rest);
  // The numbers from..to inclusive, generated in parallel.
  DataStream<int64_t> from_sequence(int64_t from, int64_t to);

  // Runs the job and blocks until it ends; throws sluice::Error if it failed. With --explain
  // (text, the default, or json) they print the job's execution plan to standard output instead
  // and end the process (exit code 0), as --help does: nothing runs.
  JobResult execute(const std::string& job_name = "sluice-job");
  JobClient execute_async(const std::string& job_name = "sluice-job");
  // The execution plan of the job as defined so far, without running anything (see
  // sluice/runtime/execution_plan.h).
  ExecutionPlan plan(const std::string& job_name = "sluice-job") const;

  // For the DataStream API and connectors.
  StreamGraph& graph() { return *graph_; }
  int add_node(const std::string& name, OperatorFactory factory);
  int add_source_node(const std::string& name, std::shared_ptr<SourceFactory> factory);

 private:
  JobOptions options_;
  std::unique_ptr<StreamGraph> graph_;
};

}  // namespace sluice
