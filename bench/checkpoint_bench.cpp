// Checkpoint overhead, one JSON line per parallelism (see docs/BENCHMARKS.md):
//
//   datagen (unthrottled) -> key_by -> keyed count in ValueState (KeyedProcessFunction) ->
//   discarding sink, with checkpoints every --interval into a temporary directory, against the
//   same job without checkpoints, runs interleaved; medians of --runs.
//
// Then large state, per backend (heap, RocksDB with full checkpoints, RocksDB incremental): a job
// builds --state-bytes (1 GiB) of keyed ValueState (100-byte values) with checkpoints every
// --large-state-interval (5 s); the first checkpoint that starts after the last key holds the
// whole state (duration, synchronous part, size, bytes written); then 1% of the keys change and
// the job ends with its final checkpoint (what an incremental checkpoint writes); then the job
// restores from that (the time from building the job to every task open again: a restart's cost).
//
// Flags: --events N (100M), --keys N (100000), --runs N (3), --parallelism 1,2, --interval 1s,
//        --state-bytes N (1073741824; 0: skip), --backends heap,rocksdb,rocksdb-incremental,
//        --large-state-interval 5s
#include <atomic>
#include <filesystem>
#include <thread>

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

// Rows 0..keys-1 (every key once), then, once `release` is set, `updates` rows that rewrite every
// hundredth key (1% for keys / 100). One split, restored from checkpoints like datagen's.
class PhasedKeys final : public sluice::Source<int64_t> {
 public:
  PhasedKeys(int64_t keys, int64_t updates, std::shared_ptr<std::atomic<bool>> built,
             std::shared_ptr<std::atomic<bool>> release)
      : keys_(keys), updates_(updates), built_(std::move(built)), release_(std::move(release)) {}
  sluice::Boundedness boundedness() const override { return sluice::Boundedness::kBounded; }
  std::unique_ptr<sluice::SplitEnumerator> create_enumerator(
      sluice::SplitEnumeratorContext& context) override {
    std::vector<std::unique_ptr<sluice::SourceSplit>> splits;
    splits.push_back(std::make_unique<sluice::IndexRangeSplit>(0, keys_ + updates_, 0));
    return std::make_unique<sluice::StaticSplitEnumerator>(context, std::move(splits));
  }
  std::unique_ptr<sluice::SourceReader<int64_t>> create_reader(
      sluice::SourceReaderContext& context) override {
    return std::make_unique<Reader>(*this, context);
  }
  std::unique_ptr<sluice::SourceSplit> deserialize_split(std::string_view bytes) const override {
    auto [first, end, index] = sluice::from_bytes<std::tuple<int64_t, int64_t, int>>(bytes);
    return std::make_unique<sluice::IndexRangeSplit>(first, end, index);
  }
  std::unique_ptr<sluice::SplitEnumerator> restore_enumerator(
      sluice::SplitEnumeratorContext& context, std::string_view state) override {
    return std::make_unique<sluice::StaticSplitEnumerator>(
        context, sluice::deserialize_split_list(*this, state));
  }

 private:
  class Reader final : public sluice::SourceReader<int64_t> {
   public:
    Reader(const PhasedKeys& source, sluice::SourceReaderContext& context)
        : source_(source), context_(context) {}
    void add_splits(std::vector<std::unique_ptr<sluice::SourceSplit>> splits) override {
      for (auto& s : splits) {
        auto& range = static_cast<sluice::IndexRangeSplit&>(*s);
        next_ = range.first;
        end_ = range.end;
        has_split_ = true;
      }
    }
    void notify_no_more_splits() override { no_more_splits_ = true; }
    std::vector<std::unique_ptr<sluice::SourceSplit>> snapshot_state(int64_t) override {
      std::vector<std::unique_ptr<sluice::SourceSplit>> left;
      if (has_split_ && next_ < end_) {
        left.push_back(std::make_unique<sluice::IndexRangeSplit>(next_, end_, 0));
      }
      return left;
    }
    sluice::InputStatus poll_next(sluice::ReaderOutput<int64_t>& output) override {
      if (!has_split_ || next_ >= end_) {
        return no_more_splits_ ? sluice::InputStatus::kEndOfInput
                               : sluice::InputStatus::kNothingAvailable;
      }
      const int64_t keys = source_.keys_;
      if (next_ >= keys && !source_.release_->load()) {
        source_.built_->store(true);
        context_.wake_at(std::chrono::steady_clock::now() + std::chrono::milliseconds(10));
        return sluice::InputStatus::kNothingAvailable;
      }
      const int64_t limit = next_ < keys ? keys : end_;
      const int64_t n = std::min<int64_t>(static_cast<int64_t>(output.remaining()), limit - next_);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t row = next_ + i;
        output.collect(row < keys ? row : (row - keys) * 100);
      }
      next_ += n;
      return sluice::InputStatus::kMoreAvailable;
    }

