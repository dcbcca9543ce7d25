// Window benchmarks, one JSON line per result (see docs/BENCHMARKS.md):
//
//   tumbling_sum   datagen (in-order event time, 1,000 events per ms) -> key_by -> 1 s tumbling
//                  event-time window sum -> discarding sink
//   sliding_sum    the same with 10 s windows sliding by 1 s
//   sliding_sum_per_window  the same with an accumulator per window (accumulate_per_window():
//                  ten updates per record instead of one pane's, nothing merged at the end)
//   session_sum    the same with event-time session windows of a 20 ms gap (a key sees an event
//                  every 10 ms on average, so sessions of a few events open and close all the time)
//
// Each figure is the median of --runs runs, per core, next to a hand-written loop doing the same
// windowed aggregation with no engine (a hash map per pane, windows merged from panes).
//
// Flags: --events N (20M), --runs N (3), --parallelism 1,2, --keys 10000,
//        --key-sweep 1000,100000,1000000 (tumbling at parallelism 1),
//        --only tumbling|sliding|session|sweep
#include <absl/container/flat_hash_map.h>

#include <chrono>
#include <deque>

#include "bench_util.h"
#include "sluice/api/windowed_stream.h"

namespace {

using namespace sluice::bench;
using namespace std::chrono_literals;

struct Tick {
  int64_t key;
  int64_t value;
  int64_t ts;
};

// Record i of the stream: 1,000 events per ms of event time over `keys` keys. The datagen source
// gives each of its `sources` subtasks a contiguous range of indexes; the range's records are
// interleaved in event time (subtask k's j-th record is position j * sources + k), so all source
// subtasks advance through event time together, as the partitions of a real stream do, instead of
// subtask 1 starting where subtask 0 will end.
struct MakeTick {
  MakeTick(int64_t keys, int64_t events = 1, int64_t sources = 1)
      : keys(keys),
        sources(sources),
        per_source(static_cast<uint64_t>(std::max<int64_t>(1, events / sources))),
        reciprocal(UINT64_MAX / per_source + 1) {}
  Tick operator()(int64_t i) const {
    // i / per_source without a division per record (Lemire's method; exact for i < 2^32).
    __extension__ using Wide = unsigned __int128;
    const auto index = static_cast<uint64_t>(i);
    const auto range = static_cast<uint64_t>((static_cast<Wide>(reciprocal) * index) >> 64);
    const auto position =
        static_cast<int64_t>((index - range * per_source) * static_cast<uint64_t>(sources) + range);
    auto key =
        static_cast<int64_t>((static_cast<uint64_t>(position) * 0x9E3779B97F4A7C15ULL >> 16) %
                             static_cast<uint64_t>(keys));
    return Tick{key, position & 1023, position / 1000};
  }
  int64_t keys;
  int64_t sources;
  uint64_t per_source;
  uint64_t reciprocal;
};

struct SumValues : sluice::AggregateFunction<Tick, int64_t, int64_t> {
  int64_t create_accumulator() const override { return 0; }
  void add(const Tick& t, int64_t& acc) const override { acc += t.value; }
  int64_t get_result(const int64_t& acc) const override { return acc; }
  void merge(const int64_t& from, int64_t& into) const override { into += from; }
};

template <class Assigner>
void engine_windows(int parallelism, int64_t events, int64_t keys, const Assigner& spec,
                    const sluice::Configuration& config, bool per_window = false) {
  auto env = bench_env(parallelism, config);
  auto strategy =
      sluice::WatermarkStrategy<Tick>::for_monotonous_timestamps().with_timestamp_assigner(
          [](const Tick& t) { return t.ts; });
  auto windowed =
      env.from_source(
             sluice::datagen<Tick>(MakeTick{keys, events, parallelism}).number_of_rows(events),
             strategy, "ticks")
          .key_by(&Tick::key)
          .window(spec);
  if (per_window) windowed.accumulate_per_window();
  windowed.aggregate(SumValues{}).sink_to(sluice::DiscardingSink<int64_t>());
  env.execute("windows");
}

// The same aggregation by hand: one hash map per pane; when a pane closes, every window ending
// there is merged from its panes and "emitted" into a checksum.
void baseline_windows(int64_t events, int64_t keys, int64_t size_ms, int64_t slide_ms) {
  const int64_t panes_per_window = size_ms / slide_ms;
  MakeTick gen{keys};
  std::deque<absl::flat_hash_map<int64_t, int64_t>> panes;
  absl::flat_hash_map<int64_t, int64_t> merged;
  int64_t current_pane = gen(0).ts / slide_ms;
  panes.emplace_back();
  int64_t checksum = 0;
  auto close_pane = [&] {
    if (panes_per_window == 1) {
      for (const auto& [key, sum] : panes.back()) checksum += sum ^ key;
    } else {
      merged.clear();
      for (const auto& pane : panes) {
        for (const auto& [key, sum] : pane) merged[key] += sum;
      }
      for (const auto& [key, sum] : merged) checksum += sum ^ key;
    }
    panes.emplace_back();
    if (static_cast<int64_t>(panes.size()) > panes_per_window) panes.pop_front();
  };
  for (int64_t i = 0; i < events; ++i) {
    Tick t = gen(i);
    int64_t pane = t.ts / slide_ms;
    if (pane != current_pane) {
      close_pane();
      current_pane = pane;
    }
    panes.back()[t.key] += t.value;
  }
  close_pane();
  do_not_optimize(checksum);
}

// Sessions by hand: per key the open session; an event past the gap closes it into the checksum.
void baseline_sessions(int64_t events, int64_t keys, int64_t gap_ms) {
  struct Session {
    int64_t end;
    int64_t sum;
  };
  MakeTick gen{keys};
  absl::flat_hash_map<int64_t, Session> open;
  int64_t checksum = 0;
  for (int64_t i = 0; i < events; ++i) {
    Tick t = gen(i);
    auto [it, inserted] = open.try_emplace(t.key, Session{t.ts + gap_ms, t.value});
    if (inserted) continue;
    Session& s = it->second;
    if (t.ts <= s.end) {
      s.end = std::max(s.end, t.ts + gap_ms);
      s.sum += t.value;
    } else {
      checksum += s.sum ^ t.key;
      s = Session{t.ts + gap_ms, t.value};
    }
  }
  for (const auto& [key, s] : open) checksum += s.sum ^ key;
  do_not_optimize(checksum);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto config = sluice::Configuration::from_args(argc, argv);
    const int runs = static_cast<int>(config.get_int("runs", 3));
    const int64_t events = config.get_int("events", 20'000'000);
    const int64_t keys = config.get_int("keys", 10'000);
    const auto parallelisms = parse_list(config.get_string("parallelism", "1,2"));
    const std::string only = config.get_string("only", "");
    const auto tumbling = sluice::TumblingEventTimeWindows::of(1s);
    const auto sliding = sluice::SlidingEventTimeWindows::of(10s, 1s);
    const auto sessions = sluice::EventTimeSessionWindows::with_gap(20ms);

    for (int p : parallelisms) {
      if (only.empty() || only == "tumbling") {
        report_throughput(
            "tumbling_sum", p, events, runs,
            [&] { engine_windows(p, events, keys, tumbling, config); },
            [&] { baseline_windows(events, keys, 1000, 1000); });
      }
      if (only.empty() || only == "sliding") {
        report_throughput(
            "sliding_sum", p, events, runs,
            [&] { engine_windows(p, events, keys, sliding, config); },
            [&] { baseline_windows(events, keys, 10'000, 1000); });
        report_throughput(
            "sliding_sum_per_window", p, events, runs,
            [&] { engine_windows(p, events, keys, sliding, config, true); },
            [&] { baseline_windows(events, keys, 10'000, 1000); });
      }
      if (only.empty() || only == "session") {
        report_throughput(
            "session_sum", p, events, runs,
            [&] { engine_windows(p, events, keys, sessions, config); },
            [&] { baseline_sessions(events, keys, 20); });
      }
    }
    if (only.empty() || only == "sweep") {
      for (int k : parse_list(config.get_string("key-sweep", "1000,100000,1000000"))) {
        report_throughput(
            "tumbling_sum_keys_" + std::to_string(k), 1, events, runs,
            [&] { engine_windows(1, events, k, tumbling, config); },
            [&] { baseline_windows(events, k, 1000, 1000); });
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "window_bench: %s\n", e.what());
    return 1;
  }
}
