// Snapshots of the keyed state backends by key group, restored at other parallelisms (rescaling
// 1 -> 2 -> 3 -> 1): every key's state of every kind ends up, intact, in exactly the subtask that
// owns its key group. Every test runs on the heap backend and on RocksDB, with full (canonical)
// and incremental (native) snapshots; a snapshot of one backend restores into the other.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "sluice/core/key_groups.h"
#include "sluice/state/keyed_state_backend.h"
#include "state/backend_test_util.h"

namespace sluice {
namespace {

constexpr int kMaxParallelism = 128;

struct Avg {
  int64_t sum = 0;
  int64_t count = 0;
};

// Registers every state kind on a backend (in the same order the job would, in open()).
struct States {
  explicit States(KeyedStateBackend<std::string>& b)
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

void fill(KeyedStateBackend<std::string>& backend, int keys) {
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
void expect_key(KeyedStateBackend<std::string>& backend, States& s, int i) {
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

using testing::Backend;

class KeyedStateSnapshot : public testing::BackendTest {
 protected:
  using Backends = std::vector<std::unique_ptr<KeyedStateBackend<std::string>>>;

  // Snapshots `old`, restores into `parallelism` new backends, and checks every key lands once.
  Backends rescale(const Backends& old, int parallelism, int keys, bool register_first) {
    std::vector<KeyedBackendSnapshot> all;
    size_t groups = 0;
    for (const auto& backend : old) {
      all.push_back(checkpoint(*backend));
      groups += all.back().groups.size();
    }
    if (GetParam() != Backend::kRocksDbIncremental) {
      EXPECT_EQ(groups, static_cast<size_t>(kMaxParallelism)) << "every key group, once";
    }
    Backends next;
    for (int s = 0; s < parallelism; ++s) {
      auto range = key_group_range_for_subtask(s, parallelism, kMaxParallelism);
      auto backend = make<std::string>(range, kMaxParallelism);
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
};

TEST(KeyedOperatorSnapshotStream, PiecesAreExactlyTheSerializedSnapshot) {
  // Restores read the file as to_bytes() wrote it before snapshots were streamed: same bytes.
  KeyedOperatorSnapshot snapshot;
  snapshot.watermark = 123'456;
  KeyedBackendSnapshot heap;
  heap.groups.push_back({0, std::string(10, 'a')});
  heap.groups.push_back({1, std::string(100'000, 'b')});  // written as its own piece
  heap.groups.push_back({5, ""});
  KeyedBackendSnapshot native;
  native.native = "rocksdb checkpoint description";
  native.groups.push_back({7, std::string(5'000, 'c')});
  snapshot.backends = {heap, native, KeyedBackendSnapshot{}};
  snapshot.internal.push_back({3, std::string(4'095, 'd')});
  snapshot.internal.push_back({4, std::string(4'096, 'e')});
  snapshot.broadcast["rules"] = "x";
  snapshot.broadcast["window_layout"] = "per_window";

  struct Pieces final : SnapshotOutput {
    std::vector<std::string> pieces;
    void write(std::string_view bytes) override { pieces.emplace_back(bytes); }
  } out;
  write_keyed_operator_snapshot(snapshot, out);
  std::string joined;
  for (const auto& piece : out.pieces) joined += piece;
  EXPECT_EQ(joined, to_bytes(snapshot));
  EXPECT_GE(out.pieces.size(), 5u) << "large key groups go out as their own pieces";

  // A streamed StateSnapshot materializes to the same bytes, or writes them once to an output.
  auto streamed = [&] {
    return StateSnapshot::streamed(
        [&](SnapshotFiles&, SnapshotOutput& o) { write_keyed_operator_snapshot(snapshot, o); });
  };
  detail::NoSharedFiles files;
  StateSnapshot kept = streamed();
  EXPECT_FALSE(kept.materialized());
  EXPECT_EQ(kept.materialize(files), joined);
  StateSnapshot spent = streamed();
  Pieces written;
  spent.write_to(files, written);
  EXPECT_TRUE(spent.materialized());
  EXPECT_TRUE(spent.bytes().empty()) << "a streamed snapshot keeps nothing";
  std::string written_joined;
  for (const auto& piece : written.pieces) written_joined += piece;
  EXPECT_EQ(written_joined, joined);
}

TEST_P(KeyedStateSnapshot, RescalingMovesEveryKeyGroupIntact) {
  constexpr int kKeys = 2'000;
  Backends one;
  one.push_back(make<std::string>(KeyGroupRange{0, kMaxParallelism - 1}, kMaxParallelism));
  fill(*one[0], kKeys);
  auto two = rescale(one, 2, kKeys, false);
  auto three = rescale(two, 3, kKeys, true);
  auto back_to_one = rescale(three, 1, kKeys, false);
  // The same amount of state as the original, key group by key group (the bytes may differ only
  // in the order of entries).
  auto before = one[0]->snapshot().groups;
  auto after = back_to_one[0]->snapshot().groups;
  ASSERT_EQ(before.size(), after.size());
  size_t total_bytes = 0;
  for (size_t g = 0; g < before.size(); ++g) {
    EXPECT_EQ(before[g].key_group, after[g].key_group);
    EXPECT_EQ(before[g].bytes.size(), after[g].bytes.size()) << "key group " << g;
    total_bytes += after[g].bytes.size();
  }
  EXPECT_GT(total_bytes, 50'000u);
}

TEST_P(KeyedStateSnapshot, StatesNotRegisteredAfterRestoreAreKept) {
  auto original = make<std::string>(KeyGroupRange{0, 127});
  fill(*original, 100);
  auto restored = make<std::string>(KeyGroupRange{0, 127});
  restored->restore(checkpoint(*original));
  // Nothing registered: a second snapshot still carries everything.
  auto again = make<std::string>(KeyGroupRange{0, 127});
  again->restore(checkpoint(*restored));
  States s(*again);
  for (int i = 0; i < 100; ++i) expect_key(*again, s, i);
}

TEST_P(KeyedStateSnapshot, TtlTimestampsSurviveARestore) {
  Timestamp now = 10'000;
  auto original = make<int64_t>(KeyGroupRange{0, 127});
  original->set_ttl_time_provider([&now] { return now; });
  const ValueStateDescriptor<int64_t> d{"v", StateTtlConfig{Duration(100)}};
  auto& v = original->get_state(d);
  original->set_current_key(1);
  v.update(5);
  now += 60;
  auto restored = make<int64_t>(KeyGroupRange{0, 127});
  restored->set_ttl_time_provider([&now] { return now; });
  restored->restore(checkpoint(*original));
  auto& r = restored->get_state(d);
  restored->set_current_key(1);
  EXPECT_EQ(r.value(), std::optional<int64_t>(5));
  now += 40;  // 100 ms after the write, not after the restore
  EXPECT_EQ(r.value(), std::nullopt);
}

TEST_P(KeyedStateSnapshot, TruncatedSnapshotIsAnError) {
  auto original = make<std::string>(KeyGroupRange{0, 127});
  fill(*original, 50);
  KeyedBackendSnapshot snapshot = original->snapshot();
  for (auto& g : snapshot.groups) {
    if (g.bytes.size() > 10) g.bytes.resize(g.bytes.size() - 3);
  }
  auto restored = make<std::string>(KeyGroupRange{0, 127});
  EXPECT_THROW(
      {
        restored->restore(snapshot);
        States s(*restored);
      },
      Error);
}

// Savepoints are canonical: one backend's restores into the other.
TEST_P(KeyedStateSnapshot, ACanonicalSnapshotRestoresIntoEitherBackend) {
  auto original = make<std::string>(KeyGroupRange{0, 127});
  fill(*original, 300);
  const KeyedBackendSnapshot savepoint = original->snapshot_async(true)(*shared_);
  EXPECT_TRUE(savepoint.native.empty());
  for (StateBackendKind kind : {StateBackendKind::kHeap, StateBackendKind::kRocksDb}) {
    StateBackendOptions options = options_;
    options.kind = kind;
    KeyedBackendSetup setup{&options, "switch", shared_->folder()};
    auto other = make_keyed_state_backend<std::string>(KeyGroupRange{64, 127}, 128, setup);
    other->restore(savepoint);
    States s(*other);
    for (int i = 0; i < 300; ++i) {
      if (KeyGroupRange{64, 127}.contains(key_group_for_key(key_of(i), 128)))
        expect_key(*other, s, i);
    }
  }
}

// The asynchronous part sees the state as of the synchronous part, whatever the task writes in
// between (copy on write for the heap, a RocksDB snapshot or native checkpoint).
TEST_P(KeyedStateSnapshot, WritesAfterTheSynchronousPartAreNotInTheSnapshot) {
  auto backend = make<std::string>(KeyGroupRange{0, 127});
  fill(*backend, 200);
  auto materialize = backend->snapshot_async(false);
  States s(*backend);
  for (int i = 0; i < 200; ++i) {  // changes every key, and adds keys
    backend->set_current_key(key_of(i));
    s.value.update(-1);
    s.list.clear();
    s.map.remove("a");
  }
  fill(*backend, 400);  // keys 200..399 are new; 0..199 get more list items and values
  const KeyedBackendSnapshot snapshot = materialize(*shared_);
  auto restored = make<std::string>(KeyGroupRange{0, 127});
  restored->restore(snapshot);
  States r(*restored);
  for (int i = 0; i < 200; ++i) expect_key(*restored, r, i);
  restored->set_current_key(key_of(250));
  EXPECT_EQ(r.value.value(), std::nullopt) << "a key written after the snapshot";
}

// A snapshot nobody writes (its checkpoint was abandoned) releases what it froze, and the next
// one is complete.
TEST_P(KeyedStateSnapshot, AnAbandonedSnapshotDoesNotDisturbTheNext) {
  auto backend = make<std::string>(KeyGroupRange{0, 127});
  fill(*backend, 100);
  { auto dropped = backend->snapshot_async(false); }
  auto kept = backend->snapshot_async(false);
  fill(*backend, 150);
  auto restored = make<std::string>(KeyGroupRange{0, 127});
  restored->restore(kept(*shared_));
  States r(*restored);
  for (int i = 0; i < 100; ++i) expect_key(*restored, r, i);
}

// One key's value, list and map state, as the model of the next test keeps it.
struct Entry {
  std::optional<int64_t> value;
  std::vector<int64_t> list;
  std::map<int64_t, int64_t> map;
  bool operator==(const Entry&) const = default;
  friend std::ostream& operator<<(std::ostream& out, const Entry& e) {
    out << "value " << (e.value ? std::to_string(*e.value) : "none") << ", list [";
    for (int64_t v : e.list) out << v << " ";
    out << "], map {";
    for (const auto& [k, v] : e.map) out << k << ":" << v << " ";
    return out << "}";
  }
};

// Random changes to every state kind, with snapshots taken at random points whose asynchronous
// parts run on another thread at once, later (while the task goes on changing state, and takes
// the next snapshot), or never: every snapshot restores to exactly the state of its synchronous
// part, and reads always see the latest changes (the heap's overlays, merged or not).
TEST_P(KeyedStateSnapshot, RandomChangesDuringSnapshotsMatchAModel) {
  using Model = std::map<int64_t, Entry>;
  constexpr int64_t kKeys = 300;
  struct Handles {
    explicit Handles(KeyedStateBackend<int64_t>& b)
        : value(b.get_state(ValueStateDescriptor<int64_t>{"value"})),
          list(b.get_list_state(ListStateDescriptor<int64_t>{"list"})),
          map(b.get_map_state(MapStateDescriptor<int64_t, int64_t>{"map"})) {}
    ValueState<int64_t>& value;
    ListState<int64_t>& list;
    MapState<int64_t, int64_t>& map;
  };
  auto read = [](KeyedStateBackend<int64_t>& b, Handles& h, int64_t key) {
    b.set_current_key(key);
    Entry e{h.value.value(), h.list.get(), {}};
    for (const auto& [k, v] : h.map.entries()) e.map[k] = v;
    return e;
  };
  auto expect_restores_to = [&](KeyedBackendSnapshot snapshot, const Model& expected, int step) {
    auto restored = make<int64_t>(KeyGroupRange{0, 127});
    restored->restore(std::move(snapshot));
    Handles r(*restored);
    for (int64_t key = 0; key < kKeys; ++key) {
      auto it = expected.find(key);
      ASSERT_EQ(read(*restored, r, key), it == expected.end() ? Entry{} : it->second)
          << "key " << key << " of the snapshot taken at step " << step;
    }
  };

  auto backend = make<int64_t>(KeyGroupRange{0, 127});
  Handles h(*backend);
  Model model;
  std::mt19937_64 rng(static_cast<uint64_t>(GetParam()) + 17);
  auto pick = [&](int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(rng); };
  struct Pending {
    typename KeyedStateBackend<int64_t>::Materialize materialize;
    Model expected;
    int step;
    int run_at;  // the step at which its asynchronous part starts
    std::optional<std::thread> thread;
    KeyedBackendSnapshot result;
    ~Pending() {
      if (thread && thread->joinable()) thread->join();
    }
  };
  std::vector<std::unique_ptr<Pending>> pending;
  auto start = [&](Pending& p) {
    p.thread.emplace([this, &p] { p.result = p.materialize(*shared_); });
  };
  auto finish = [&](Pending& p) {
    if (p.thread) p.thread->join();
    expect_restores_to(std::move(p.result), p.expected, p.step);
  };
  for (int step = 0; step < 20'000; ++step) {
    const int64_t key = pick(kKeys);
    backend->set_current_key(key);
    Entry& e = model[key];
    switch (pick(9)) {
      case 0:
        h.value.update(step);
        e.value = step;
        break;
      case 1:
        h.value.clear();
        e.value.reset();
        break;
      case 2:
        h.list.add(step);
        e.list.push_back(step);
        break;
      case 3:
        h.list.clear();
        e.list.clear();
        break;
      case 4:
        h.map.put(step % 7, step);
        e.map[step % 7] = step;
        break;
      case 5:
        h.map.remove(step % 7);
        e.map.erase(step % 7);
        break;
      case 6:
        backend->clear_current_key();
        e = Entry{};
        break;
      default:
        ASSERT_EQ(read(*backend, h, key), e) << "key " << key << " at step " << step;
    }
    if (pick(700) == 0) {  // a snapshot, run now, later, or never
      auto p = std::make_unique<Pending>();
      p->materialize = backend->snapshot_async(false);
      p->expected = model;
      std::erase_if(p->expected, [](const auto& kv) { return kv.second == Entry{}; });
      p->step = step;
      const int64_t when = pick(3);
      p->run_at = when == 2 ? -1 : step + static_cast<int>(when * pick(2'000));
      pending.push_back(std::move(p));
    }
    for (auto& p : pending) {
      if (p->run_at == step) start(*p);
    }
    std::erase_if(pending, [&](const std::unique_ptr<Pending>& p) {
      if (p->run_at < 0 && p->step + 3'000 < step) return true;  // abandoned: dropped unrun
      if (p->run_at < 0 || p->run_at + 1'000 > step) return false;
      finish(*p);
      return true;
    });
    if (HasFatalFailure()) return;
  }
  for (auto& p : pending) {
    if (p->run_at < 0) continue;
    if (!p->thread) start(*p);
    finish(*p);
  }
}

// A key changed over and over while asynchronous parts finish its key group at any moment: no
// change is lost (a heap table that saw the group frozen, then wrote to the map because the group
// was done by then, had its change overwritten by the overlay's older copy).
TEST_P(KeyedStateSnapshot, ChangesRacingTheAsynchronousPartAreNeverLost) {
  constexpr int kSnapshots = 200;
  auto backend = make<int64_t>(KeyGroupRange{0, 127});
  auto& count = backend->get_state(ValueStateDescriptor<int64_t>{"count"});
  auto& list = backend->get_list_state(ListStateDescriptor<int64_t>{"list"});
  backend->set_current_key(42);
  int64_t increments = 0;
  for (int snapshot = 0; snapshot < kSnapshots; ++snapshot) {
    auto materialize = backend->snapshot_async(false);
    std::atomic<bool> done{false};
    std::thread async([&] {
      materialize(*shared_);
      done = true;
    });
    do {
      count.update(count.value().value_or(0) + 1);
      ++increments;
    } while (!done.load());
    list.add(snapshot);
    async.join();
    ASSERT_EQ(count.value(), increments) << "after snapshot " << snapshot;
  }
  EXPECT_EQ(list.get().size(), static_cast<size_t>(kSnapshots));
}

INSTANTIATE_TEST_SUITE_P(Backends, KeyedStateSnapshot,
                         ::testing::Values(Backend::kHeap, Backend::kRocksDb,
                                           Backend::kRocksDbIncremental),
                         testing::backend_name);

}  // namespace
}  // namespace sluice
