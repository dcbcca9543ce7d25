// The RocksDB keyed state backend (Flink's EmbeddedRocksDBStateBackend): state larger than memory,
// in an embedded RocksDB per operator instance (see rocksdb_store.h for the layout, memory and
// snapshots). Every access serializes the key (once per key) and the value: slower than the heap
// backend per access, but bounded in memory.
//
// Included by keyed_state_backend.h, which defines the backend selection; include that one.
//
// Threading: as every backend, one task thread.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sluice/state/keyed_state_backend.h"
#include "sluice/state/rocksdb_store.h"

namespace sluice {

template <class K>
class RocksDbKeyedStateBackend final : public KeyedStateBackend<K> {
  using Base = KeyedStateBackend<K>;

 public:
  using Base::restore;
  RocksDbKeyedStateBackend(KeyGroupRange range, int max_parallelism, const KeyedBackendSetup& setup)
      : Base(StateBackendKind::kRocksDb, range, max_parallelism),
        incremental_(setup.options->incremental),
        shared_directory_(setup.restored_shared_directory),
        store_(RocksDbStore::open(*setup.options, setup.name, range)) {}

  typename Base::Materialize snapshot_async(bool savepoint) override {
    return store_->snapshot(incremental_ && !savepoint);
  }
  void restore(std::vector<KeyedBackendSnapshot> snapshots) override {
    store_->restore(std::move(snapshots), shared_directory_);
    invalidate_caches();
  }
  // Expired entries are dropped by compaction (and never read): no sweep.
  size_t remove_expired(Timestamp) override { return 0; }
  bool empty() const override { return handles_.empty(); }
  void clear_current_key() override {
    invalidate_caches();
    for (auto& [name, handle] : handles_) {
      if (handle->kind == StateKind::kMap) {
        store_->remove_prefix(handle->column, key_bytes());
      } else {
        store_->remove(handle->column, key_bytes());
      }
    }
  }
  size_t remove_keys_if(const std::function<bool(const K&)>& pred) override {
    invalidate_caches();
    size_t removed = 0;
    for (auto& [name, handle] : handles_) {
      std::vector<std::string> doomed;
      store_->scan(handle->column, {}, [&](std::string_view key, std::string_view) {
        if (pred(decode_key(key))) doomed.emplace_back(key);
        return true;
      });
      for (const auto& key : doomed) store_->remove(handle->column, key);
      removed += doomed.size();
    }
    return removed;
  }
  RocksDbStore& store() { return *store_; }

  // For KeyedStateBackend's getters.
  template <class V>
  ValueState<V>& rocks_get_state(const ValueStateDescriptor<V>& d) {
    return handle<ValueHandle<V>>(d.name, d.ttl, StateKind::kValue);
  }
  template <class V>
  ListState<V>& rocks_get_list_state(const ListStateDescriptor<V>& d) {
    return handle<ListHandle<V>>(d.name, d.ttl, StateKind::kValue);
  }
  template <class UK, class UV>
  MapState<UK, UV>& rocks_get_map_state(const MapStateDescriptor<UK, UV>& d) {
    return handle<MapHandle<UK, UV>>(d.name, d.ttl, StateKind::kMap);
  }
  template <class V>
  ReducingState<V>& rocks_get_reducing_state(const ReducingStateDescriptor<V>& d) {
    auto& h = handle<ReducingHandle<V>>(d.name, d.ttl, StateKind::kValue);
    h.reduce = d.reduce;
    return h;
  }
  template <class In, class Acc, class Out>
  AggregatingState<In, Out>& rocks_get_aggregating_state(
      const AggregatingStateDescriptor<In, Acc, Out>& d) {
    auto& h = handle<AggregatingHandle<In, Acc, Out>>(d.name, d.ttl, StateKind::kValue);
    h.descriptor = d;
    return h;
  }

 protected:
  std::vector<K> keys_of(const std::string& name) override {
    std::vector<K> keys;
    const int column = handles_.at(name)->column;
    std::string previous;
    store_->scan(column, {}, [&](std::string_view key, std::string_view) {
      const std::string_view prefix = key.substr(0, RocksDbStore::kKeyHeader + key_length(key));
      if (prefix != previous) {  // map entries of one key are adjacent
        previous = std::string(prefix);
        keys.push_back(decode_key(key));
      }
      return true;
    });
    return keys;
  }

