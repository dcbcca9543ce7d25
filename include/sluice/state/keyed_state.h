// Keyed state: values scoped to the key of the record being processed (Flink's ValueState,
// ListState, MapState, ReducingState, AggregatingState), with optional time-to-live, and the
// backends that store them: the heap backend here, the RocksDB backend in rocksdb_keyed_state.h.
//
//   ValueState<double>& average = ctx.get_state(ValueStateDescriptor<double>("average"));
//   double a = average.value().value_or(0);      // the current key's value, if any
//   average.update(a * 0.9 + amount * 0.1);
//
// Both backends store state by key group (see key_groups.h), so a subtask's state is the union of
// its key groups and is redistributed by key group when the parallelism changes.
//
// Snapshots have a synchronous part on the task thread and an asynchronous one (see
// state_snapshot.h). The heap backend freezes its key groups: the asynchronous part serializes
// them off the task thread while the task's changes to a group not serialized yet go to an overlay
// (copy on write per entry, as Flink's heap backend), merged once the group is done. Snapshots are
// in one canonical format whatever the backend (savepoints restore into either); RocksDB's
// incremental checkpoints are its own native format instead.
//
// Canonical format of one key group: u32 number of states, then per state its name
// (length-prefixed), its StateKind (u8) and its entries (length-prefixed): u32 count, then per
// entry — kValue: lp(key) lp(value) i64 last-touched; kMap: lp(key) u32 n, n x (lp(user key)
// lp(user value) i64 last-touched). lp(x): u32 length, then x's Serializer bytes.
//
// TTL (StateTtlConfig): an entry expires `ttl` after it was written (or also read, with
// kOnReadAndWrite). Expired values are never returned; they are removed when accessed and by a
// periodic background sweep of the operator (RocksDB: by a compaction filter).
//
// Threading: a backend and its handles belong to one operator instance (one task thread); only
// the asynchronous part of a snapshot runs elsewhere.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/error.h"
#include "sluice/core/key_groups.h"
#include "sluice/core/serialization.h"
#include "sluice/core/time.h"
#include "sluice/state/state_backend_options.h"
#include "sluice/state/state_snapshot.h"

namespace sluice {

// MapState's storage.
template <class K, class V>
struct Serializer<absl::flat_hash_map<K, V>> {
  static void serialize(const absl::flat_hash_map<K, V>& value, BufferWriter& out) {
    out.write_length(value.size());
    for (const auto& [k, v] : value) {
      Serializer<K>::serialize(k, out);
      Serializer<V>::serialize(v, out);
    }
  }
  static absl::flat_hash_map<K, V> deserialize(BufferReader& in) {
    const size_t n = in.read_length();
    absl::flat_hash_map<K, V> result;
    result.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      K k = Serializer<K>::deserialize(in);
      result.insert_or_assign(std::move(k), Serializer<V>::deserialize(in));
    }
    return result;
  }
};

template <class E>
struct Serializer<absl::flat_hash_set<E>> {
  static void serialize(const absl::flat_hash_set<E>& value, BufferWriter& out) {
    out.write_length(value.size());
    for (const auto& e : value) Serializer<E>::serialize(e, out);
  }
  static absl::flat_hash_set<E> deserialize(BufferReader& in) {
    const size_t n = in.read_length();
    absl::flat_hash_set<E> result;
    result.reserve(n);
    for (size_t i = 0; i < n; ++i) result.insert(Serializer<E>::deserialize(in));
    return result;
  }
};

template <class K, class V>
struct IsSerializable<absl::flat_hash_map<K, V>>
    : std::bool_constant<kSerializable<K> && kSerializable<V>> {};
template <class E>
struct IsSerializable<absl::flat_hash_set<E>> : IsSerializable<E> {};

struct StateTtlConfig {
  enum class Update { kOnCreateAndWrite, kOnReadAndWrite };
  Duration ttl{0};  // 0: no TTL
  Update update = Update::kOnCreateAndWrite;
};

template <class V>
struct ValueStateDescriptor {
  std::string name;
  StateTtlConfig ttl{};
};
template <class V>
struct ListStateDescriptor {
  std::string name;
  StateTtlConfig ttl{};
};
template <class UK, class UV>
struct MapStateDescriptor {
  std::string name;
  StateTtlConfig ttl{};
};
template <class V>
struct ReducingStateDescriptor {
  std::string name;
  std::function<V(const V&, const V&)> reduce;
  StateTtlConfig ttl{};
};
template <class In, class Acc, class Out>
struct AggregatingStateDescriptor {
  std::string name;
  std::function<Acc()> create;
  std::function<void(const In&, Acc&)> add;
  std::function<Out(const Acc&)> result;
  StateTtlConfig ttl{};
};

template <class V>
class ValueState {
 public:
  virtual ~ValueState() = default;
  virtual std::optional<V> value() = 0;
  virtual void update(const V& value) = 0;
  virtual void clear() = 0;
};

template <class V>
class ListState {
 public:
  virtual ~ListState() = default;
  // Empty when the key has no list.
  virtual const std::vector<V>& get() = 0;
  virtual void add(const V& value) = 0;
  virtual void update(std::vector<V> values) = 0;
  virtual void clear() = 0;
};

template <class UK, class UV>
class MapState {
 public:
  virtual ~MapState() = default;
  virtual std::optional<UV> get(const UK& key) = 0;
  virtual void put(const UK& key, const UV& value) = 0;
  virtual void remove(const UK& key) = 0;
  virtual bool contains(const UK& key) = 0;
  // The current key's whole map (empty when none).
  virtual const absl::flat_hash_map<UK, UV>& entries() = 0;
  virtual void clear() = 0;
};

template <class V>
class ReducingState {
 public:
  virtual ~ReducingState() = default;
  virtual std::optional<V> get() = 0;
  virtual void add(const V& value) = 0;
  virtual void clear() = 0;
};

template <class In, class Out>
class AggregatingState {
 public:
  virtual ~AggregatingState() = default;
  virtual std::optional<Out> get() = 0;
  virtual void add(const In& value) = 0;
  virtual void clear() = 0;
};

// The clock TTL is measured against: wall-clock milliseconds unless a test or a replay injects
// its own (Flink's TtlTimeProvider).
using TtlTimeProvider = std::function<Timestamp()>;

// How a state's entries are laid out in snapshots (see the format above).
enum class StateKind : uint8_t { kValue = 0, kMap = 1 };

// One key group's keyed state in the canonical format: the unit of snapshots and of rescaling (a
// subtask restored at another parallelism takes the key groups of its new range, from whichever
// old subtasks held them).
struct KeyGroupSnapshot {
  int key_group = 0;
  std::string bytes;
};

// What one keyed backend puts in a checkpoint: key groups in the canonical format, or (RocksDB
// incremental checkpoints) a description of a native RocksDB checkpoint whose SST files are shared
// files of the checkpoint.
struct KeyedBackendSnapshot {
  std::vector<KeyGroupSnapshot> groups;
  std::string native;
};

