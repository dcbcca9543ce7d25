// sluice-nexmark: runs one Nexmark query over the generator and prints a JSON line.
//
//   sluice-nexmark --query q1 --events 10000000 --parallelism 2 [--rate N] [--checkpoint-interval
//   1s] [--event-rate 10000000]
//
// Event time advances by --event-rate events per second (Flink's Nexmark TPS, 10 M by default as
// in its published runs: 100 M events are 10 s of event time); --rate instead paces the generator
// at N events per wall-clock second, and event time follows. q10 writes its files into a
// temporary directory, q13 reads a 10,000-line side input written there; both are removed.
//
// Fields: query, events, parallelism, elapsed_s, events_per_s, cores (CPU seconds of the whole
// process, generator included, over elapsed: Nexmark's way of counting cores),
// events_per_s_per_core, results, peak_rss_mb, checkpoints (completed; with checkpoints on, also
// checkpoints_failed, max_sync_ms (the longest synchronous part of any checkpoint) and
// last_checkpoint: its duration, synchronous and asynchronous parts, full and newly written size);
// with --rate (events per second, paced), end-to-end latency percentiles and their number of
// samples: from the moment the paced generator was due to emit the event whose time a result
// carries (its start + the event's event-time offset, millisecond resolution) to the result
// reaching the sink. A window's result carries the window's last millisecond, a timer's its time:
// their latency starts when the input made them due. Results the end of input fires are not
// counted.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "bench_util.h"
#include "nexmark/nexmark_queries.h"
#include "sluice/sluice.h"

namespace {

using namespace sluice;
using Clock = std::chrono::system_clock;

// How long after the harness builds the job a paced generator starts.
constexpr int64_t kStartAllowanceMs = 300;

// Counts results and, when `latencies` is set, records each result's latency in microseconds.
struct LatencyRecorder {
  int64_t start_ms = 0;
  int64_t base_time_ms = 0;
  // Results later than the input's last event (windows and timers the end of input fires) were
  // never due while the generator ran: they have no latency.
  int64_t last_event_time_ms = 0;
  std::mutex mutex;
  bench::LatencyHistogram latencies;
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
      const int64_t now_ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
              .count();
      for (size_t i = 0; i < batch.size(); ++i) {
        if (batch.timestamp(i) > recorder_->last_event_time_ms) continue;
        const int64_t due_ms = recorder_->start_ms + (batch.timestamp(i) - recorder_->base_time_ms);
        local_.record(now_ns - due_ms * 1'000'000);
      }
    }
    void close() override {
      recorder_->results += count_;
      if (!latencies_) return;
      std::lock_guard lock(recorder_->mutex);
      recorder_->latencies.merge(local_);
    }

   private:
    std::shared_ptr<LatencyRecorder> recorder_;
    bool latencies_;
    int64_t count_ = 0;
    // A histogram, not a vector of samples: a growing vector's copies stall the sink for
    // milliseconds, which would show in the figures it measures.
    bench::LatencyHistogram local_;
  };
  std::shared_ptr<LatencyRecorder> recorder_;
  bool latencies_;
};

