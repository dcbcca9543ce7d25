// Snapshots of the heap keyed state backend by key group, restored at other parallelisms
// (rescaling 1 -> 2 -> 3 -> 1): every key's state of every kind ends up, intact, in exactly the
// subtask that owns its key group.
#include <gtest/gtest.h>

#include <map>

#include "sluice/core/key_groups.h"
#include "sluice/state/keyed_state.h"

namespace sluice {
namespace {

constexpr int kMaxParallelism = 128;

struct Avg {
  int64_t sum = 0;
  int64_t count = 0;
};

// Registers every state kind on a backend (in the same order the job would, in open()).
struct States {
  explicit States(HeapKeyedStateBackend<std::string>& b)
      : value(b.get_state(ValueStateDescriptor<int64_t>{"value"})),
        list(b.get_list_state(ListStateDescriptor<std::string>{"list"})),
        map(b.get_map_state(MapStateDescriptor<std::string, double>{"map"})),
        reducing(b.get_reducing_state(ReducingStateDescriptor<int64_t>{
            "reducing", [](const int64_t& a, const int64_t& c) { return std::max(a, c); }})),
        aggregating(b.get_aggregating_state(AggregatingStateDescriptor<int64_t, Avg, double>{
            "aggregating", [] { return Avg{}; },
            [](const int64_t& v, Avg& a) {
              a.sum += v;
              ++a.count;
            },
            [](const Avg& a) {
              return static_cast<double>(a.sum) / static_cast<double>(a.count);
            }})) {}
  ValueState<int64_t>& value;
  ListState<std::string>& list;
  MapState<std::string, double>& map;
  ReducingState<int64_t>& reducing;
  AggregatingState<int64_t, double>& aggregating;
};

std::string key_of(int i) { return "customer-" + std::to_string(i); }

void fill(HeapKeyedStateBackend<std::string>& backend, int keys) {
  States s(backend);
  for (int i = 0; i < keys; ++i) {
    backend.set_current_key(key_of(i));
    s.value.update(i * 3);
    for (int j = 0; j <= i % 4; ++j) s.list.add("item" + std::to_string(j));
    s.map.put("a", i * 0.5);
    s.map.put("b", -i);
    for (int j = 0; j < 3; ++j) {
      s.reducing.add((i * 7 + j) % 50);
      s.aggregating.add(i + j);
    }
  }
}

// What fill() wrote for key i, read back through the handles.
void expect_key(HeapKeyedStateBackend<std::string>& backend, States& s, int i) {
  backend.set_current_key(key_of(i));
  SCOPED_TRACE(key_of(i));
  EXPECT_EQ(s.value.value(), std::optional<int64_t>(i * 3));
  EXPECT_EQ(s.list.get().size(), static_cast<size_t>(i % 4 + 1));
  EXPECT_EQ(s.map.get("a"), std::optional<double>(i * 0.5));
  EXPECT_EQ(s.map.get("b"), std::optional<double>(-i));
  int64_t max = 0;
  for (int j = 0; j < 3; ++j) max = std::max<int64_t>(max, (i * 7 + j) % 50);
  EXPECT_EQ(s.reducing.get(), std::optional<int64_t>(max));
  EXPECT_EQ(s.aggregating.get(), std::optional<double>(i + 1.0));
}

// Snapshots `old`, restores into `parallelism` new backends, and checks every key lands once.
std::vector<std::unique_ptr<HeapKeyedStateBackend<std::string>>> rescale(
    const std::vector<std::unique_ptr<HeapKeyedStateBackend<std::string>>>& old, int parallelism,
    int keys, bool register_first) {
  std::vector<KeyGroupSnapshot> all;
  for (const auto& backend : old) {
    auto groups = backend->snapshot();
    all.insert(all.end(), groups.begin(), groups.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kMaxParallelism)) << "every key group, once";
  std::vector<std::unique_ptr<HeapKeyedStateBackend<std::string>>> next;
  for (int s = 0; s < parallelism; ++s) {
    auto range = key_group_range_for_subtask(s, parallelism, kMaxParallelism);
    auto backend = std::make_unique<HeapKeyedStateBackend<std::string>>(range, kMaxParallelism);
    std::unique_ptr<States> states;
    if (register_first) states = std::make_unique<States>(*backend);  // restore decodes at once
    backend->restore(all);
    if (!register_first) states = std::make_unique<States>(*backend);  // decodes on registration
    size_t owned = 0;
    for (int i = 0; i < keys; ++i) {
      if (!range.contains(key_group_for_key(key_of(i), kMaxParallelism))) continue;
      expect_key(*backend, *states, i);
      ++owned;
    }
    size_t present = 0;  // and no key of another subtask's key groups
    backend->apply_to_all_keys(ValueStateDescriptor<int64_t>{"value"},
                               [&](const std::string&, ValueState<int64_t>&) { ++present; });
    EXPECT_EQ(present, owned);
    next.push_back(std::move(backend));
  }
  return next;
}

TEST(KeyedStateSnapshot, RescalingMovesEveryKeyGroupIntact) {
  constexpr int kKeys = 2'000;
  std::vector<std::unique_ptr<HeapKeyedStateBackend<std::string>>> one;
  one.push_back(std::make_unique<HeapKeyedStateBackend<std::string>>(
      KeyGroupRange{0, kMaxParallelism - 1}, kMaxParallelism));
  fill(*one[0], kKeys);
  auto two = rescale(one, 2, kKeys, false);
  auto three = rescale(two, 3, kKeys, true);
  auto back_to_one = rescale(three, 1, kKeys, false);
  // The same amount of state as the original, key group by key group (the bytes may differ only
  // in the order of hash map entries).
  auto before = one[0]->snapshot();
  auto after = back_to_one[0]->snapshot();
  ASSERT_EQ(before.size(), after.size());
  size_t total_bytes = 0;
  for (size_t g = 0; g < before.size(); ++g) {
    EXPECT_EQ(before[g].key_group, after[g].key_group);
    EXPECT_EQ(before[g].bytes.size(), after[g].bytes.size()) << "key group " << g;
    total_bytes += after[g].bytes.size();
  }
  EXPECT_GT(total_bytes, 50'000u);
}

TEST(KeyedStateSnapshot, StatesNotRegisteredAfterRestoreAreKept) {
  HeapKeyedStateBackend<std::string> original(KeyGroupRange{0, 127}, kMaxParallelism);
  fill(original, 100);
  HeapKeyedStateBackend<std::string> restored(KeyGroupRange{0, 127}, kMaxParallelism);
  restored.restore(original.snapshot());
  // Nothing registered: a second snapshot still carries everything.
  HeapKeyedStateBackend<std::string> again(KeyGroupRange{0, 127}, kMaxParallelism);
  again.restore(restored.snapshot());
  States s(again);
  for (int i = 0; i < 100; ++i) expect_key(again, s, i);
}

TEST(KeyedStateSnapshot, TtlTimestampsSurviveARestore) {
  Timestamp now = 10'000;
  HeapKeyedStateBackend<int64_t> original(KeyGroupRange{0, 127}, kMaxParallelism);
  original.set_ttl_time_provider([&now] { return now; });
  const ValueStateDescriptor<int64_t> d{"v", StateTtlConfig{Duration(100)}};
  auto& v = original.get_state(d);
  original.set_current_key(1);
  v.update(5);
  now += 60;
  HeapKeyedStateBackend<int64_t> restored(KeyGroupRange{0, 127}, kMaxParallelism);
  restored.set_ttl_time_provider([&now] { return now; });
  restored.restore(original.snapshot());
  auto& r = restored.get_state(d);
  restored.set_current_key(1);
  EXPECT_EQ(r.value(), std::optional<int64_t>(5));
  now += 40;  // 100 ms after the write, not after the restore
  EXPECT_EQ(r.value(), std::nullopt);
}

TEST(KeyedStateSnapshot, TruncatedSnapshotIsAnError) {
  HeapKeyedStateBackend<std::string> original(KeyGroupRange{0, 127}, kMaxParallelism);
  fill(original, 50);
  auto groups = original.snapshot();
  for (auto& g : groups) {
    if (g.bytes.size() > 10) g.bytes.resize(g.bytes.size() - 3);
  }
  HeapKeyedStateBackend<std::string> restored(KeyGroupRange{0, 127}, kMaxParallelism);
  EXPECT_THROW(
      {
        restored.restore(groups);
        States s(restored);
      },
      Error);
}

}  // namespace
}  // namespace sluice