// The asynchronous part of a keyed backend's snapshot.
using BackendMaterialize = std::function<KeyedBackendSnapshot(SnapshotFiles&)>;

template <class K>
class HeapKeyedStateBackend;
template <class K>
class RocksDbKeyedStateBackend;

namespace detail {

// Hands the key groups of one heap snapshot out to whoever serializes them first: the
// asynchronous part (in order) or the task thread (a key group it is about to change). Each group
// is serialized exactly once, while nobody writes to it.
class HeapSnapshotSync {
 public:
  explicit HeapSnapshotSync(size_t groups) : states_(groups), blobs_(groups) {}
  size_t size() const { return states_.size(); }
  // True if the caller now owns group i and must publish it.
  bool claim(size_t i) {
    uint8_t expected = kPending;
    return states_[i].compare_exchange_strong(expected, kClaimed, std::memory_order_acq_rel);
  }
  void publish(size_t i, std::string blob) {
    blobs_[i] = std::move(blob);
    states_[i].store(kDone, std::memory_order_release);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
  void wait_done(size_t i) const {
    while (states_[i].load(std::memory_order_acquire) != kDone) std::this_thread::yield();
  }
  bool is_done(size_t i) const { return states_[i].load(std::memory_order_acquire) == kDone; }
  bool all_done() const { return done_.load(std::memory_order_acquire) == states_.size(); }
  std::string& blob(size_t i) { return blobs_[i]; }
  // Nothing more is serialized (the backend closes, or the snapshot was dropped); returns once
  // no group is being serialized.
  void cancel() {
    cancelled_.store(true, std::memory_order_release);
    for (size_t i = 0; i < states_.size(); ++i) {
      if (claim(i)) {
        publish(i, {});
      } else {
        wait_done(i);
      }
    }
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // The asynchronous part: serializes, in order, every group nobody claimed yet (`serialize(i)`
  // gives group i's bytes), then waits for the ones the task claimed. False if the snapshot was
  // cancelled (its owner closed): the blobs are incomplete.
  template <class Serialize>
  bool serialize_unclaimed(Serialize&& serialize) {
    for (size_t i = 0; i < size(); ++i) {
      if (claim(i)) publish(i, serialize(i));
    }
    for (size_t i = 0; i < size(); ++i) wait_done(i);
    return !cancelled();
  }

 private:
  enum : uint8_t { kPending, kClaimed, kDone };
  std::vector<std::atomic<uint8_t>> states_;
  std::vector<std::string> blobs_;
  std::atomic<size_t> done_{0};
  std::atomic<bool> cancelled_{false};
};

// How the tables of a heap backend learn which key groups a snapshot in progress still reads. A
// frozen group's maps are read, never changed, by the snapshot's asynchronous part; the task puts
// its changes into an overlay instead (entry-level copy on write) and merges it once the group is
// serialized. Operations on a whole group (TTL sweeps, restores) settle it first: the task
// serializes it itself, or waits for the asynchronous part to finish it. Task thread only.
struct WriteGuard {
  std::shared_ptr<HeapSnapshotSync> snapshot;  // the latest snapshot; null before the first
  bool active = false;                         // some group of it is not serialized yet
  std::function<void(size_t local)> settle;    // the backend's
  bool frozen(size_t local) {
    if (!active) return false;
    if (!snapshot->is_done(local)) return true;
    if (snapshot->all_done()) active = false;
    return false;
  }
  void settle_if_frozen(size_t local) {
    if (frozen(local)) settle(local);
  }
  // Group `local` of the snapshot serialized by the caller (`serialize(local)` gives its bytes)
  // unless the asynchronous part claimed it first, then waited for.
  template <class Serialize>
  void serialize_or_wait(size_t local, Serialize&& serialize) {
    if (snapshot->claim(local)) {
      snapshot->publish(local, serialize(local));
    } else {
      snapshot->wait_done(local);
    }
  }
  // A new snapshot starts: the previous one's remaining groups are serialized first.
  template <class Serialize>
  void finish_previous(Serialize&& serialize) {
    if (!snapshot) return;
    if (active) {
      for (size_t i = 0; i < snapshot->size(); ++i) serialize_or_wait(i, serialize);
    }
    active = false;
    snapshot.reset();
  }
};

// The asynchronous side of a snapshot of key groups frozen under a WriteGuard: made when the
// snapshot freezes them; take() (once, on the thread writing the checkpoint) serializes the groups
// the task did not claim (`serialize(local)` gives a group's bytes) and hands every group's bytes
// over in order. Dropped without take(), it cancels the snapshot, so that the task may change the
// groups again. Shared by the copies of the function that holds it.
template <class SerializeGroup>
class FrozenGroups {
 public:
  FrozenGroups(WriteGuard& guard, KeyGroupRange range, SerializeGroup serialize)
      : sync_(std::make_shared<HeapSnapshotSync>(static_cast<size_t>(range.size()))),
        serialize_(std::move(serialize)),
        first_group_(range.start) {
    guard.snapshot = sync_;
    guard.active = true;
  }
  ~FrozenGroups() {
    if (!taken_) sync_->cancel();
  }
  FrozenGroups(const FrozenGroups&) = delete;
  FrozenGroups& operator=(const FrozenGroups&) = delete;

  // With `skip_empty`, groups without bytes are left out. Throws `closed_error` if the snapshot
  // was cancelled (its owner closed): the bytes would be incomplete.
  std::vector<KeyGroupSnapshot> take(bool skip_empty, const std::string& closed_error) {
    taken_ = true;
    if (!sync_->serialize_unclaimed(serialize_))
      throw Error(ErrorCategory::kInternal, closed_error);
    std::vector<KeyGroupSnapshot> groups;
    for (size_t i = 0; i < sync_->size(); ++i) {
      if (skip_empty && sync_->blob(i).empty()) continue;
      groups.push_back(
          KeyGroupSnapshot{first_group_ + static_cast<int>(i), std::move(sync_->blob(i))});
    }
    return groups;
  }

 private:
  std::shared_ptr<HeapSnapshotSync> sync_;
  SerializeGroup serialize_;
  int first_group_;
  bool taken_ = false;
};

// Per-key storage of one state, one hash map per key group, with TTL bookkeeping. While a
// snapshot has not serialized a key group (see WriteGuard), the group's map stays as it was and
// changes go to the group's overlay: a changed entry is copied there on its first change, a
// removed one leaves an empty optional. Reads look in the overlay first. Once the snapshot is done
// with the group, the overlay is merged at the next access: a snapshot costs the task one copy of
// each entry it changes while the snapshot runs, not a copy of the state.
template <class K, class S>
class KeyedTable {
 public:
  struct Slot {
    S value;
    Timestamp touched = 0;
  };

  KeyedTable(KeyGroupRange range, StateTtlConfig ttl, const TtlTimeProvider* clock,
             WriteGuard* guard)
      : range_(range), ttl_(ttl.ttl.count()), ttl_config_(ttl), clock_(clock), guard_(guard) {
    maps_.resize(static_cast<size_t>(range.size()));
    overlays_.resize(maps_.size());
  }

  // The current key's slot for reading, or null (expired entries are removed and count as
  // absent). Change it only through find_for_change().
  const Slot* find(const K& key, int key_group) {
    const Group g = prepare(key_group);
    const Slot* slot = lookup(key, g.index);
    if (slot == nullptr || ttl_ <= 0) return slot;
    const Timestamp now = (*clock_)();
    if (now - slot->touched >= ttl_) {
      erase(key, key_group);
      return nullptr;
    }
    if (ttl_config_.update == StateTtlConfig::Update::kOnReadAndWrite) {
      Slot* writable = find_for_change(key, g);
      writable->touched = now;
      return writable;
    }
    return slot;
  }
  // The key's slot for reading, or null, without merging the group's overlay (so that slots of
  // the group others hold stay put) and without expiring anything.
  const Slot* peek(const K& key, int key_group) const { return lookup(key, local(key_group)); }
  // The current key's slot, to be changed in place, or null. Refreshes nothing.
  Slot* find_for_change(const K& key, int key_group) {
    const Group g = prepare(key_group);
    return find_for_change(key, g);
  }
  // The current key's slot for a write (refreshed), created by `make` if absent or expired.
  Slot& find_or_create(const K& key, int key_group, const std::function<S()>& make) {
    const Group g = prepare(key_group);
    const size_t i = g.index;
    Slot* slot = nullptr;
    bool created = false;
    if (!g.frozen) {
      auto [it, inserted] = maps_[i].try_emplace(key);
      slot = &it->second;
      created = inserted;
    } else if ((slot = find_for_change(key, g)) == nullptr) {
      slot = &overlays_[i][key].emplace();  // absent, or removed while frozen
      created = true;
    }
    if (ttl_ > 0) {
      const Timestamp now = (*clock_)();
      created = created || now - slot->touched >= ttl_;  // an expired value is replaced
      slot->touched = now;
    }
    if (created) slot->value = make();
    return *slot;
  }
  void erase(const K& key, int key_group) {
    const Group g = prepare(key_group);
    const size_t i = g.index;
    if (!g.frozen) {
      maps_[i].erase(key);
    } else if (maps_[i].contains(key)) {
      overlays_[i].insert_or_assign(key, std::nullopt);
    } else {
      overlays_[i].erase(key);
    }
  }

  // Background TTL sweep over every key group.
  size_t remove_expired(Timestamp now) {
    if (ttl_ <= 0) return 0;
    size_t removed = 0;
    for (size_t i = 0; i < maps_.size(); ++i) {
      settle(i);
      removed += absl::erase_if(
          maps_[i], [&](const auto& entry) { return now - entry.second.touched >= ttl_; });
    }
    return removed;
  }
  // Removes every key matching pred (whatever its TTL), e.g. the keys of windows that are gone.
  template <class Pred>
  size_t remove_keys_if(Pred&& pred) {
    size_t removed = 0;
    for (size_t i = 0; i < maps_.size(); ++i) {
      auto matches = [&](const auto& entry) { return pred(entry.first); };
      if (std::none_of(maps_[i].begin(), maps_[i].end(), matches) &&
          std::none_of(overlays_[i].begin(), overlays_[i].end(), matches)) {
        continue;
      }
      settle(i);
      removed += absl::erase_if(maps_[i], matches);
    }
    return removed;
  }
  void append_keys(std::vector<K>& keys) const {
    for (size_t i = 0; i < maps_.size(); ++i) {
      const Overlay& overlay = overlays_[i];
      for (const auto& [key, slot] : maps_[i]) {
        if (!overlay.contains(key)) keys.push_back(key);
      }
      for (const auto& [key, slot] : overlay) {
        if (slot) keys.push_back(key);
      }
    }
  }
  // A key group's map as a snapshot reads it: frozen while the snapshot runs (any thread).
  const absl::flat_hash_map<K, Slot>& group(int key_group) const { return maps_[local(key_group)]; }
  // A key group's map to change as a whole (restores): settled first.
  absl::flat_hash_map<K, Slot>& mutable_group(int key_group) {
    const size_t i = local(key_group);
    settle(i);
    return maps_[i];
  }
  // Before a snapshot freezes the groups: every overlay merged (its groups are serialized).
  void merge_overlays() {
    for (size_t i = 0; i < maps_.size(); ++i) merge(i);
  }

 private:
  using Overlay = absl::flat_hash_map<K, std::optional<Slot>>;

  // A group's index, and whether the snapshot still reads its map. Decided once per operation:
  // the asynchronous part may finish the group at any moment, and an operation that first saw it
  // frozen (and left its overlay unmerged) must not then write to the map, or the overlay's older
  // copy of the entry would overwrite the change when it is merged.
  struct Group {
    size_t index;
    bool frozen;
  };
  Slot* find_for_change(const K& key, Group g) {
    const size_t i = g.index;
    if (!g.frozen) {
      auto it = maps_[i].find(key);
      return it == maps_[i].end() ? nullptr : &it->second;
    }
    Overlay& overlay = overlays_[i];
    if (auto it = overlay.find(key); it != overlay.end()) {
      return it->second ? &*it->second : nullptr;
    }
    auto it = maps_[i].find(key);
    if (it == maps_[i].end()) return nullptr;
    return &*overlay.try_emplace(key, it->second).first->second;  // the first change: a copy
  }

  size_t local(int key_group) const {
    if (!range_.contains(key_group)) {
      throw Error(ErrorCategory::kInternal,
                  "keyed state accessed for a key group outside the subtask's range");
    }
    return static_cast<size_t>(key_group - range_.start);
  }
  // The group, its overlay merged if the snapshot is done with it.
  Group prepare(int key_group) {
    const size_t i = local(key_group);
    const bool frozen = guard_->frozen(i);
    if (!frozen && !overlays_[i].empty()) merge(i);
    return {i, frozen};
  }
  const Slot* lookup(const K& key, size_t i) const {
    if (!overlays_[i].empty()) {
      if (auto it = overlays_[i].find(key); it != overlays_[i].end()) {
        return it->second ? &*it->second : nullptr;
      }
    }
    auto it = maps_[i].find(key);
    return it == maps_[i].end() ? nullptr : &it->second;
  }
  void merge(size_t i) {
    for (auto& [key, slot] : overlays_[i]) {
      if (slot) {
        maps_[i].insert_or_assign(key, std::move(*slot));
      } else {
        maps_[i].erase(key);
      }
    }
    overlays_[i].clear();
  }
  // The group serialized (by the task if need be) and its overlay merged.
  void settle(size_t i) {
    guard_->settle_if_frozen(i);
    merge(i);
  }

  KeyGroupRange range_;
  int64_t ttl_;
  StateTtlConfig ttl_config_;
  const TtlTimeProvider* clock_;
  WriteGuard* guard_;
  std::vector<absl::flat_hash_map<K, Slot>> maps_;
  std::vector<Overlay> overlays_;  // per group; empty unless a snapshot froze the group
};

// Writes lp(Serializer<T>(value)).
template <class T>
void write_prefixed(const T& value, BufferWriter& out) {
  out.write_length_prefixed([&](BufferWriter& w) { Serializer<T>::serialize(value, w); });
}
template <class T>
T read_prefixed(BufferReader& in) {
  return from_bytes<T>(in.read_length_prefixed());
}

// Runs the deferred part of a snapshot at once: for tests and synchronous callers, which have
// nowhere to put shared files.
class NoSharedFiles final : public SnapshotFiles {
 public:
  void add_shared_file(const std::string& key, const std::filesystem::path&) override {
    throw Error(ErrorCategory::kInternal,
                "shared file '" + key + "' in a snapshot taken outside a checkpoint");
  }
};

}  // namespace detail

// The keyed state of one operator instance: a key group range, the current key, and named states.
// The getters return handles bound to the current key; the backend kind decides where entries
// live (heap: hash maps; RocksDB: an embedded database on local disk).
template <class K>
class KeyedStateBackend {
 public:
  using Materialize = BackendMaterialize;

