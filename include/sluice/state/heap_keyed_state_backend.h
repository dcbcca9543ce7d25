// The heap keyed state backend (Flink's HashMapStateBackend): each state is one KeyedTable (a hash
// map per key group of the range). Its snapshots freeze the key groups and serialize them
// asynchronously, in the canonical format (see keyed_table.h and keyed_snapshot.h).
//
// Included by keyed_state_backend.h, which defines the backend selection; include that one.
//
// Threading: as every backend, one task thread; a snapshot's asynchronous part reads the frozen
// groups on another.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/state/keyed_state_backend.h"
#include "sluice/state/keyed_table.h"

namespace sluice {

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
    return this->template registered_as<H>(slot, name);
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

}  // namespace sluice