// Lines of every file below `directory`: q10's results.
int64_t count_lines(const std::string& directory) {
  int64_t lines = 0;
  std::vector<char> chunk(1 << 20);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(directory)) {
    if (!entry.is_regular_file()) continue;
    std::FILE* file = std::fopen(entry.path().c_str(), "rb");
    if (file == nullptr) continue;
    for (size_t n; (n = std::fread(chunk.data(), 1, chunk.size(), file)) > 0;) {
      lines += std::count(chunk.begin(), chunk.begin() + static_cast<ptrdiff_t>(n), '\n');
    }
    std::fclose(file);
  }
  return lines;
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
    nexmark.events_per_second = config.get_int("event-rate", 10'000'000);
    if (rate > 0) {
      nexmark.events_per_second = rate;
      nexmark.rate_limited = true;
      // Every reader paces from this moment, which leaves the job time to start: event n is due
      // at it + n / rate, and latencies count from there.
      nexmark.pace_start_ms = wall_clock_millis() + kStartAllowanceMs;
    }
    const auto interval = config.get_duration("checkpoint-interval", std::chrono::milliseconds(0));
    const auto scratch =
        std::filesystem::temp_directory_path() / ("sluice-nexmark-" + std::to_string(::getpid()));
    const auto checkpoint_dir = scratch / "checkpoints";
    if (interval.count() > 0) env.enable_checkpointing(interval, checkpoint_dir.string());

    auto recorder = std::make_shared<LatencyRecorder>();
    recorder->base_time_ms = nexmark.base_time_ms;
    recorder->last_event_time_ms = NexmarkGenerator(nexmark).timestamp_of_adjusted(
        std::max<int64_t>(nexmark.max_events - 1, 0));
    namespace q = nexmark_queries;
    auto events = q::nexmark_events(env, nexmark);
    const bool latencies = rate > 0;
    const std::string q10_directory = (scratch / "q10").string();
    const std::string side_input = (scratch / "side_input.csv").string();
    auto run = [&](auto results) { finish(std::move(results), recorder, latencies); };
    const std::map<std::string, std::function<void()>> queries = {
        {"q0", [&] { run(q::q0(events)); }},
        {"q1", [&] { run(q::q1(events)); }},
        {"q2", [&] { run(q::q2(events)); }},
        {"q3", [&] { run(q::q3(events)); }},
        {"q4", [&] { run(q::q4(events)); }},
        {"q5", [&] { run(q::q5(events)); }},
        {"q6", [&] { run(q::q6(events)); }},
        {"q7", [&] { run(q::q7(events)); }},
        {"q8", [&] { run(q::q8(events)); }},
        {"q9", [&] { run(q::q9(events)); }},
        {"q10", [&] { q::q10(events, q10_directory); }},
        {"q11", [&] { run(q::q11(events)); }},
        {"q12", [&] { run(q::q12(events)); }},
        {"q13",
         [&] {
           std::filesystem::create_directories(scratch);
           q::write_side_input(side_input, 10'000);
           run(q::q13(events, side_input));
         }},
        {"q14", [&] { run(q::q14(events)); }},
        {"q15", [&] { run(q::q15(events)); }},
        {"q16", [&] { run(q::q16(events)); }},
        {"q17", [&] { run(q::q17(events)); }},
        {"q18", [&] { run(q::q18(events)); }},
        {"q19", [&] { run(q::q19(events)); }},
        {"q20", [&] { run(q::q20(events)); }},
        {"q21", [&] { run(q::q21(events)); }},
        {"q22", [&] { run(q::q22(events)); }},
    };
    const auto it = queries.find(query);
    if (it == queries.end()) {
      std::string known;
      for (const auto& [name, build] : queries) known += " " + name;
      throw Error(ErrorCategory::kInvalidArgument,
                  "unknown query '" + query + "' (known:" + known + ")");
    }
    it->second();
    recorder->start_ms = nexmark.pace_start_ms;
    JobResult result;
    const bench::Measurement m = bench::measure([&] { result = env.execute("nexmark-" + query); });
    if (query == "q10") recorder->results = count_lines(q10_directory);
    std::filesystem::remove_all(scratch);
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const double events_n = static_cast<double>(nexmark.max_events);
    std::string latency;
    if (latencies && recorder->latencies.count() > 0) {
      const bench::LatencyHistogram& h = recorder->latencies;
      latency = fmt::format(
          ",\"latency_ms\":{{\"p50\":{:.3f},\"p99\":{:.3f},\"p999\":{:.3f},\"samples\":{}}}",
          h.percentile_ms(0.5), h.percentile_ms(0.99), h.percentile_ms(0.999), h.count());
    }
    std::string checkpoint;
    if (interval.count() > 0) {
      const JobMetrics& c = result.metrics;
      checkpoint = fmt::format(
          ",\"last_checkpoint\":{{\"ms\":{:.1f},\"sync_ms\":{:.1f},\"async_ms\":{:.1f},"
          "\"mb\":{:.2f},\"new_mb\":{:.2f}}},\"max_sync_ms\":{:.1f},\"checkpoints_failed\":{}",
          c.last_checkpoint_ms, c.last_checkpoint_sync_ms, c.last_checkpoint_async_ms,
          static_cast<double>(c.last_checkpoint_bytes) / 1e6,
          static_cast<double>(c.last_checkpoint_new_bytes) / 1e6, c.max_checkpoint_sync_ms,
          c.checkpoints_failed);
    }
    fmt::print(
        "{{\"query\":\"{}\",\"events\":{},\"parallelism\":{},\"rate\":{},\"elapsed_s\":{:.3f},"
        "\"events_per_s\":{:.0f},\"cores\":{:.2f},\"events_per_s_per_core\":{:.0f},"
        "\"results\":{},\"peak_rss_mb\":{:.0f},\"checkpoints\":{}{}{}}}\n",
        query, nexmark.max_events, env.options().default_parallelism, rate, m.elapsed_s,
        events_n / m.elapsed_s, m.cpu_s / m.elapsed_s, events_n / m.cpu_s, recorder->results.load(),
        static_cast<double>(usage.ru_maxrss) / 1024.0, result.metrics.checkpoints_completed,
        checkpoint, latency);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice-nexmark: %s\n", e.what());
    return 1;
  }
}