  virtual ~KeyedStateBackend() = default;
  StateBackendKind kind() const { return kind_; }
  KeyGroupRange key_group_range() const { return range_; }
  int max_parallelism() const { return max_parallelism_; }

  void set_current_key(const K& key) {
    current_key_ = key;
    current_group_ = key_group_for_key(key, max_parallelism_);
    ++key_version_;
  }
  // For composite keys (a key and its window) that live in the key group of their key part.
  void set_current_key(const K& key, int key_group) {
    current_key_ = key;
    current_group_ = key_group;
    ++key_version_;
  }
  const K& current_key() const { return current_key_; }
  int current_key_group() const { return current_group_; }
  // Changes with every set_current_key (lets handles cache what they derive from the key).
  uint64_t key_version() const { return key_version_; }
  // Replaces the TTL clock; call before any state is registered.
  void set_ttl_time_provider(TtlTimeProvider clock) { ttl_clock_ = std::move(clock); }
  Timestamp ttl_now() const { return ttl_clock_(); }
  const TtlTimeProvider* ttl_clock() const { return &ttl_clock_; }

  template <class V>
  ValueState<V>& get_state(const ValueStateDescriptor<V>& d);
  template <class V>
  ListState<V>& get_list_state(const ListStateDescriptor<V>& d);
  template <class UK, class UV>
  MapState<UK, UV>& get_map_state(const MapStateDescriptor<UK, UV>& d);
  template <class V>
  ReducingState<V>& get_reducing_state(const ReducingStateDescriptor<V>& d);
  template <class In, class Acc, class Out>
  AggregatingState<In, Out>& get_aggregating_state(
      const AggregatingStateDescriptor<In, Acc, Out>& d);

