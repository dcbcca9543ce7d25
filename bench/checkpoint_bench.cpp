// Checkpoint overhead, one JSON line per parallelism (see docs/BENCHMARKS.md):
//
//   datagen (unthrottled) -> key_by -> keyed count in ValueState (KeyedProcessFunction) ->
//   discarding sink, with checkpoints every --interval into a temporary directory, against the
//   same job without checkpoints, runs interleaved; medians of --runs.
//
// Then large state, per backend (heap, RocksDB with full checkpoints, RocksDB incremental): a job
// that builds --state-bytes (1 GiB) of keyed ValueState (100-byte values) and ends with its final
// checkpoint (duration, synchronous part, size), and the same job restored from that checkpoint
// (the time from building the job to every task open again: a restart's cost) that then changes
// 1% of the keys (its final checkpoint: what incremental checkpoints write).
//
// Flags: --events N (100M), --keys N (100000), --runs N (3), --parallelism 1,2, --interval 1s,
//        --state-bytes N (1073741824; 0: skip), --backends heap,rocksdb,rocksdb-incremental
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

struct Remember : sluice::KeyedProcessFunction<int64_t, int64_t, int64_t> {
  sluice::ValueState<std::string>* value = nullptr;
  void open(sluice::KeyedRuntimeContext<int64_t>& ctx) {
    value = &ctx.get_state(sluice::ValueStateDescriptor<std::string>{"value"});
  }
  void process_element(const int64_t& key, Context&, sluice::Collector<int64_t>&) override {
    value->update(std::string(100, static_cast<char>('a' + key % 26)));
  }
};

// Writes keys [0, keys) with a stride (1: all; 100: every hundredth, an update of 1%), restoring
// first from `restore_from` if set; ends with its final checkpoint. Returns the job's metrics.
sluice::JobMetrics run_large_state_job(const std::string& backend, int64_t keys, int64_t stride,
                                       const std::string& checkpoint_dir,
                                       const std::string& restore_from) {
  std::vector<std::string> args = {"--state-dir", checkpoint_dir + "-local"};
  if (backend != "heap") args.insert(args.end(), {"--state-backend", "rocksdb"});
  if (backend == "rocksdb-incremental") args.push_back("--incremental-checkpoints");
  auto env = bench_env(1, sluice::Configuration::from_args(args));
  env.enable_checkpointing(std::chrono::hours(1), checkpoint_dir);  // only the final one
  if (!restore_from.empty()) env.restore_from(restore_from);
  env.from_source(sluice::datagen<int64_t>([stride](int64_t i) {
                    return i * stride;
                  }).number_of_rows(keys / stride))
      .key_by([](int64_t k) { return k; })
      .process(Remember{})
      .sink_to(sluice::DiscardingSink<int64_t>());
  return env.execute("large-state").metrics;
}

// Per backend: build the state, whose final checkpoint is a full one; then restore from it (the
// time until every task runs again) and change 1% of the keys: that final checkpoint shows what an
// incremental checkpoint saves.
void bench_large_state(int64_t state_bytes, const std::vector<std::string>& backends) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sluice-large-state-" + std::to_string(::getpid()));
  const int64_t keys = state_bytes / 100;
  for (const std::string& backend : backends) {
    std::filesystem::remove_all(dir);
    const std::string checkpoints = (dir / "checkpoints").string();
    const sluice::JobMetrics built = run_large_state_job(backend, keys, 1, checkpoints, "");
    auto checkpoint = sluice::CheckpointStorage(checkpoints).latest();
    if (!checkpoint) throw std::runtime_error("the final checkpoint is missing");
    const sluice::JobMetrics updated =
        run_large_state_job(backend, keys, 100, checkpoints, checkpoint->folder.string());
    auto mb_per_s = [](uint64_t bytes, double ms) {
      return static_cast<double>(bytes) / 1e6 / (std::max(ms, 0.001) / 1e3);
    };
    fmt::print(
        "{{\"bench\":\"large_keyed_state\",\"backend\":\"{}\",\"keys\":{},"
        "\"build_s\":{:.2f},\"checkpoint_bytes\":{},\"full_checkpoint_ms\":{:.0f},"
        "\"sync_ms\":{:.1f},\"async_ms\":{:.0f},\"checkpoint_mb_per_s\":{:.0f},"
        "\"restore_to_running_ms\":{:.0f},\"restore_mb_per_s\":{:.0f},"
        "\"after_1pct_update\":{{\"checkpoint_ms\":{:.0f},\"sync_ms\":{:.1f},"
        "\"full_bytes\":{},\"written_bytes\":{}}}}}\n",
        backend, keys, built.elapsed_ms / 1e3, built.last_checkpoint_bytes,
        built.last_checkpoint_ms, built.last_checkpoint_sync_ms, built.last_checkpoint_async_ms,
        mb_per_s(built.last_checkpoint_bytes, built.last_checkpoint_ms), updated.startup_ms,
        mb_per_s(built.last_checkpoint_bytes, updated.startup_ms), updated.last_checkpoint_ms,
        updated.last_checkpoint_sync_ms, updated.last_checkpoint_bytes,
        updated.last_checkpoint_new_bytes);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);
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
    if (const int64_t bytes = config.get_int("state-bytes", 1ll << 30); bytes > 0) {
      bench_large_state(bytes,
                        split(config.get_string("backends", "heap,rocksdb,rocksdb-incremental")));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_bench: %s\n", e.what());
    return 1;
  }
}
