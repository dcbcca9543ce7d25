// The keyed state of one operator instance (KeyedStateBackend): a key group range, the current
// key, and named states, stored by the heap backend (hash maps per key group,
// heap_keyed_state_backend.h) or the RocksDB backend (an embedded database on local disk,
// rocksdb_keyed_state_backend.h), as the job's StateBackendOptions say. KeyedStateStore is the
// state-getting half user functions see.
//
// Both backends store state by key group (see key_groups.h), so a subtask's state is the union of
// its key groups and is redistributed by key group when the parallelism changes. Snapshots have a
// synchronous part on the task thread and an asynchronous one (see state_snapshot.h), in the
// canonical format of keyed_snapshot.h whatever the backend.
//
// Threading: a backend and its handles belong to one operator instance (one task thread); only
// the asynchronous part of a snapshot runs elsewhere.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sluice/core/error.h"
#include "sluice/core/key_groups.h"
#include "sluice/core/serialization.h"
#include "sluice/core/time.h"
#include "sluice/state/keyed_snapshot.h"
#include "sluice/state/state_backend_options.h"
#include "sluice/state/state_descriptors.h"

namespace sluice {

// What a backend needs besides its key groups: the options (null: heap), a name unique within the
// process (names RocksDB's local folder), and where the restored checkpoint's shared files are.
struct KeyedBackendSetup {
  const StateBackendOptions* options = nullptr;
  std::string name;
  std::filesystem::path restored_shared_directory;
};

template <class K>
class HeapKeyedStateBackend;
template <class K>
class RocksDbKeyedStateBackend;

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
  // The state handle registered as `name`, as the handle type H the caller expects: a name
  // registered again with another type is the user's error.
  template <class H, class Handle>
  static H& registered_as(const std::unique_ptr<Handle>& slot, const std::string& name) {
    H* typed = dynamic_cast<H*>(slot.get());
    if (typed == nullptr) {
      throw Error(ErrorCategory::kInvalidJob,
                  "state '" + name + "' was registered with another type");
    }
    return *typed;
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

}  // namespace sluice

// The two backends; the getters below dispatch to them.
#include "sluice/state/heap_keyed_state_backend.h"
#include "sluice/state/rocksdb_keyed_state_backend.h"

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

}  // namespace sluice