  // The synchronous part of a snapshot, at the barrier; the function it returns is the
  // asynchronous part. `savepoint`: canonical format whatever the backend.
  virtual Materialize snapshot_async(bool savepoint) = 0;
  // Both parts at once, in the canonical format.
  KeyedBackendSnapshot snapshot() {
    detail::NoSharedFiles files;
    return snapshot_async(true)(files);
  }
  // Takes the key groups of this backend's range from the snapshots of the old instances (others
  // are ignored). Call before processing.
  virtual void restore(std::vector<KeyedBackendSnapshot> snapshots) = 0;
  void restore(const KeyedBackendSnapshot& snapshot) {
    restore(std::vector<KeyedBackendSnapshot>{snapshot});
  }
  void restore(const std::vector<KeyGroupSnapshot>& groups) {
    restore(KeyedBackendSnapshot{groups, {}});
  }

  // Background TTL cleanup of every state.
  virtual size_t remove_expired(Timestamp now) = 0;
  bool has_ttl() const { return has_ttl_; }
  // No state registered.
  virtual bool empty() const = 0;
  // Removes the current key from every state.
  virtual void clear_current_key() = 0;
  // Calls fn(key, state) for every key with a value in the state `d` describes, with the backend
  // set to that key (Flink's applyToKeyedState); the current key is restored afterwards.
  template <class D, class F>
  void apply_to_all_keys(const D& d, F&& fn) {
    auto& state = get_any(d);
    const std::vector<K> keys = keys_of(d.name);
    const K saved_key = current_key_;
    const int saved_group = current_group_;
    for (const K& key : keys) {
      set_current_key(key);
      fn(key, state);
    }
    set_current_key(saved_key, saved_group);
  }
  // Removes, from every state, the keys matching pred.
  virtual size_t remove_keys_if(const std::function<bool(const K&)>& pred) = 0;

 protected:
  KeyedStateBackend(StateBackendKind kind, KeyGroupRange range, int max_parallelism)
      : kind_(kind), range_(range), max_parallelism_(max_parallelism) {}
  // Every key with an entry in state `name` (registered), each once.
  virtual std::vector<K> keys_of(const std::string& name) = 0;
  void note_ttl(const StateTtlConfig& ttl) {
    if (ttl.ttl.count() > 0) has_ttl_ = true;
  }

 private:
  template <class V>
  ValueState<V>& get_any(const ValueStateDescriptor<V>& d) {
    return get_state(d);
  }
  template <class V>
  ListState<V>& get_any(const ListStateDescriptor<V>& d) {
    return get_list_state(d);
  }
  template <class UK, class UV>
  MapState<UK, UV>& get_any(const MapStateDescriptor<UK, UV>& d) {
    return get_map_state(d);
  }

  StateBackendKind kind_;
  KeyGroupRange range_;
  int max_parallelism_;
  K current_key_{};
  int current_group_ = 0;
  uint64_t key_version_ = 0;
  bool has_ttl_ = false;
  TtlTimeProvider ttl_clock_ = [] { return wall_clock_millis(); };
};

// The heap keyed state backend (Flink's HashMapStateBackend): each state is one hash map per key
// group of the range.
template <class K>
class HeapKeyedStateBackend final : public KeyedStateBackend<K> {
  using Base = KeyedStateBackend<K>;

 public:
  using Base::restore;
  HeapKeyedStateBackend(KeyGroupRange range, int max_parallelism)
      : Base(StateBackendKind::kHeap, range, max_parallelism) {
    guard_.settle = [this](size_t local) { settle_group(local); };
  }
  ~HeapKeyedStateBackend() override {
    if (guard_.snapshot) guard_.snapshot->cancel();
  }
  HeapKeyedStateBackend(const HeapKeyedStateBackend&) = delete;
  HeapKeyedStateBackend& operator=(const HeapKeyedStateBackend&) = delete;

