// The job the exactly-once tests break on purpose: keyed state, event-time windows (tumbling ones
// on the pane path, sessions on the trigger path) and exactly-once file sinks, over a bounded
// generated input, with checkpoints.
//
// Failures come from outside (the test SIGKILLs the process at a random moment) or from inside
// (--fail-at N: a user function throws at the N-th record this process handles). Either way the
// process ends and the test starts it again with --restore-from latest, possibly at another
// parallelism; the committed output must be exactly that of a run without failures.
//
// The input is designed so that no record is ever late whatever the timing: event time follows
// the record index with less jitter than the watermark's out-of-orderness, and every source
// subtask reads its index ranges in order. So the output does not depend on scheduling.
//
// Flags: --output DIR, --events N, --rate N/s, --fail-at N, and the engine's (--parallelism,
// --checkpoint-interval, --checkpoint-dir, --restore-from, ...). Exit code 0: finished.
#include <sluice/sluice.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>

namespace {

using namespace std::chrono_literals;

struct Event {
  int64_t key;
  int64_t value;
  int64_t ts;
};

struct Totals {
  int64_t count = 0;
  int64_t sum = 0;
};

struct WindowResult {
  int64_t key;
  int64_t start;
  int64_t end;
  int64_t count;
  int64_t sum;
  int64_t running_windows;  // the key's windows so far, from keyed state
  int64_t running_sum;
};

Event make_event(int64_t i) {
  const uint64_t h = sluice::mix64(static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL + 7);
  return Event{static_cast<int64_t>(h % 50), static_cast<int64_t>((h >> 8) % 1000),
               1'000'000 + i + static_cast<int64_t>((h >> 20) % 41) - 20};
}

struct Sum : sluice::AggregateFunction<Event, Totals, Totals> {
  Totals create_accumulator() const override { return {}; }
  void add(const Event& e, Totals& acc) const override {
    acc.count += 1;
    acc.sum += e.value;
  }
  Totals get_result(const Totals& acc) const override { return acc; }
  void merge(const Totals& from, Totals& into) const override {
    into.count += from.count;
    into.sum += from.sum;
  }
};

struct Emit : sluice::ProcessWindowFunction<Totals, WindowResult, int64_t> {
  void process(const int64_t& key, const Context& ctx, const std::vector<Totals>& totals,
               sluice::Collector<WindowResult>& out) override {
    out.collect(WindowResult{key, ctx.window().start, ctx.window().end, totals.front().count,
                             totals.front().sum, 0, 0});
  }
};

// Numbers each key's windows and sums their values in keyed state: a restore that lost or
// repeated state would show in every later line of the key.
struct RunningTotals : sluice::KeyedProcessFunction<int64_t, WindowResult, WindowResult> {
  sluice::ValueState<Totals>* totals = nullptr;
  void open(sluice::KeyedRuntimeContext<int64_t>& ctx) {
    totals = &ctx.get_state(sluice::ValueStateDescriptor<Totals>{"totals"});
  }
  void process_element(const WindowResult& w, Context&,
                       sluice::Collector<WindowResult>& out) override {
    Totals t = totals->value().value_or(Totals{});
    t.count += 1;
    t.sum += w.sum;
    totals->update(t);
    WindowResult result = w;
    result.running_windows = t.count;
    result.running_sum = t.sum;
    out.collect(result);
  }
};

std::atomic<int64_t> handled{0};

}  // namespace

int main(int argc, char** argv) {
  try {
    auto env = sluice::StreamEnvironment::from_args(argc, argv);
    const auto& config = env.config();
    const std::string output = config.get_string("output", "chaos-out");
    const int64_t fail_at = config.get_int("fail-at", 0);

    auto source = sluice::datagen<Event>(make_event)
                      .number_of_rows(config.get_int("events", 150'000))
                      .rows_per_second(config.get_double("rate", 0));
    auto strategy = sluice::WatermarkStrategy<Event>::for_bounded_out_of_orderness(50ms)
                        .with_timestamp_assigner([](const Event& e) { return e.ts; });
    auto events = env.from_source(source, strategy, "events").map([fail_at](const Event& e) {
      if (handled.fetch_add(1, std::memory_order_relaxed) + 1 == fail_at) {
        throw std::runtime_error("injected failure");
      }
      return e;
    });
    auto keyed = events.key_by(&Event::key);
    keyed.window(sluice::TumblingEventTimeWindows::of(200ms))
        .aggregate(Sum{}, Emit{})
        .name("tumbling")
        .key_by(&WindowResult::key)
        .process(RunningTotals{})
        .name("running_totals")
        .sink_to(sluice::FileSink<WindowResult>::csv(output + "/tumbling"))
        .name("tumbling_sink");
    keyed.window(sluice::EventTimeSessionWindows::with_gap(30ms))
        .aggregate(Sum{}, Emit{})
        .name("sessions")
        .sink_to(sluice::FileSink<WindowResult>::csv(output + "/sessions"))
        .name("sessions_sink");
    env.execute("chaos");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chaos_job: %s\n", e.what());
    return 1;
  }
}
