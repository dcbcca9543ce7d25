// Checkpoint overhead, one JSON line per parallelism (see docs/BENCHMARKS.md):
//
//   datagen (unthrottled) -> key_by -> keyed count in ValueState (KeyedProcessFunction) ->
//   discarding sink, with checkpoints every --interval into a temporary directory, against the
//   same job without checkpoints, runs interleaved; medians of --runs.
//
// Flags: --events N (100M), --keys N (100000), --runs N (3), --parallelism 1,2, --interval 1s
#include <filesystem>

#include "bench_util.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/sluice.h"

namespace {

using namespace sluice::bench;

struct CountPerKey : sluice::KeyedProcessFunction<int64_t, int64_t, int64_t> {
  sluice::ValueState<int64_t>* count = nullptr;
  void open(sluice::KeyedRuntimeContext<int64_t>& ctx) {
    count = &ctx.get_state(sluice::ValueStateDescriptor<int64_t>{"count"});
  }
  void process_element(const int64_t&, Context&, sluice::Collector<int64_t>& out) override {
    const int64_t n = count->value().value_or(0) + 1;
    count->update(n);
    if ((n & 1023) == 0) out.collect(n);
  }
};

void run_job(int parallelism, int64_t events, int64_t keys, const std::string& checkpoint_dir,
             const std::string& interval) {
  sluice::Configuration config;
  if (!checkpoint_dir.empty()) {
    const std::string dir_arg = checkpoint_dir;
    const char* args[] = {"bench",
                          "--checkpoint-interval",
                          interval.c_str(),
                          "--checkpoint-dir",
                          dir_arg.c_str(),
                          "--checkpoints-retained",
                          "1"};
    config = sluice::Configuration::from_args(7, args);
  }
  auto env = bench_env(parallelism, config);
  env.from_source(sluice::datagen<int64_t>([keys](int64_t i) {
                    return static_cast<int64_t>(
                        (static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL >> 16) %
                        static_cast<uint64_t>(keys));
                  }).number_of_rows(events))
      .key_by([](int64_t k) { return k; })
      .process(CountPerKey{})
      .sink_to(sluice::DiscardingSink<int64_t>());
  env.execute("checkpointed-count");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto config = sluice::Configuration::from_args(argc, argv);
    const int runs = static_cast<int>(config.get_int("runs", 3));
    const int64_t events = config.get_int("events", 100'000'000);
    const int64_t keys = config.get_int("keys", 100'000);
    const std::string interval = config.get_string("interval", "1s");
    const auto dir = std::filesystem::temp_directory_path() /
                     ("sluice-checkpoint-bench-" + std::to_string(::getpid()));
    for (int p : parse_list(config.get_string("parallelism", "1,2"))) {
      std::vector<double> with, without;
      int64_t checkpoints = 0;
      uint64_t state_bytes = 0;
      for (int r = 0; r < runs; ++r) {
        std::filesystem::remove_all(dir);
        without.push_back(static_cast<double>(events) /
                          measure([&] { run_job(p, events, keys, "", interval); }).elapsed_s);
        with.push_back(
            static_cast<double>(events) /
            measure([&] { run_job(p, events, keys, dir.string(), interval); }).elapsed_s);
        if (auto latest = sluice::CheckpointStorage(dir).latest()) {
          checkpoints = latest->id;
          state_bytes = 0;
          for (const auto& [name, file] : latest->states) state_bytes += file.size;
        }
      }
      const double on = median(with), off = median(without);
      fmt::print(
          "{{\"bench\":\"checkpointed_keyed_count\",\"parallelism\":{},\"events\":{},\"keys\":{},"
          "\"interval\":\"{}\",\"runs\":{},\"events_per_s_without\":{:.0f},"
          "\"events_per_s_with\":{:.0f},\"overhead\":{:.3f},\"last_run_checkpoints\":{},"
          "\"checkpoint_bytes\":{}}}\n",
          p, events, keys, interval, runs, off, on, 1.0 - on / off, checkpoints, state_bytes);
      std::fflush(stdout);
    }
    std::filesystem::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_bench: %s\n", e.what());
    return 1;
  }
}