  // Freezes every key group (changes go to overlays, see KeyedTable) and returns the asynchronous
  // part, which serializes them. The heap's format is the canonical one.
  typename Base::Materialize snapshot_async(bool /*savepoint*/) override {
    if constexpr (!kSerializable<K>) {
      throw Error(ErrorCategory::kInvalidJob,
                  "keyed state cannot be checkpointed: its key type has no sluice::Serializer");
    } else {
      finish_snapshot_in_progress();
      for (auto& [name, state] : states_) state->merge_overlays();
      const KeyGroupRange range = this->key_group_range();
      frozen_.clear();
      for (const auto& [name, state] : states_) frozen_.push_back({name, state.get()});
      frozen_restored_ = restored_;
      auto serialize = [this](size_t i) { return serialize_group(i); };
      auto frozen =
          std::make_shared<detail::FrozenGroups<decltype(serialize)>>(guard_, range, serialize);
      return [frozen](SnapshotFiles&) {
        KeyedBackendSnapshot snapshot;
        snapshot.groups =
            frozen->take(false, "the operator closed before its keyed state snapshot was written");
        return snapshot;
      };
    }
  }

  void restore(std::vector<KeyedBackendSnapshot> snapshots) override {
    for (auto& snapshot : snapshots) {
      if (!snapshot.native.empty()) {
        throw Error(ErrorCategory::kInvalidJob,
                    "the checkpoint holds RocksDB state in its native (incremental) format: "
                    "restore it with --state-backend rocksdb, or take a savepoint to switch "
                    "backends");
      }
      for (const auto& group : snapshot.groups) {
        if (!this->key_group_range().contains(group.key_group)) continue;
        BufferReader in(group.bytes);
        for (size_t states = in.read_length(); states > 0; --states) {
          std::string name(in.read_length_prefixed());
          const auto kind = static_cast<StateKind>(in.read_fixed<uint8_t>());
          std::string blob(in.read_length_prefixed());
          if (auto it = states_.find(name); it != states_.end()) {
            BufferReader blob_in(blob);
            it->second->read_group(group.key_group, blob_in);
          } else {
            restored_[name].push_back({group.key_group, kind, std::move(blob)});
          }
        }
      }
    }
  }

  size_t remove_expired(Timestamp now) override {
    size_t removed = 0;
    for (auto& [name, state] : states_) removed += state->remove_expired(now);
    return removed;
  }
  bool empty() const override { return states_.empty(); }
  void clear_current_key() override {
    for (auto& [name, state] : states_) state->erase_current();
  }
  size_t remove_keys_if(const std::function<bool(const K&)>& pred) override {
    size_t removed = 0;
    for (auto& [name, state] : states_) removed += state->remove_keys_if(pred);
    return removed;
  }

  // For KeyedStateBackend's getters.
  template <class V>
  ValueState<V>& heap_get_state(const ValueStateDescriptor<V>& d) {
    return handle<ValueHandle<V>>(d.name, d.ttl);
  }
  template <class V>
  ListState<V>& heap_get_list_state(const ListStateDescriptor<V>& d) {
    return handle<ListHandle<V>>(d.name, d.ttl);
  }
  template <class UK, class UV>
  MapState<UK, UV>& heap_get_map_state(const MapStateDescriptor<UK, UV>& d) {
    return handle<MapHandle<UK, UV>>(d.name, d.ttl);
  }
  template <class V>
  ReducingState<V>& heap_get_reducing_state(const ReducingStateDescriptor<V>& d) {
    auto& h = handle<ReducingHandle<V>>(d.name, d.ttl);
    h.reduce = d.reduce;
    return h;
  }
  template <class In, class Acc, class Out>
  AggregatingState<In, Out>& heap_get_aggregating_state(
      const AggregatingStateDescriptor<In, Acc, Out>& d) {
    auto& h = handle<AggregatingHandle<In, Acc, Out>>(d.name, d.ttl);
    h.descriptor = d;
    return h;
  }

 protected:
  std::vector<K> keys_of(const std::string& name) override {
    std::vector<K> keys;
    states_.at(name)->append_keys(keys);
    return keys;
  }

 private:
  struct HandleBase {
    virtual ~HandleBase() = default;
    virtual StateKind kind() const { return StateKind::kValue; }
    virtual size_t remove_expired(Timestamp now) = 0;
    virtual void erase_current() = 0;
    virtual void append_keys(std::vector<K>& keys) const = 0;
    // One key group's entries in the canonical format, and back.
    virtual void write_group(int key_group, BufferWriter& out) const = 0;
    virtual void read_group(int key_group, BufferReader& in) = 0;
    virtual size_t remove_keys_if(const std::function<bool(const K&)>& pred) = 0;
    virtual void merge_overlays() = 0;
  };

  template <class S>
  struct TableHandle : HandleBase {
    HeapKeyedStateBackend* backend = nullptr;
    std::unique_ptr<detail::KeyedTable<K, S>> table;
    size_t remove_expired(Timestamp now) override { return table->remove_expired(now); }
    void erase_current() override { erase(); }
    void append_keys(std::vector<K>& keys) const override { table->append_keys(keys); }
    void write_group(int key_group, BufferWriter& out) const override {
      if constexpr (kSerializable<K> && kSerializable<S>) {
        const auto& map = table->group(key_group);
        out.write_length(map.size());
        for (const auto& [key, slot] : map) {
          detail::write_prefixed(key, out);
          detail::write_prefixed(slot.value, out);
          out.write_fixed(slot.touched);
        }
      } else {
        throw Error(ErrorCategory::kInvalidJob,
                    "keyed state cannot be checkpointed: a state's value type has no "
                    "sluice::Serializer");
      }
    }
    void read_group(int key_group, BufferReader& in) override {
      if constexpr (kSerializable<K> && kSerializable<S>) {
        auto& map = table->mutable_group(key_group);
        for (size_t n = in.read_length(); n > 0; --n) {
          K key = detail::read_prefixed<K>(in);
          S value = detail::read_prefixed<S>(in);
          const auto touched = in.read_fixed<Timestamp>();
          map.insert_or_assign(std::move(key),
                               typename detail::KeyedTable<K, S>::Slot{std::move(value), touched});
        }
      } else {
        throw Error(ErrorCategory::kInvalidJob, "keyed state without a sluice::Serializer");
      }
    }
    size_t remove_keys_if(const std::function<bool(const K&)>& pred) override {
      return table->remove_keys_if(pred);
    }
    void merge_overlays() override { table->merge_overlays(); }
    const S* read() {
      const auto* slot = table->find(backend->current_key(), backend->current_key_group());
      return slot ? &slot->value : nullptr;
    }
    // The current key's value to change in place (not refreshed), or null.
    S* read_for_change() {
      if (read() == nullptr) return nullptr;  // expired ones are gone
      return &table->find_for_change(backend->current_key(), backend->current_key_group())->value;
    }
    S& write(const std::function<S()>& make) {
      return table->find_or_create(backend->current_key(), backend->current_key_group(), make)
          .value;
    }
    void erase() { table->erase(backend->current_key(), backend->current_key_group()); }
  };

  template <class V>
  struct ValueHandle final : TableHandle<V>, ValueState<V> {
    std::optional<V> value() override {
      const V* v = this->read();
      return v ? std::optional<V>(*v) : std::nullopt;
    }
    void update(const V& value) override {
      this->write([] { return V{}; }) = value;
    }
    void clear() override { this->erase(); }
  };

