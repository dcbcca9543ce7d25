// sluice-nexmark: runs one Nexmark query over the generator and prints a JSON line.
//
//   sluice-nexmark --query q1 --events 10000000 --parallelism 2 [--rate N] [--checkpoint-interval
//   1s]
//
// Fields: query, events, parallelism, elapsed_s, events_per_s, cores (CPU seconds of the whole
// process, generator included, over elapsed: Nexmark's way of counting cores),
// events_per_s_per_core, results, peak_rss_mb, checkpoints; with --rate (events per second,
// paced), end-to-end latency percentiles: from the moment the paced generator was due to emit an
// event (its start + the event's event-time offset, millisecond resolution) to its result reaching
// the sink.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "bench_util.h"
#include "nexmark/nexmark_queries.h"
#include "sluice/sluice.h"

namespace {

using namespace sluice;
using Clock = std::chrono::system_clock;

// Counts results and, when `latencies` is set, records each result's latency in microseconds.
struct LatencyRecorder {
  int64_t start_ms = 0;
  int64_t base_time_ms = 0;
  std::mutex mutex;
  std::vector<int64_t> micros;
  std::atomic<int64_t> results{0};
};

template <class T>
class ResultSink final : public Sink<T> {
 public:
  ResultSink(std::shared_ptr<LatencyRecorder> recorder, bool latencies)
      : recorder_(std::move(recorder)), latencies_(latencies) {}
  std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext&) override {
    return std::make_unique<Writer>(recorder_, latencies_);
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    Writer(std::shared_ptr<LatencyRecorder> recorder, bool latencies)
        : recorder_(std::move(recorder)), latencies_(latencies) {}
    void write(const RecordBuffer<T>& batch) override {
      count_ += static_cast<int64_t>(batch.size());
      if (!latencies_ || batch.timestamps.empty()) return;
      const int64_t now_us =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
              .count();
      for (size_t i = 0; i < batch.size(); ++i) {
        const int64_t due_ms = recorder_->start_ms + (batch.timestamp(i) - recorder_->base_time_ms);
        local_.push_back(now_us - due_ms * 1000);
      }
    }
    void close() override {
      recorder_->results += count_;
      std::lock_guard lock(recorder_->mutex);
      recorder_->micros.insert(recorder_->micros.end(), local_.begin(), local_.end());
    }

   private:
    std::shared_ptr<LatencyRecorder> recorder_;
    bool latencies_;
    int64_t count_ = 0;
    std::vector<int64_t> local_;
  };
  std::shared_ptr<LatencyRecorder> recorder_;
  bool latencies_;
};

double percentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  const size_t at = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  std::nth_element(values.begin(), values.begin() + static_cast<ptrdiff_t>(at), values.end());
  return static_cast<double>(values[at]) / 1000.0;
}

template <class T>
void finish(DataStream<T> results, std::shared_ptr<LatencyRecorder> recorder, bool latencies) {
  results.sink_to(ResultSink<T>(std::move(recorder), latencies)).name("results");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto env = StreamEnvironment::from_args(argc, argv);
    const Configuration& config = env.config();
    const std::string query = config.get_string("query", "q0");
    NexmarkConfig nexmark;
    nexmark.max_events = config.get_int("events", 10'000'000);
    const int64_t rate = config.get_int("rate", 0);
    if (rate > 0) {
      nexmark.events_per_second = rate;
      nexmark.rate_limited = true;
    }
    const auto interval = config.get_duration("checkpoint-interval", std::chrono::milliseconds(0));
    const auto checkpoint_dir =
        std::filesystem::temp_directory_path() / ("sluice-nexmark-" + std::to_string(::getpid()));
    if (interval.count() > 0) env.enable_checkpointing(interval, checkpoint_dir.string());

    auto recorder = std::make_shared<LatencyRecorder>();
    recorder->base_time_ms = nexmark.base_time_ms;
    auto events = env.from_source(nexmark_source(nexmark), "nexmark");
    namespace q = nexmark_queries;
    const bool latencies = rate > 0;
    if (query == "q0") {
      finish(q::q0(events), recorder, latencies);
    } else if (query == "q1") {
      finish(q::q1(events), recorder, latencies);
    } else if (query == "q2") {
      finish(q::q2(events), recorder, latencies);
    } else if (query == "q21") {
      finish(q::q21(events), recorder, latencies);
    } else if (query == "q22") {
      finish(q::q22(events), recorder, latencies);
    } else {
      throw Error(ErrorCategory::kInvalidArgument,
                  "unknown or not yet built query '" + query + "' (built: q0 q1 q2 q21 q22)");
    }
    recorder->start_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
            .count();
    JobResult result;
    const bench::Measurement m = bench::measure([&] { result = env.execute("nexmark-" + query); });
    std::filesystem::remove_all(checkpoint_dir);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double events_n = static_cast<double>(nexmark.max_events);
    std::string latency;
    if (latencies && !recorder->micros.empty()) {
      // The generator paces from its own start, a little after the harness's clock started: the
      // fastest result is taken as latency zero, which removes that offset (and understates every
      // latency by the fastest one's true latency, microseconds).
      const int64_t offset = *std::min_element(recorder->micros.begin(), recorder->micros.end());
      for (int64_t& v : recorder->micros) v -= offset;
      latency = fmt::format(",\"latency_ms\":{{\"p50\":{:.3f},\"p99\":{:.3f},\"p999\":{:.3f}}}",
                            percentile(recorder->micros, 0.5), percentile(recorder->micros, 0.99),
                            percentile(recorder->micros, 0.999));
    }
    fmt::print(
        "{{\"query\":\"{}\",\"events\":{},\"parallelism\":{},\"rate\":{},\"elapsed_s\":{:.3f},"
        "\"events_per_s\":{:.0f},\"cores\":{:.2f},\"events_per_s_per_core\":{:.0f},"
        "\"results\":{},\"peak_rss_mb\":{:.0f},\"checkpoints\":{}{}}}\n",
        query, nexmark.max_events, env.options().default_parallelism, rate, m.elapsed_s,
        events_n / m.elapsed_s, m.cpu_s / m.elapsed_s, events_n / m.cpu_s, recorder->results.load(),
        static_cast<double>(usage.ru_maxrss) / 1024.0, result.metrics.checkpoints_completed,
        latency);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice-nexmark: %s\n", e.what());
    return 1;
  }
}
