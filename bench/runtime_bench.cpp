// Runtime benchmarks, one JSON line per result (see docs/BENCHMARKS.md):
//
//   map_filter      datagen -> map -> filter -> discarding sink
//   keyed_sum       datagen -> key_by -> rolling sum over 10,000 keys -> discarding sink
//   keyed_latency   keyed_sum at half its measured peak rate: end-to-end latency percentiles,
//                   from a record's creation in the source to the sink
//
// Each throughput figure is the median of --runs runs, reported per core (events / (CPU seconds
// of the whole process)), next to a hand-written loop doing the same work with no engine in the
// same binary and run: the ceiling on this machine.
//
// Flags: --events N (per run, default 100M for map_filter, 20M for keyed_sum), --runs N (5),
//        --parallelism 1,2   --only map_filter|keyed_sum|keyed_latency   --latency-seconds N (3)
#include <absl/container/flat_hash_map.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <vector>

#include "bench_util.h"
#include "sluice/api/data_stream.h"

namespace {

using sluice::StreamEnvironment;
using namespace sluice::bench;

struct Event {
  int64_t key;
  int64_t value;
  int64_t created_ns;
};

inline Event make_event(int64_t i) {
  // A multiplicative hash spreads consecutive indexes over the 10,000 keys.
  auto key =
      static_cast<int64_t>((static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL >> 20) % 10'000);
  return Event{key, i & 1023, 0};
}

inline Event make_timed_event(int64_t i) {
  Event e = make_event(i);
  e.created_ns = sluice::monotonic_nanos();
  return e;
}

inline Event transform(const Event& e) { return Event{e.key, e.value * 3 + 1, e.created_ns}; }
inline bool keep(const Event& e) { return (e.value & 7) != 0; }

// --- the work itself, with and without the engine ---

void engine_map_filter(int parallelism, int64_t events) {
  auto env = bench_env(parallelism);
  // Lambdas, as users write them: a plain function pointer would cost an indirect call per record.
  env.from_source(
         sluice::datagen<Event>([](int64_t i) { return make_event(i); }).number_of_rows(events))
      .map([](const Event& e) { return transform(e); })
      .filter([](const Event& e) { return keep(e); })
      .sink_to(sluice::DiscardingSink<Event>());
  env.execute("map_filter");
}

void baseline_map_filter(int64_t events) {
  int64_t kept = 0, sum = 0;
  for (int64_t i = 0; i < events; ++i) {
    Event e = transform(make_event(i));
    if (keep(e)) {
      ++kept;
      sum += e.value + e.key;  // every field the engine moves is used
    }
  }
  do_not_optimize(kept);
  do_not_optimize(sum);
}

// The rolling sum; the output carries the newest record's creation time so that latency is
// measured per record (Flink's sum() would keep the key's first record's other fields).
inline Event sum_keeping_latest(const Event& acc, const Event& next) {
  return Event{acc.key, acc.value + next.value, next.created_ns};
}

struct MakeEvent {
  Event operator()(int64_t i) const { return make_event(i); }
};
struct MakeTimedEvent {
  Event operator()(int64_t i) const { return make_timed_event(i); }
};
struct SumKeepingLatest {
  Event operator()(const Event& acc, const Event& next) const {
    return sum_keeping_latest(acc, next);
  }
};

template <class Gen = MakeEvent>
void engine_keyed_sum(int parallelism, int64_t events, Gen gen = {}) {
  auto env = bench_env(parallelism);
  env.from_source(sluice::datagen<Event>(gen).number_of_rows(events))
      .key_by(&Event::key)
      .reduce(SumKeepingLatest{})
      .sink_to(sluice::DiscardingSink<Event>());
  env.execute("keyed_sum");
}

void baseline_keyed_sum(int64_t events) {
  absl::flat_hash_map<int64_t, Event> sums;
  int64_t emitted = 0;
  for (int64_t i = 0; i < events; ++i) {
    Event e = make_event(i);
    auto [it, inserted] = sums.try_emplace(e.key, e);
    if (!inserted) it->second.value += e.value;
    emitted += it->second.value;
  }
  do_not_optimize(emitted);
}

class LatencySink final : public sluice::Sink<Event> {
 public:
  explicit LatencySink(std::shared_ptr<LatencyHistogram> total) : total_(std::move(total)) {}
  std::unique_ptr<sluice::SinkWriter<Event>> create_writer(const sluice::RuntimeContext&) override {
    return std::make_unique<Writer>(total_, mutex_);
  }

 private:
  class Writer final : public sluice::SinkWriter<Event> {
   public:
    Writer(std::shared_ptr<LatencyHistogram> total, std::shared_ptr<std::mutex> mutex)
        : total_(std::move(total)), mutex_(std::move(mutex)) {}
    void write(const sluice::RecordBuffer<Event>& batch) override {
      const int64_t now = sluice::monotonic_nanos();
      for (const auto& e : batch.values) local_.record(now - e.created_ns);
    }
    void close() override {
      std::lock_guard lock(*mutex_);
      total_->merge(local_);
    }

   private:
    std::shared_ptr<LatencyHistogram> total_;
    std::shared_ptr<std::mutex> mutex_;
    LatencyHistogram local_;
  };
  std::shared_ptr<LatencyHistogram> total_;
  std::shared_ptr<std::mutex> mutex_ = std::make_shared<std::mutex>();
};

void report_latency(int parallelism, double peak_rate, double seconds) {
  const double rate = peak_rate / 2;
  auto histogram = std::make_shared<LatencyHistogram>();
  auto env = bench_env(parallelism);
  const auto events = static_cast<int64_t>(rate * seconds);
  env.from_source(
         sluice::datagen<Event>(MakeTimedEvent{}).rows_per_second(rate).number_of_rows(events))
      .key_by(&Event::key)
      .reduce(SumKeepingLatest{})
      .sink_to(LatencySink(histogram));
  Measurement m = measure([&] { env.execute("keyed_latency"); });
  fmt::print(
      "{{\"bench\":\"keyed_latency\",\"parallelism\":{},\"rate_per_s\":{:.0f},\"events\":{},"
      "\"achieved_per_s\":{:.0f},\"cores_used\":{:.2f},\"p50_ms\":{:.3f},\"p99_ms\":{:.3f},"
      "\"p999_ms\":{:.3f},\"max_ms\":{:.3f}}}\n",
      parallelism, rate, histogram->count(), static_cast<double>(events) / m.elapsed_s,
      m.cpu_s / m.elapsed_s, histogram->percentile_ms(0.5), histogram->percentile_ms(0.99),
      histogram->percentile_ms(0.999), histogram->percentile_ms(1.0));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto config = sluice::Configuration::from_args(argc, argv);
    const int runs = static_cast<int>(config.get_int("runs", 5));
    const auto parallelisms = parse_list(config.get_string("parallelism", "1,2"));
    const std::string only = config.get_string("only", "");
    const double latency_seconds = config.get_double("latency-seconds", 3);

    if (only.empty() || only == "map_filter") {
      const int64_t events = config.get_int("events", 100'000'000);
      for (int p : parallelisms) {
        report_throughput(
            "map_filter", p, events, runs, [&] { engine_map_filter(p, events); },
            [&] { baseline_map_filter(events); });
      }
    }
    if (only.empty() || only == "keyed_sum" || only == "keyed_latency") {
      const int64_t events = config.get_int("events", 20'000'000);
      for (int p : parallelisms) {
        if (only != "keyed_latency") {
          report_throughput(
              "keyed_sum", p, events, runs, [&] { engine_keyed_sum(p, events); },
              [&] { baseline_keyed_sum(events); });
        }
        // Peak for the latency run: the median wall-clock rate of a few unthrottled runs of the
        // same job with the same clock-reading generator.
        std::vector<double> rates;
        for (int r = 0; r < 3; ++r) {
          Measurement m = measure([&] { engine_keyed_sum(p, events, MakeTimedEvent{}); });
          rates.push_back(static_cast<double>(events) / m.elapsed_s);
        }
        report_latency(p, median(rates), latency_seconds);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "runtime_bench: %s\n", e.what());
    return 1;
  }
}