  template <class V>
  struct ListHandle final : TableHandle<std::vector<V>>, ListState<V> {
    const std::vector<V>& get() override {
      auto* v = this->read();
      return v ? *v : empty;
    }
    void add(const V& value) override {
      this->write([] { return std::vector<V>{}; }).push_back(value);
    }
    void update(std::vector<V> values) override {
      this->write([] { return std::vector<V>{}; }) = std::move(values);
    }
    void clear() override { this->erase(); }
    std::vector<V> empty;
  };

  template <class UK, class UV>
  struct MapHandle final : TableHandle<absl::flat_hash_map<UK, UV>>, MapState<UK, UV> {
    using Map = absl::flat_hash_map<UK, UV>;
    using Slot = typename detail::KeyedTable<K, Map>::Slot;
    StateKind kind() const override { return StateKind::kMap; }
    std::optional<UV> get(const UK& key) override {
      auto* m = this->read();
      if (!m) return std::nullopt;
      auto it = m->find(key);
      return it == m->end() ? std::nullopt : std::optional<UV>(it->second);
    }
    void put(const UK& key, const UV& value) override {
      this->write([] { return Map{}; })[key] = value;
    }
    void remove(const UK& key) override {
      if (auto* m = this->read_for_change()) {
        m->erase(key);
        if (m->empty()) this->erase();
      }
    }
    bool contains(const UK& key) override {
      auto* m = this->read();
      return m && m->contains(key);
    }
    const Map& entries() override {
      auto* m = this->read();
      return m ? *m : empty;
    }
    void clear() override { this->erase(); }
    // Canonical map entries: each user entry with the map's last-touched time.
    void write_group(int key_group, BufferWriter& out) const override {
      if constexpr (kSerializable<K> && kSerializable<UK> && kSerializable<UV>) {
        const auto& map = this->table->group(key_group);
        out.write_length(map.size());
        for (const auto& [key, slot] : map) {
          detail::write_prefixed(key, out);
          out.write_length(slot.value.size());
          for (const auto& [user_key, user_value] : slot.value) {
            detail::write_prefixed(user_key, out);
            detail::write_prefixed(user_value, out);
            out.write_fixed(slot.touched);
          }
        }
      } else {
        throw Error(ErrorCategory::kInvalidJob,
                    "map state cannot be checkpointed: a type has no sluice::Serializer");
      }
    }
    void read_group(int key_group, BufferReader& in) override {
      if constexpr (kSerializable<K> && kSerializable<UK> && kSerializable<UV>) {
        auto& map = this->table->mutable_group(key_group);
        for (size_t n = in.read_length(); n > 0; --n) {
          K key = detail::read_prefixed<K>(in);
          Slot slot;
          for (size_t entries = in.read_length(); entries > 0; --entries) {
            UK user_key = detail::read_prefixed<UK>(in);
            slot.value.insert_or_assign(std::move(user_key), detail::read_prefixed<UV>(in));
            slot.touched = std::max(slot.touched, in.read_fixed<Timestamp>());
          }
          map.insert_or_assign(std::move(key), std::move(slot));
        }
      } else {
        throw Error(ErrorCategory::kInvalidJob, "map state without a sluice::Serializer");
      }
    }
    Map empty;
  };

  template <class V>
  struct ReducingHandle final : TableHandle<V>, ReducingState<V> {
    std::optional<V> get() override {
      const V* v = this->read();
      return v ? std::optional<V>(*v) : std::nullopt;
    }
    void add(const V& value) override {
      if (const V* v = this->read()) {
        V reduced = reduce(*v, value);
        this->write([] { return V{}; }) = std::move(reduced);  // write() refreshes the TTL
      } else {
        this->write([&] { return value; });
      }
    }
    void clear() override { this->erase(); }
    std::function<V(const V&, const V&)> reduce;
  };

  template <class In, class Acc, class Out>
  struct AggregatingHandle final : TableHandle<Acc>, AggregatingState<In, Out> {
    std::optional<Out> get() override {
      const Acc* acc = this->read();
      return acc ? std::optional<Out>(descriptor.result(*acc)) : std::nullopt;
    }
    void add(const In& value) override { descriptor.add(value, this->write(descriptor.create)); }
    void clear() override { this->erase(); }
    AggregatingStateDescriptor<In, Acc, Out> descriptor;
  };

  template <class H>
  H& handle(const std::string& name, const StateTtlConfig& ttl) {
    auto& slot = states_[name];
    if (!slot) {
      auto h = std::make_unique<H>();
      h->backend = this;
      h->table = std::make_unique<typename decltype(h->table)::element_type>(
          this->key_group_range(), ttl, this->ttl_clock(), &guard_);
      this->note_ttl(ttl);
      if (auto it = restored_.find(name); it != restored_.end()) {
        for (const auto& pending : it->second) {
          BufferReader in(pending.blob);
          h->read_group(pending.key_group, in);
        }
        restored_.erase(it);
      }
      slot = std::move(h);
    }
    H* typed = dynamic_cast<H*>(slot.get());
    if (typed == nullptr) {
      throw Error(ErrorCategory::kInvalidJob,
                  "state '" + name + "' was registered with another type");
    }
    return *typed;
  }

  // One key group of the frozen states, in the canonical format. Called by the asynchronous part
  // or, before it changes the group, by the task thread: never while the group changes.
  std::string serialize_group(size_t local) const {
    const int g = this->key_group_range().start + static_cast<int>(local);
    std::string bytes;
    BufferWriter out(bytes);
    // The group's size in the previous snapshot, and an eighth more: state mostly grows slowly, and
    // one allocation beats a string doubling (and copying) its way up to megabytes.
    const size_t previous = last_group_bytes_[local].load(std::memory_order_relaxed);
    out.reserve(previous + previous / 8);
    size_t count = 0;
    for (const auto& state : frozen_) count += state.handle != nullptr ? 1 : 0;
    for (const auto& [name, pending] : frozen_restored_) {
      for (const auto& p : pending) count += p.key_group == g ? 1 : 0;
    }
    out.write_length(count);
    for (const auto& state : frozen_) {
      Serializer<std::string>::serialize(state.name, out);
      out.write_fixed(static_cast<uint8_t>(state.handle->kind()));
      out.write_length_prefixed([&](BufferWriter& w) { state.handle->write_group(g, w); });
    }
    for (const auto& [name, pending] : frozen_restored_) {  // restored, never registered: kept
      for (const auto& p : pending) {
        if (p.key_group != g) continue;
        Serializer<std::string>::serialize(name, out);
        out.write_fixed(static_cast<uint8_t>(p.kind));
        Serializer<std::string>::serialize(p.blob, out);
      }
    }
    out.finish();
    last_group_bytes_[local].store(bytes.size(), std::memory_order_relaxed);
    return bytes;
  }

  // A whole key group is about to change: the snapshot still waiting for it gets it first.
  void settle_group(size_t local) {
    guard_.serialize_or_wait(local, [this](size_t i) { return serialize_group(i); });
  }
  void finish_snapshot_in_progress() {
    guard_.finish_previous([this](size_t i) { return serialize_group(i); });
  }