 private:
  void invalidate_caches() {
    for (auto& [name, handle] : handles_) handle->invalidate();
  }
  static uint32_t key_length(std::string_view key) {
    return static_cast<uint32_t>(static_cast<uint8_t>(key[2])) << 24 |
           static_cast<uint32_t>(static_cast<uint8_t>(key[3])) << 16 |
           static_cast<uint32_t>(static_cast<uint8_t>(key[4])) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(key[5]));
  }
  static K decode_key(std::string_view key) {
    if constexpr (kSerializable<K>) {
      return from_bytes<K>(key.substr(RocksDbStore::kKeyHeader, key_length(key)));
    } else {
      throw Error(ErrorCategory::kInvalidJob, "RocksDB state needs a sluice::Serializer for keys");
    }
  }

  // The current key's RocksDB key prefix, serialized once per key.
  const std::string& key_bytes() {
    if (key_version_ != this->key_version()) {
      if constexpr (kSerializable<K>) {
        key_bytes_.clear();
        scratch_.clear();
        BufferWriter out(scratch_);
        Serializer<K>::serialize(this->current_key(), out);
        out.finish();
        RocksDbStore::append_key_prefix(key_bytes_, this->current_key_group(), scratch_);
      } else {
        throw Error(ErrorCategory::kInvalidJob,
                    "the RocksDB state backend needs a sluice::Serializer for the key type");
      }
      key_version_ = this->key_version();
    }
    return key_bytes_;
  }

  struct HandleBase {
    virtual ~HandleBase() = default;
    RocksDbKeyedStateBackend* backend = nullptr;
    int column = 0;
    StateKind kind = StateKind::kValue;
    int64_t ttl = 0;
    StateTtlConfig ttl_config;
    std::string value_bytes;  // reused: no allocation per access once warm
    // Entries changed behind the handle's back (cleared by key, restored).
    virtual void invalidate() {}

    RocksDbStore& store() { return *backend->store_; }
    Timestamp now() const { return ttl > 0 ? backend->ttl_now() : 0; }
    bool expired(Timestamp touched) const { return ttl > 0 && backend->ttl_now() - touched >= ttl; }
    static Timestamp touched_of(std::string_view value) {
      Timestamp t;
      std::memcpy(&t, value.data(), sizeof(t));
      return t;
    }
    // The stored value after its time, or null (absent or expired: an expired one is removed;
    // with kOnReadAndWrite a read refreshes the time).
    bool read(std::string_view key, std::string_view& payload) {
      if (!store().get(column, key, value_bytes) || value_bytes.size() < RocksDbStore::kTimeBytes)
        return false;
      if (expired(touched_of(value_bytes))) {
        store().remove(column, key);
        return false;
      }
      if (ttl > 0 && ttl_config.update == StateTtlConfig::Update::kOnReadAndWrite) {
        const Timestamp t = now();
        std::memcpy(value_bytes.data(), &t, sizeof(t));
        store().put(column, key, value_bytes);
      }
      payload = std::string_view(value_bytes).substr(RocksDbStore::kTimeBytes);
      return true;
    }
    template <class S>
    void write(std::string_view key, const S& value) {
      value_bytes.clear();
      BufferWriter out(value_bytes);
      out.write_fixed(now());
      Serializer<S>::serialize(value, out);
      out.finish();
      store().put(column, key, value_bytes);
    }
  };

  template <class V>
  struct ValueHandle final : HandleBase, ValueState<V> {
    std::optional<V> value() override {
      std::string_view payload;
      if (!this->read(this->backend->key_bytes(), payload)) return std::nullopt;
      return from_bytes<V>(payload);
    }
    void update(const V& value) override { this->write(this->backend->key_bytes(), value); }
    void clear() override { this->store().remove(this->column, this->backend->key_bytes()); }
  };

  template <class V>
  struct ListHandle final : HandleBase, ListState<V> {
    // Read once per key and change: two get() calls in a row return the same vector, as the
    // heap's does (callers may hold iterators into it).
    const std::vector<V>& get() override {
      if (cached_version == this->backend->key_version() && this->ttl == 0) return cache;
      std::string_view payload;
      cache.clear();
      if (this->read(this->backend->key_bytes(), payload))
        cache = from_bytes<std::vector<V>>(payload);
      cached_version = this->backend->key_version();
      return cache;
    }
    void add(const V& value) override {
      cached_version = ~uint64_t{0};
      operand.clear();
      BufferWriter out(operand);
      out.write_fixed(this->now());
      out.write_length(1);
      Serializer<V>::serialize(value, out);
      out.finish();
      this->store().merge(this->column, this->backend->key_bytes(), operand);
    }
    void update(std::vector<V> values) override {
      cached_version = ~uint64_t{0};
      this->write(this->backend->key_bytes(), values);
    }
    void clear() override {
      cached_version = ~uint64_t{0};
      this->store().remove(this->column, this->backend->key_bytes());
    }
    void invalidate() override { cached_version = ~uint64_t{0}; }
    std::vector<V> cache;
    uint64_t cached_version = ~uint64_t{0};
    std::string operand;
  };

