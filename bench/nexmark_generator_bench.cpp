// Nexmark generator benchmarks (Google Benchmark):
//
//   BM_EventAt            event_at(n): a fresh Event per call, as a map function would make
//   BM_GenerateReused     generate(n, event) into one reused Event: the generator's own cost
//   BM_GenerateType       the same for one event type (0 person, 1 auction, 2 bid)
//   BM_SourceJob          nexmark_source -> discarding sink, a whole job per iteration, at
//                         parallelism 1 and 2 (args: parallelism, events)
//
// items_per_second is events per second of wall-clock time; the job benchmark also reports
// events_per_core_s, events divided by the process's CPU seconds (as bench_util.h measures).
//
//   build/bench/nexmark_generator_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstdint>

#include "bench_util.h"
#include "sluice/api/data_stream.h"
#include "sluice/connectors/nexmark.h"

namespace {

using sluice::NexmarkConfig;
using sluice::NexmarkGenerator;
using sluice::nexmark::Event;

void BM_EventAt(benchmark::State& state) {
  const NexmarkGenerator gen;
  int64_t n = 0;
  for (auto _ : state) {
    Event e = gen.event_at(n++);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_EventAt);

void BM_GenerateReused(benchmark::State& state) {
  const NexmarkGenerator gen;
  Event e;
  int64_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(gen.generate(n++, e));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_GenerateReused);

void BM_GenerateType(benchmark::State& state) {
  const NexmarkGenerator gen;
  const auto type = static_cast<sluice::nexmark::EventType>(state.range(0));
  // Event numbers of that type only, precomputed so the loop measures generation alone.
  std::vector<int64_t> numbers;
  for (int64_t n = 0; numbers.size() < 100'000; ++n) {
    if (gen.type_of_event_id(gen.event_id(n)) == type) numbers.push_back(n);
  }
  Event e;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(gen.generate(numbers[i], e));
    benchmark::ClobberMemory();
    if (++i == numbers.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_GenerateType)->Arg(0)->Arg(1)->Arg(2);

void BM_SourceJob(benchmark::State& state) {
  const int parallelism = static_cast<int>(state.range(0));
  NexmarkConfig config;
  config.max_events = state.range(1);
  double cpu = 0;
  for (auto _ : state) {
    auto env = sluice::bench::bench_env(parallelism);
    env.from_source(sluice::nexmark_source(config), "nexmark")
        .sink_to(sluice::DiscardingSink<Event>());
    cpu += sluice::bench::measure([&] { env.execute("nexmark_source"); }).cpu_s;
  }
  const auto events = static_cast<double>(state.iterations()) * static_cast<double>(state.range(1));
  state.SetItemsProcessed(static_cast<int64_t>(events));
  state.counters["events_per_core_s"] = events / cpu;
}
BENCHMARK(BM_SourceJob)
    ->Args({1, 5'000'000})
    ->Args({2, 5'000'000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
