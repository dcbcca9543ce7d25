// Measurement helpers shared by the benchmark binaries: CPU time of the whole process, medians,
// and a quiet environment. Figures are per core: events divided by process CPU seconds.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <cstdio>
#include <functional>

#include "sluice/api/environment.h"

namespace sluice::bench {

inline double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Measurement {
  double elapsed_s;
  double cpu_s;
};

template <class F>
inline Measurement measure(F&& run) {
  const double cpu_before = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  run();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {elapsed, cpu_seconds() - cpu_before};
}

inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Latency histogram with 1 µs buckets up to 1 s; the tail beyond goes to the last bucket.
class LatencyHistogram {
 public:
  LatencyHistogram() : buckets_(kBuckets, 0) {}
  void record(int64_t nanos) {
    auto micros = static_cast<size_t>(std::max<int64_t>(0, nanos / 1000));
    ++buckets_[std::min(micros, kBuckets - 1)];
    ++count_;
  }
  void merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
  }
  double percentile_ms(double p) const {
    if (count_ == 0) return 0;
    auto target = std::min(count_ - 1, static_cast<uint64_t>(p * static_cast<double>(count_)));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen > target) return static_cast<double>(i) / 1000.0;
    }
    return static_cast<double>(kBuckets) / 1000.0;
  }
  uint64_t count() const { return count_; }

 private:
  static constexpr size_t kBuckets = 1'000'000;
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
};

template <class T>
inline void do_not_optimize(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

// `config`: the command line, so engine flags (--buffer-bytes, --auto-watermark-interval, ...)
// reach the job.
inline sluice::StreamEnvironment bench_env(int parallelism,
                                           const sluice::Configuration& config = {}) {
  sluice::StreamEnvironment env(config);
  env.set_parallelism(parallelism).set_print_summary(false);
  return env;
}

inline std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(item);
  return values;
}

inline std::vector<int> parse_list(const std::string& text) {
  std::vector<int> values;
  for (const auto& item : split(text)) values.push_back(std::stoi(item));
  return values;
}

// Runs engine and baseline `runs` times each, interleaved, and prints one JSON line of medians.
inline void report_throughput(const std::string& name, int parallelism, int64_t events, int runs,
                              const std::function<void()>& engine,
                              const std::function<void()>& baseline) {
  std::vector<double> rates, per_core, cores, baseline_rates;
  for (int r = 0; r < runs; ++r) {
    Measurement m = measure(engine);
    rates.push_back(static_cast<double>(events) / m.elapsed_s);
    per_core.push_back(static_cast<double>(events) / m.cpu_s);
    cores.push_back(m.cpu_s / m.elapsed_s);
    Measurement b = measure(baseline);
    baseline_rates.push_back(static_cast<double>(events) / b.cpu_s);
  }
  const double engine_per_core = median(per_core);
  const double ceiling = median(baseline_rates);
  fmt::print(
      "{{\"bench\":\"{}\",\"parallelism\":{},\"events\":{},\"runs\":{},\"events_per_s\":{:.0f},"
      "\"cores_used\":{:.2f},\"events_per_s_per_core\":{:.0f},\"baseline_events_per_s_per_core\":{:"
      ".0f},"
      "\"fraction_of_baseline\":{:.3f}}}\n",
      name, parallelism, events, runs, median(rates), median(cores), engine_per_core, ceiling,
      engine_per_core / ceiling);
  std::fflush(stdout);
}

}  // namespace sluice::bench