  struct PendingGroup {
    int key_group;
    StateKind kind;
    std::string blob;
  };
  struct FrozenState {
    std::string name;
    const HandleBase* handle;
  };

  std::map<std::string, std::unique_ptr<HandleBase>> states_;
  // Restored state not registered yet: name -> its key groups' entries.
  std::map<std::string, std::vector<PendingGroup>> restored_;
  detail::WriteGuard guard_;         // and the latest snapshot
  std::vector<FrozenState> frozen_;  // what it covers
  // Per group, its bytes in the latest snapshot (written by whichever thread serialized it).
  mutable std::vector<std::atomic<size_t>> last_group_bytes_ =
      std::vector<std::atomic<size_t>>(static_cast<size_t>(this->key_group_range().size()));
  std::map<std::string, std::vector<PendingGroup>> frozen_restored_;
};

// The state-getting half of a keyed context: what user functions call to obtain state handles.
// Handles always refer to the backend's current key.
template <class K>
class KeyedStateStore {
 public:
  explicit KeyedStateStore(KeyedStateBackend<K>& backend) : backend_(&backend) {}
  template <class V>
  ValueState<V>& get_state(const ValueStateDescriptor<V>& d) const {
    return backend_->get_state(d);
  }
  template <class V>
  ListState<V>& get_list_state(const ListStateDescriptor<V>& d) const {
    return backend_->get_list_state(d);
  }
  template <class UK, class UV>
  MapState<UK, UV>& get_map_state(const MapStateDescriptor<UK, UV>& d) const {
    return backend_->get_map_state(d);
  }
  template <class V>
  ReducingState<V>& get_reducing_state(const ReducingStateDescriptor<V>& d) const {
    return backend_->get_reducing_state(d);
  }
  template <class In, class Acc, class Out>
  AggregatingState<In, Out>& get_aggregating_state(
      const AggregatingStateDescriptor<In, Acc, Out>& d) const {
    return backend_->get_aggregating_state(d);
  }

 private:
  KeyedStateBackend<K>* backend_;
};

// What a keyed operator checkpoints: the state of its keyed backends and its own per-key data
// (timers, window contents), all by key group so that a restored instance takes the groups of its
// range from whichever old instances held them; the watermark it had reached (so that lateness is
// judged as before the failure); and its broadcast state, equal in every instance.
struct KeyedOperatorSnapshot {
  Timestamp watermark = kMinWatermark;
  std::vector<KeyedBackendSnapshot> backends;
  std::vector<KeyGroupSnapshot> internal;
  std::map<std::string, std::string> broadcast;
};

// At least the bytes a snapshot serializes to (a little more): reserved first, so that snapshots
// of large state are written in one allocation.
inline size_t serialized_size_bound(const KeyedOperatorSnapshot& value) {
  size_t size = 64;
  auto add = [&](const std::vector<KeyGroupSnapshot>& groups) {
    for (const auto& g : groups) size += g.bytes.size() + 8;
  };
  for (const auto& backend : value.backends) {
    add(backend.groups);
    size += backend.native.size() + 8;
  }
  add(value.internal);
  for (const auto& [name, bytes] : value.broadcast) size += name.size() + bytes.size() + 8;
  return size;
}

template <>
struct Serializer<KeyedOperatorSnapshot> {
  static void serialize(const KeyedOperatorSnapshot& value, BufferWriter& out) {
    out.reserve(serialized_size_bound(value));
    boost::pfr::for_each_field(value, [&](const auto& field) {
      Serializer<std::decay_t<decltype(field)>>::serialize(field, out);
    });
  }
  static KeyedOperatorSnapshot deserialize(BufferReader& in) {
    KeyedOperatorSnapshot value;
    boost::pfr::for_each_field(value, [&](auto& field) {
      field = Serializer<std::decay_t<decltype(field)>>::deserialize(in);
    });
    return value;
  }
};

// Collects an operator's per-key items by key group: the `internal` part of a snapshot. Each
// group's bytes are a u32 item count followed by the items.
class KeyGroupedItems {
 public:
  // Where to write one more item of `key_group`.
  BufferWriter add(int key_group) {
    auto& group = groups_[key_group];
    ++group.first;
    return BufferWriter(group.second);
  }
  std::vector<KeyGroupSnapshot> finish() const {
    std::vector<KeyGroupSnapshot> result;
    for (const auto& [key_group, group] : groups_) {
      KeyGroupSnapshot snapshot{key_group, {}};
      BufferWriter out(snapshot.bytes);
      out.write_fixed(group.first);
      out.write_bytes(group.second.data(), group.second.size());
      out.finish();
      result.push_back(std::move(snapshot));
    }
    return result;
  }