  template <class UK, class UV>
  struct MapHandle final : HandleBase, MapState<UK, UV> {
    const std::string& entry_key(const UK& user_key) {
      key.assign(this->backend->key_bytes());
      BufferWriter out(key);
      Serializer<UK>::serialize(user_key, out);
      out.finish();
      return key;
    }
    std::optional<UV> get(const UK& user_key) override {
      std::string_view payload;
      if (!this->read(entry_key(user_key), payload)) return std::nullopt;
      return from_bytes<UV>(payload);
    }
    void put(const UK& user_key, const UV& value) override {
      this->write(entry_key(user_key), value);
    }
    void remove(const UK& user_key) override {
      this->store().remove(this->column, entry_key(user_key));
    }
    bool contains(const UK& user_key) override {
      std::string_view payload;
      return this->read(entry_key(user_key), payload);
    }
    const absl::flat_hash_map<UK, UV>& entries() override {
      cache.clear();
      const std::string& prefix = this->backend->key_bytes();
      std::vector<std::string> expired;
      this->store().scan(this->column, prefix, [&](std::string_view k, std::string_view v) {
        if (v.size() < RocksDbStore::kTimeBytes) return true;
        if (this->expired(HandleBase::touched_of(v))) {
          expired.emplace_back(k);
          return true;
        }
        cache.insert_or_assign(from_bytes<UK>(k.substr(prefix.size())),
                               from_bytes<UV>(v.substr(RocksDbStore::kTimeBytes)));
        return true;
      });
      for (const auto& k : expired) this->store().remove(this->column, k);
      return cache;
    }
    void clear() override { this->store().remove_prefix(this->column, this->backend->key_bytes()); }
    std::string key;
    absl::flat_hash_map<UK, UV> cache;
  };

  template <class V>
  struct ReducingHandle final : HandleBase, ReducingState<V> {
    std::optional<V> get() override {
      std::string_view payload;
      if (!this->read(this->backend->key_bytes(), payload)) return std::nullopt;
      return from_bytes<V>(payload);
    }
    void add(const V& value) override {
      std::optional<V> current = get();
      this->write(this->backend->key_bytes(), current ? reduce(*current, value) : value);
    }
    void clear() override { this->store().remove(this->column, this->backend->key_bytes()); }
    std::function<V(const V&, const V&)> reduce;
  };

  template <class In, class Acc, class Out>
  struct AggregatingHandle final : HandleBase, AggregatingState<In, Out> {
    std::optional<Acc> accumulator() {
      std::string_view payload;
      if (!this->read(this->backend->key_bytes(), payload)) return std::nullopt;
      return from_bytes<Acc>(payload);
    }
    std::optional<Out> get() override {
      std::optional<Acc> acc = accumulator();
      return acc ? std::optional<Out>(descriptor.result(*acc)) : std::nullopt;
    }
    void add(const In& value) override {
      Acc acc = accumulator().value_or(descriptor.create());
      descriptor.add(value, acc);
      this->write(this->backend->key_bytes(), acc);
    }
    void clear() override { this->store().remove(this->column, this->backend->key_bytes()); }
    AggregatingStateDescriptor<In, Acc, Out> descriptor;
  };

  template <class H>
  H& handle(const std::string& name, const StateTtlConfig& ttl, StateKind kind) {
    auto& slot = handles_[name];
    if (!slot) {
      auto h = std::make_unique<H>();
      h->backend = this;
      h->kind = kind;
      h->ttl = ttl.ttl.count();
      h->ttl_config = ttl;
      h->column = store_->column(name, kind, h->ttl);
      this->note_ttl(ttl);
      slot = std::move(h);
    }
    return this->template registered_as<H>(slot, name);
  }

  bool incremental_;
  std::filesystem::path shared_directory_;
  std::shared_ptr<RocksDbStore> store_;
  std::map<std::string, std::unique_ptr<HandleBase>> handles_;
  uint64_t key_version_ = ~uint64_t{0};
  std::string key_bytes_;
  std::string scratch_;
};

}  // namespace sluice
