// Keyed-state serialization benchmarks (Google Benchmark):
//
//   BM_HeapSnapshotValue   a whole heap-backend snapshot (synchronous and asynchronous part) of
//                          one ValueState over N keys of two int64s holding a three-int64 struct:
//                          Nexmark q18's state
//   BM_HeapSnapshotMap     the same for a MapState of 8 entries per key (N / 8 keys)
//   BM_CopySnapshotBytes   baseline in the same run: copying as many bytes as the value
//                          snapshot writes into a fresh string, the floor any serializer pays
//   BM_KeyHashComposite    KeyHash of a two-int64 key (key_by on a composite key hashes its
//                          serialized bytes, once per record)
//   BM_CheckpointFile      the value snapshot's asynchronous part written to a checkpoint's state
//                          file (fsync included): /0 built whole in memory first, then written (as
//                          before snapshots streamed), /1 streamed key group by key group
//
// bytes_per_second is snapshot bytes per second; items_per_second entries (or keys) per second.
//
//   build/bench/state_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "sluice/checkpoint/checkpoint_location.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/core/key_groups.h"
#include "sluice/state/keyed_state_backend.h"

namespace {

using namespace sluice;

struct PairKey {
  int64_t bidder = 0;
  int64_t auction = 0;
  bool operator==(const PairKey&) const = default;
  template <class H>
  friend H AbslHashValue(H h, const PairKey& k) {
    return H::combine(std::move(h), k.bidder, k.auction);
  }
};
struct Order {
  int64_t date_time = 0;
  int64_t price = 0;
  uint64_t extra_hash = 0;
};

constexpr int kMaxParallelism = 128;

PairKey key_at(int64_t i) { return PairKey{1000 + i % 9973, i}; }

size_t snapshot_bytes(const KeyedBackendSnapshot& snapshot) {
  size_t bytes = 0;
  for (const auto& group : snapshot.groups) bytes += group.bytes.size();
  return bytes;
}

// q18's state: one ValueState over `entries` composite keys.
using ValueBackend = HeapKeyedStateBackend<PairKey>;
std::unique_ptr<ValueBackend> value_backend(int64_t entries) {
  auto backend =
      std::make_unique<ValueBackend>(KeyGroupRange{0, kMaxParallelism - 1}, kMaxParallelism);
  auto& latest = backend->get_state(ValueStateDescriptor<Order>{"latest"});
  for (int64_t i = 0; i < entries; ++i) {
    backend->set_current_key(key_at(i));
    latest.update(Order{i, i * 3, static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL});
  }
  return backend;
}

template <class K>
void measure_snapshots(benchmark::State& state, HeapKeyedStateBackend<K>& backend,
                       int64_t entries) {
  size_t bytes = 0;
  for (auto _ : state) {
    KeyedBackendSnapshot snapshot = backend.snapshot();
    bytes = snapshot_bytes(snapshot);
    benchmark::DoNotOptimize(snapshot);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
  state.SetItemsProcessed(entries * state.iterations());
}

void BM_HeapSnapshotValue(benchmark::State& state) {
  measure_snapshots(state, *value_backend(state.range(0)), state.range(0));
}
BENCHMARK(BM_HeapSnapshotValue)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

void BM_HeapSnapshotMap(benchmark::State& state) {
  const int64_t entries = state.range(0);
  constexpr int64_t kPerKey = 8;
  HeapKeyedStateBackend<int64_t> backend(KeyGroupRange{0, kMaxParallelism - 1}, kMaxParallelism);
  auto& orders = backend.get_map_state(MapStateDescriptor<int64_t, Order>{"orders"});
  for (int64_t i = 0; i < entries; ++i) {
    backend.set_current_key(i / kPerKey);
    orders.put(i % kPerKey, Order{i, i * 3, static_cast<uint64_t>(i)});
  }
  measure_snapshots(state, backend, entries);
}
BENCHMARK(BM_HeapSnapshotMap)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

void BM_CopySnapshotBytes(benchmark::State& state) {
  // What the value snapshot of 1 M entries writes, in as many strings as it has key groups; the
  // backend stays alive, as in a real snapshot (the copies then land in fresh memory too).
  const auto backend = value_backend(state.range(0));
  const KeyedBackendSnapshot source = backend->snapshot();
  size_t bytes = 0;
  for (auto _ : state) {
    std::vector<std::string> copies;
    copies.reserve(source.groups.size());
    for (const auto& group : source.groups) copies.emplace_back(group.bytes);
    bytes = snapshot_bytes(source);
    benchmark::DoNotOptimize(copies);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
}
BENCHMARK(BM_CopySnapshotBytes)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

void BM_KeyHashComposite(benchmark::State& state) {
  const KeyHash<PairKey> hash;
  int64_t i = 0;
  uint64_t sum = 0;
  for (auto _ : state) {
    sum += hash(key_at(i++));
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyHashComposite);

void BM_CheckpointFile(benchmark::State& state) {
  const bool streamed = state.range(0) == 1;
  const auto backend = value_backend(1'000'000);
  const auto dir =
      std::filesystem::temp_directory_path() / ("sluice-state-bench-" + std::to_string(::getpid()));
  CheckpointStorage storage(dir, 1);
  struct ToFile final : SnapshotOutput {
    StateFileWriter* file;
    void write(std::string_view bytes) override { file->write(bytes); }
  };
  int64_t id = 0;
  uint64_t bytes = 0;
  for (auto _ : state) {
    PendingCheckpoint pending = storage.begin(++id);
    StateSnapshot snapshot =
        keyed_operator_snapshot(KeyedOperatorSnapshot{}, {backend->snapshot_async(false)});
    detail::NoSharedFiles files;
    if (streamed) {
      auto writer = pending.location().begin_state("keyed");
      ToFile out;
      out.file = writer.get();
      snapshot.write_to(files, out);
      bytes = writer->close().size;
    } else {
      pending.write_state("keyed", snapshot.materialize(files));
      bytes = snapshot.bytes().size();
    }
    pending.abort();
  }
  std::filesystem::remove_all(dir);
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
}
BENCHMARK(BM_CheckpointFile)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
