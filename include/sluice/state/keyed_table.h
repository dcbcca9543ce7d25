// The heap's building blocks for keyed data that snapshots asynchronously: KeyedTable (a hash map
// per key group, with TTL bookkeeping) and the copy-on-write protocol between the task and a
// snapshot's asynchronous part (HeapSnapshotSync, WriteGuard, FrozenGroups). The heap keyed state
// backend stores each state in a KeyedTable; keyed operators keep their own per-key data (timers,
// windows) in KeyedTables too and snapshot them the same way (frozen_keyed_operator_snapshot).
//
// A snapshot freezes every key group: its asynchronous part serializes them off the task thread
// while the task's changes to a group not serialized yet go to an overlay (copy on write per
// entry, as Flink's heap backend), merged once the group is done.
//
// Threading: a table and its guard belong to one task thread; HeapSnapshotSync is shared with the
// thread that runs the snapshot's asynchronous part, which only reads the frozen groups.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sluice/core/error.h"
#include "sluice/core/key_groups.h"
#include "sluice/core/serialization.h"
#include "sluice/state/keyed_snapshot.h"
#include "sluice/state/state_descriptors.h"

namespace sluice {
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

}  // namespace detail

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