 private:
  std::map<int, std::pair<uint32_t, std::string>> groups_;
};

// Calls read(BufferReader&) once per item of every group in `range`.
template <class Read>
void read_key_grouped_items(const std::vector<KeyGroupSnapshot>& groups, KeyGroupRange range,
                            Read&& read) {
  for (const auto& group : groups) {
    if (!range.contains(group.key_group)) continue;
    BufferReader in(group.bytes);
    for (auto n = in.read_fixed<uint32_t>(); n > 0; --n) read(in);
  }
}

// The snapshots a restored keyed operator resumes from, and the watermark it resumes at: the
// smallest of theirs (they cover the same input, so any is safe; the smallest judges nothing late
// that an instance had not judged late), or kMinWatermark on a fresh start.
inline std::vector<KeyedOperatorSnapshot> restored_keyed_snapshots(
    const std::vector<std::string>& restored, Timestamp* watermark) {
  std::vector<KeyedOperatorSnapshot> snapshots;
  for (const auto& bytes : restored) snapshots.push_back(from_bytes<KeyedOperatorSnapshot>(bytes));
  *watermark = kMinWatermark;
  for (size_t i = 0; i < snapshots.size(); ++i) {
    *watermark = i == 0 ? snapshots[i].watermark : std::min(*watermark, snapshots[i].watermark);
  }
  return snapshots;
}

}  // namespace sluice

#include "sluice/state/rocksdb_keyed_state.h"

namespace sluice {

namespace detail {
[[noreturn]] inline void throw_not_serializable_for_rocksdb(const std::string& state) {
  throw Error(ErrorCategory::kInvalidJob,
              "state '" + state +
                  "' cannot live in the RocksDB backend: its key or value type has no "
                  "sluice::Serializer");
}
}  // namespace detail

// The getters dispatch once, at registration; the handles they return are the backend's own.
template <class K>
template <class V>
ValueState<V>& KeyedStateBackend<K>::get_state(const ValueStateDescriptor<V>& d) {
  if (kind_ == StateBackendKind::kRocksDb) {
    if constexpr (kSerializable<K> && kSerializable<V>) {
      return static_cast<RocksDbKeyedStateBackend<K>*>(this)->rocks_get_state(d);
    } else {
      detail::throw_not_serializable_for_rocksdb(d.name);
    }
  }
  return static_cast<HeapKeyedStateBackend<K>*>(this)->heap_get_state(d);
}
template <class K>
template <class V>
ListState<V>& KeyedStateBackend<K>::get_list_state(const ListStateDescriptor<V>& d) {
  if (kind_ == StateBackendKind::kRocksDb) {
    if constexpr (kSerializable<K> && kSerializable<V>) {
      return static_cast<RocksDbKeyedStateBackend<K>*>(this)->rocks_get_list_state(d);
    } else {
      detail::throw_not_serializable_for_rocksdb(d.name);
    }
  }
  return static_cast<HeapKeyedStateBackend<K>*>(this)->heap_get_list_state(d);
}
template <class K>
template <class UK, class UV>
MapState<UK, UV>& KeyedStateBackend<K>::get_map_state(const MapStateDescriptor<UK, UV>& d) {
  if (kind_ == StateBackendKind::kRocksDb) {
    if constexpr (kSerializable<K> && kSerializable<UK> && kSerializable<UV>) {
      return static_cast<RocksDbKeyedStateBackend<K>*>(this)->rocks_get_map_state(d);
    } else {
      detail::throw_not_serializable_for_rocksdb(d.name);
    }
  }
  return static_cast<HeapKeyedStateBackend<K>*>(this)->heap_get_map_state(d);
}
template <class K>
template <class V>
ReducingState<V>& KeyedStateBackend<K>::get_reducing_state(const ReducingStateDescriptor<V>& d) {
  if (kind_ == StateBackendKind::kRocksDb) {
    if constexpr (kSerializable<K> && kSerializable<V>) {
      return static_cast<RocksDbKeyedStateBackend<K>*>(this)->rocks_get_reducing_state(d);
    } else {
      detail::throw_not_serializable_for_rocksdb(d.name);
    }
  }
  return static_cast<HeapKeyedStateBackend<K>*>(this)->heap_get_reducing_state(d);
}
template <class K>
template <class In, class Acc, class Out>
AggregatingState<In, Out>& KeyedStateBackend<K>::get_aggregating_state(
    const AggregatingStateDescriptor<In, Acc, Out>& d) {
  if (kind_ == StateBackendKind::kRocksDb) {
    if constexpr (kSerializable<K> && kSerializable<Acc>) {
      return static_cast<RocksDbKeyedStateBackend<K>*>(this)->rocks_get_aggregating_state(d);
    } else {
      detail::throw_not_serializable_for_rocksdb(d.name);
    }
  }
  return static_cast<HeapKeyedStateBackend<K>*>(this)->heap_get_aggregating_state(d);
}

// The backend the setup asks for: heap unless its options say RocksDB.
template <class K>
std::unique_ptr<KeyedStateBackend<K>> make_keyed_state_backend(KeyGroupRange range,
                                                               int max_parallelism,
                                                               const KeyedBackendSetup& setup) {
  if (setup.options != nullptr && setup.options->kind == StateBackendKind::kRocksDb) {
    return std::make_unique<RocksDbKeyedStateBackend<K>>(range, max_parallelism, setup);
  }
  return std::make_unique<HeapKeyedStateBackend<K>>(range, max_parallelism);
}

// Writes to_bytes(snapshot) to `out` without building it in one string: each key group's bytes go
// out as they are, the small fields around them gathered in a scratch string. A large state is
// then never copied whole (the copy and its freshly mapped memory were most of a large heap
// checkpoint's time).
inline void write_keyed_operator_snapshot(const KeyedOperatorSnapshot& snapshot,
                                          SnapshotOutput& out) {
  constexpr size_t kGathered = 4096;  // smaller key groups are gathered with the fields
  out.expect(serialized_size_bound(snapshot));
  std::string scratch;
  auto flush = [&] {
    if (!scratch.empty()) out.write(scratch);
    scratch.clear();
  };
  auto write_groups = [&](const std::vector<KeyGroupSnapshot>& groups) {
    BufferWriter(scratch).write_length(groups.size());
    for (const auto& group : groups) {
      {
        BufferWriter fields(scratch);
        serialize(group.key_group, fields);
        fields.write_length(group.bytes.size());
      }
      if (group.bytes.size() < kGathered) {
        scratch.append(group.bytes);
      } else {
        flush();
        out.write(group.bytes);
      }
    }
  };
  {
    BufferWriter fields(scratch);
    serialize(snapshot.watermark, fields);
    fields.write_length(snapshot.backends.size());
  }
  for (const auto& backend : snapshot.backends) {
    write_groups(backend.groups);
    BufferWriter native(scratch);
    serialize(backend.native, native);
  }
  write_groups(snapshot.internal);
  {
    BufferWriter fields(scratch);
    serialize(snapshot.broadcast, fields);
  }
  flush();
}

// A keyed operator's snapshot: `fixed` (watermark, per-key items, broadcast state) taken now,
// the backends' asynchronous parts run when the checkpoint writes it.
inline StateSnapshot keyed_operator_snapshot(KeyedOperatorSnapshot fixed,
                                             std::vector<BackendMaterialize> backends) {
  if (backends.empty()) return to_bytes(fixed);
  auto parts = std::make_shared<std::pair<KeyedOperatorSnapshot, std::vector<BackendMaterialize>>>(
      std::move(fixed), std::move(backends));
  return StateSnapshot::streamed([parts](SnapshotFiles& files, SnapshotOutput& out) {
    auto& [snapshot, pending] = *parts;
    snapshot.backends.clear();
    for (auto& materialize : pending) snapshot.backends.push_back(materialize(files));
    write_keyed_operator_snapshot(snapshot, out);
  });
}

// The snapshot of a keyed operator that keeps per-key items of its own (timers, windows) in
// KeyedTables under `guard`: freezes the tables (the task's changes go to their overlays from now
// on; the caller finished the previous snapshot and merged the overlays first) and returns the
// snapshot, whose asynchronous part serializes each key group (`serialize_group(local)`, unless
// the task needed the group first and did), then runs the backends' parts. Whoever owns the
// tables cancels guard.snapshot before they go.
template <class SerializeGroup>
StateSnapshot frozen_keyed_operator_snapshot(detail::WriteGuard& guard, KeyGroupRange range,
                                             SerializeGroup serialize_group,
                                             KeyedOperatorSnapshot fixed,
                                             std::vector<BackendMaterialize> backends,
                                             std::string closed_error) {
  auto frozen = std::make_shared<detail::FrozenGroups<SerializeGroup>>(guard, range,
                                                                       std::move(serialize_group));
  return StateSnapshot::streamed(
      [frozen, snapshot = std::move(fixed), backends = std::move(backends),
       closed_error = std::move(closed_error)](SnapshotFiles& files, SnapshotOutput& out) mutable {
        snapshot.internal = frozen->take(true, closed_error);
        for (auto& materialize : backends) snapshot.backends.push_back(materialize(files));
        write_keyed_operator_snapshot(snapshot, out);
      });
}

}  // namespace sluice
