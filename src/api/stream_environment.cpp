#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "sluice/api/data_stream.h"

namespace sluice {

namespace {

int default_parallelism() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

std::vector<std::unique_ptr<SourceSplit>> split_index_range(int64_t count, int parts) {
  __extension__ using Int128 = __int128;
  std::vector<std::unique_ptr<SourceSplit>> splits;
  for (int i = 0; i < parts; ++i) {
    auto first = static_cast<int64_t>(static_cast<Int128>(count) * i / parts);
    auto end = static_cast<int64_t>(static_cast<Int128>(count) * (i + 1) / parts);
    splits.push_back(std::make_unique<IndexRangeSplit>(first, end, i));
  }
  return splits;
}

StreamEnvironment::StreamEnvironment() : StreamEnvironment(Configuration{}) {}

StreamEnvironment::StreamEnvironment(Configuration config)
    : graph_(std::make_unique<StreamGraph>()) {
  options_.default_parallelism =
      static_cast<int>(config.get_int("parallelism", default_parallelism()));
  options_.max_parallelism =
      static_cast<int>(config.get_int("max-parallelism", kDefaultMaxParallelism));
  options_.workers = static_cast<int>(config.get_int("workers", 0));
  options_.buffer_bytes = static_cast<size_t>(config.get_int("buffer-bytes", 32 * 1024));
  options_.channel_capacity = static_cast<size_t>(config.get_int("channel-capacity", 4));
  options_.print_summary = config.get_bool("print-summary", true);
  options_.latency_tracking_interval =
      config.get_duration("latency-tracking-interval", std::chrono::milliseconds(0));
  options_.checkpoint_interval =
      config.get_duration("checkpoint-interval", std::chrono::milliseconds(0));
  options_.checkpoint_dir = config.get_string("checkpoint-dir", "");
  options_.checkpoints_retained = static_cast<int>(config.get_int("checkpoints-retained", 3));
  options_.tolerable_failed_checkpoints =
      static_cast<int>(config.get_int("tolerable-failed-checkpoints", 3));
  options_.checkpoint_timeout =
      config.get_duration("checkpoint-timeout", options_.checkpoint_timeout);
  options_.min_pause_between_checkpoints =
      config.get_duration("min-pause-between-checkpoints", std::chrono::milliseconds(0));
  options_.max_concurrent_checkpoints =
      static_cast<int>(config.get_int("max-concurrent-checkpoints", 1));
  const std::string mode = config.get_string("checkpointing-mode", "exactly-once");
  if (mode != "exactly-once" && mode != "at-least-once") {
    throw Error(
        ErrorCategory::kInvalidArgument,
        fmt::format("--checkpointing-mode must be exactly-once or at-least-once, got '{}'", mode));
  }
  options_.at_least_once = mode == "at-least-once";
  options_.unaligned_checkpoints = config.get_bool("unaligned-checkpoints", false);
  options_.aligned_checkpoint_timeout =
      config.get_duration("aligned-checkpoint-timeout", std::chrono::milliseconds(0));
  const std::string backend = config.get_string("state-backend", "heap");
  if (backend != "heap" && backend != "hashmap" && backend != "rocksdb") {
    throw Error(
        ErrorCategory::kInvalidArgument,
        fmt::format("--state-backend must be heap (or hashmap) or rocksdb, got '{}'", backend));
  }
  options_.state_backend.kind =
      backend == "rocksdb" ? StateBackendKind::kRocksDb : StateBackendKind::kHeap;
  options_.state_backend.local_directory = config.get_string("state-dir", "");
  options_.state_backend.incremental = config.get_bool("incremental-checkpoints", false);
  options_.state_backend.rocksdb_memory_bytes = static_cast<size_t>(
      config.get_bytes("rocksdb-memory", options_.state_backend.rocksdb_memory_bytes));
  options_.state_backend.rocksdb_state_cache_bytes = static_cast<size_t>(
      config.get_bytes("rocksdb-state-cache", options_.state_backend.rocksdb_state_cache_bytes));
  options_.restore_from = config.get_string("restore-from", "");
  if (auto strategy = config.get("restart-strategy")) {
    RestartStrategy restart;
    using Kind = RestartStrategy::Kind;
    if (*strategy == "none") {
      restart.kind = Kind::kNone;
    } else if (*strategy == "fixed-delay") {
      restart.kind = Kind::kFixedDelay;
    } else if (*strategy == "exponential-delay") {
      restart.kind = Kind::kExponentialDelay;
    } else if (*strategy == "failure-rate") {
      restart.kind = Kind::kFailureRate;
    } else {
      throw Error(ErrorCategory::kInvalidArgument,
                  fmt::format("--restart-strategy must be none, fixed-delay, exponential-delay or "
                              "failure-rate, got '{}'",
                              *strategy));
    }
    restart.max_attempts = static_cast<int>(config.get_int("restart-attempts", 3));
    restart.delay = config.get_duration("restart-delay", restart.delay);
    restart.max_delay = config.get_duration("restart-max-delay", restart.max_delay);
    restart.failure_interval =
        config.get_duration("restart-failure-interval", restart.failure_interval);
    options_.restart_strategy = restart;
  }

  if (options_.default_parallelism < 1) {
    throw Error(
        ErrorCategory::kInvalidArgument,
        fmt::format("--parallelism must be at least 1, got {}", options_.default_parallelism));
  }
  if (options_.max_concurrent_checkpoints < 1) {
    throw Error(ErrorCategory::kInvalidArgument, "--max-concurrent-checkpoints must be at least 1");
  }
  if (options_.buffer_bytes < 64 || options_.channel_capacity < 1) {
    throw Error(ErrorCategory::kInvalidArgument,
                "--buffer-bytes must be at least 64 and --channel-capacity at least 1");
  }
  options_.config = std::move(config);
}

StreamEnvironment StreamEnvironment::from_args(int argc, const char* const* argv) {
  return StreamEnvironment(Configuration::from_args(argc, argv));
}

StreamEnvironment::StreamEnvironment(StreamEnvironment&&) noexcept = default;
StreamEnvironment& StreamEnvironment::operator=(StreamEnvironment&&) noexcept = default;
StreamEnvironment::~StreamEnvironment() = default;

StreamEnvironment& StreamEnvironment::set_parallelism(int parallelism) {
  if (parallelism < 1) {
    throw Error(ErrorCategory::kInvalidArgument,
                fmt::format("parallelism must be at least 1, got {}", parallelism));
  }
  options_.default_parallelism = parallelism;
  return *this;
}
StreamEnvironment& StreamEnvironment::set_max_parallelism(int max_parallelism) {
  options_.max_parallelism = max_parallelism;
  return *this;
}
StreamEnvironment& StreamEnvironment::set_workers(int workers) {
  options_.workers = workers;
  return *this;
}
StreamEnvironment& StreamEnvironment::set_buffer_bytes(size_t bytes) {
  options_.buffer_bytes = bytes;
  return *this;
}
StreamEnvironment& StreamEnvironment::set_channel_capacity(size_t buffers) {
  options_.channel_capacity = buffers;
  return *this;
}
StreamEnvironment& StreamEnvironment::set_latency_tracking_interval(
    std::chrono::milliseconds interval) {
  options_.latency_tracking_interval = interval;
  return *this;
}
StreamEnvironment& StreamEnvironment::enable_checkpointing(std::chrono::milliseconds interval,
                                                           std::string directory) {
  if (interval.count() <= 0 || directory.empty()) {
    throw Error(ErrorCategory::kInvalidArgument,
                "checkpoints need a positive interval and a directory");
  }
  options_.checkpoint_interval = interval;
  options_.checkpoint_dir = std::move(directory);
  return *this;
}
StreamEnvironment& StreamEnvironment::set_state_backend(StateBackendOptions options) {
  options_.state_backend = std::move(options);
  return *this;
}
StreamEnvironment& StreamEnvironment::set_restart_strategy(RestartStrategy strategy) {
  options_.restart_strategy = strategy;
  return *this;
}
StreamEnvironment& StreamEnvironment::restore_from(std::string checkpoint) {
  options_.restore_from = std::move(checkpoint);
  return *this;
}
StreamEnvironment& StreamEnvironment::set_print_summary(bool print) {
  options_.print_summary = print;
  return *this;
}

DataStream<int64_t> StreamEnvironment::from_sequence(int64_t from, int64_t to) {
  if (to < from) {
    throw Error(ErrorCategory::kInvalidArgument,
                fmt::format("from_sequence({}, {}): the end is before the start", from, to));
  }
  auto source =
      datagen<int64_t>([from](int64_t i) { return from + i; }).number_of_rows(to - from + 1);
  return from_source(std::move(source), "sequence");
}

int StreamEnvironment::add_node(const std::string& name, OperatorFactory factory) {
  StreamNode node;
  node.id = static_cast<int>(graph_->nodes.size());
  node.name = name;
  node.make_operator = std::move(factory);
  graph_->nodes.push_back(std::move(node));
  return graph_->nodes.back().id;
}

int StreamEnvironment::add_source_node(const std::string& name,
                                       std::shared_ptr<SourceFactory> factory) {
  StreamNode node;
  node.id = static_cast<int>(graph_->nodes.size());
  node.name = name;
  node.source = std::move(factory);
  graph_->nodes.push_back(std::move(node));
  return graph_->nodes.back().id;
}

ExecutionPlan StreamEnvironment::plan(const std::string& job_name) const {
  JobOptions options = options_;
  options.name = job_name;
  return plan_job(*graph_, options);
}

JobClient StreamEnvironment::execute_async(const std::string& job_name) {
  if (auto format = config().get("explain")) {
    // As --help does: the answer, and nothing else happens.
    const ExecutionPlan explained = plan(job_name);
    if (*format == "json") {
      fmt::print("{}\n", explained.to_json());
    } else if (*format == "text" || *format == "true") {
      fmt::print("{}", explained.to_text());
    } else {
      throw Error(ErrorCategory::kInvalidArgument,
                  fmt::format("--explain prints the plan as text or json, got '{}'", *format));
    }
    std::fflush(stdout);
    std::exit(0);
  }
  JobOptions options = options_;
  options.name = job_name;
  return start_local_job(*graph_, options);
}

JobResult StreamEnvironment::execute(const std::string& job_name) {
  JobClient client = execute_async(job_name);
  client.wait();
  JobResult result;
  result.name = job_name;
  result.metrics = client.metrics();
  result.elapsed_ms = result.metrics.elapsed_ms;
  return result;
}

}  // namespace sluice