   private:
    const PhasedKeys& source_;
    sluice::SourceReaderContext& context_;
    int64_t next_ = 0;
    int64_t end_ = 0;
    bool has_split_ = false;
    bool no_more_splits_ = false;
  };

  int64_t keys_;
  int64_t updates_;
  std::shared_ptr<std::atomic<bool>> built_;
  std::shared_ptr<std::atomic<bool>> release_;
};

struct LargeStateRun {
  sluice::JobMetrics full;     // after the first checkpoint that started once every key was written
  sluice::JobMetrics updated;  // after the final checkpoint, once 1% of the keys changed
  sluice::JobMetrics restored;
  double build_s = 0;
};

// One backend: build the state with checkpoints every `interval`; once every key is written, wait
// for a checkpoint that started after that (the whole state; an incremental one writes only what
// the checkpoints during the build had not stored); then change 1% of the keys and end with the
// final checkpoint; then restore from it (a restart's cost: until every task runs again).
LargeStateRun run_large_state(const std::string& backend, int64_t keys,
                              const std::string& checkpoint_dir,
                              std::chrono::milliseconds interval) {
  auto make_env = [&](const std::string& restore_from) {
    std::vector<std::string> args = {"--state-dir", checkpoint_dir + "-local"};
    if (backend != "heap") args.insert(args.end(), {"--state-backend", "rocksdb"});
    if (backend == "rocksdb-incremental") args.push_back("--incremental-checkpoints");
    auto env = bench_env(1, sluice::Configuration::from_args(args));
    env.enable_checkpointing(interval, checkpoint_dir);
    if (!restore_from.empty()) env.restore_from(restore_from);
    return env;
  };
  auto built = std::make_shared<std::atomic<bool>>(false);
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto add_job = [&](sluice::StreamEnvironment& env) {
    env.from_source(PhasedKeys(keys, keys / 100, built, release), "keys")
        .key_by([](int64_t k) { return k; })
        .process(Remember{})
        .sink_to(sluice::DiscardingSink<int64_t>());
  };
  auto sleep = [] { std::this_thread::sleep_for(std::chrono::milliseconds(10)); };
  LargeStateRun run;
  {
    auto env = make_env("");
    add_job(env);
    const auto start = std::chrono::steady_clock::now();
    sluice::JobClient job = env.execute_async("large-state");
    while (!built->load()) sleep();
    run.build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The checkpoint in progress now may have started before the last key; the next one did not.
    const int64_t completed = job.metrics().checkpoints_completed;
    while (job.metrics().checkpoints_completed < completed + 2) sleep();
    run.full = job.metrics();
    release->store(true);
    job.wait();
    run.updated = job.metrics();
  }
  {
    auto env = make_env("latest");
    add_job(env);
    run.restored = env.execute("large-state-restored").metrics;
  }
  return run;
}

void bench_large_state(int64_t state_bytes, const std::vector<std::string>& backends,
                       std::chrono::milliseconds interval) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("sluice-large-state-" + std::to_string(::getpid()));
  const int64_t keys = state_bytes / 100;
  for (const std::string& backend : backends) {
    std::filesystem::remove_all(dir);
    const LargeStateRun run =
        run_large_state(backend, keys, (dir / "checkpoints").string(), interval);
    auto mb_per_s = [](uint64_t bytes, double ms) {
      return static_cast<double>(bytes) / 1e6 / (std::max(ms, 0.001) / 1e3);
    };
    const auto& full = run.full;
    const auto& updated = run.updated;
    fmt::print(
        "{{\"bench\":\"large_keyed_state\",\"backend\":\"{}\",\"keys\":{},\"build_s\":{:.1f},"
        "\"full\":{{\"checkpoint_ms\":{:.0f},\"sync_ms\":{:.1f},\"async_ms\":{:.0f},"
        "\"bytes\":{},\"written_bytes\":{},\"mb_per_s\":{:.0f}}},"
        "\"after_1pct_update\":{{\"checkpoint_ms\":{:.0f},\"sync_ms\":{:.1f},\"bytes\":{},"
        "\"written_bytes\":{}}},\"restore_to_running_ms\":{:.0f},\"restore_mb_per_s\":{:.0f}}}\n",
        backend, keys, run.build_s, full.last_checkpoint_ms, full.last_checkpoint_sync_ms,
        full.last_checkpoint_async_ms, full.last_checkpoint_bytes, full.last_checkpoint_new_bytes,
        mb_per_s(full.last_checkpoint_bytes, full.last_checkpoint_ms), updated.last_checkpoint_ms,
        updated.last_checkpoint_sync_ms, updated.last_checkpoint_bytes,
        updated.last_checkpoint_new_bytes, run.restored.startup_ms,
        mb_per_s(updated.last_checkpoint_bytes, run.restored.startup_ms));
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
                        split(config.get_string("backends", "heap,rocksdb,rocksdb-incremental")),
                        config.get_duration("large-state-interval", std::chrono::seconds(5)));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "checkpoint_bench: %s\n", e.what());
    return 1;
  }
}
