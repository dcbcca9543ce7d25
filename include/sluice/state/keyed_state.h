// Keyed state: values scoped to the key of the record being processed (Flink's ValueState,
// ListState, MapState, ReducingState, AggregatingState), with optional time-to-live, and the heap
// backend that stores them.
//
//   ValueState<double>& average = ctx.get_state(ValueStateDescriptor<double>("average"));
//   double a = average.value().value_or(0);      // the current key's value, if any
//   average.update(a * 0.9 + amount * 0.1);
//
// The heap backend keeps each state as one hash map per key group of the subtask's range (see
// key_groups.h), so a subtask's state is the union of its key groups and can be redistributed when
// the parallelism changes; snapshots come with the checkpoint work.
//
// TTL (StateTtlConfig): an entry expires `ttl` after it was written (or also read, with
// kOnReadAndWrite). Expired values are never returned; they are removed when accessed and by a
// periodic background sweep of the operator.
//
// Threading: a backend and its handles belong to one operator instance (one task thread).
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/core/error.h"
#include "sluice/core/key_groups.h"
#include "sluice/core/serialization.h"
#include "sluice/core/time.h"

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

namespace detail {

// Per-key storage of one state, one hash map per key group, with TTL bookkeeping.
template <class K, class S>
class KeyedTable {
 public:
  struct Slot {
    S value;
    Timestamp touched = 0;
  };

  KeyedTable(KeyGroupRange range, StateTtlConfig ttl, const TtlTimeProvider* clock)
      : range_(range), ttl_(ttl.ttl.count()), ttl_config_(ttl), clock_(clock) {
    maps_.resize(static_cast<size_t>(range.size()));
  }

  // The current key's slot, or null (expired entries are removed and count as absent).
  Slot* find(const K& key, int key_group, bool is_read) {
    auto& map = maps_[local(key_group)];
    auto it = map.find(key);
    if (it == map.end()) return nullptr;
    if (ttl_ > 0) {
      const Timestamp now = (*clock_)();
      if (now - it->second.touched >= ttl_) {
        map.erase(it);
        return nullptr;
      }
      if (is_read && ttl_config_.update == StateTtlConfig::Update::kOnReadAndWrite)
        it->second.touched = now;
    }
    return &it->second;
  }
  Slot& find_or_create(const K& key, int key_group, const std::function<S()>& make) {
    if (Slot* slot = find(key, key_group, false)) {
      touch(*slot);
      return *slot;
    }
    auto& slot = maps_[local(key_group)][key];
    slot.value = make();
    touch(slot);
    return slot;
  }
  void touch(Slot& slot) {
    if (ttl_ > 0) slot.touched = (*clock_)();
  }
  void erase(const K& key, int key_group) { maps_[local(key_group)].erase(key); }
  // Background TTL sweep over every key group.
  size_t remove_expired(Timestamp now) {
    if (ttl_ <= 0) return 0;
    size_t removed = 0;
    for (auto& map : maps_) {
      removed += absl::erase_if(
          map, [&](const auto& entry) { return now - entry.second.touched >= ttl_; });
    }
    return removed;
  }
  // Removes every key matching pred (whatever its TTL), e.g. the keys of windows that are gone.
  template <class Pred>
  size_t remove_keys_if(Pred&& pred) {
    size_t removed = 0;
    for (auto& map : maps_) {
      removed += absl::erase_if(map, [&](const auto& entry) { return pred(entry.first); });
    }
    return removed;
  }
  void append_keys(std::vector<K>& keys) const {
    for (const auto& map : maps_) {
      for (const auto& entry : map) keys.push_back(entry.first);
    }
  }
  size_t size() const {
    size_t n = 0;
    for (const auto& map : maps_) n += map.size();
    return n;
  }
  // One key group's entries: count, then (key, value, last touched) each.
  void write_group(int key_group, BufferWriter& out) const {
    const auto& map = maps_[local(key_group)];
    out.write_length(map.size());
    for (const auto& [key, slot] : map) {
      Serializer<K>::serialize(key, out);
      Serializer<S>::serialize(slot.value, out);
      out.write_fixed(slot.touched);
    }
  }
  void read_group(int key_group, BufferReader& in) {
    auto& map = maps_[local(key_group)];
    const size_t n = in.read_length();
    for (size_t i = 0; i < n; ++i) {
      K key = Serializer<K>::deserialize(in);
      S value = Serializer<S>::deserialize(in);
      const auto touched = in.read_fixed<Timestamp>();
      map.insert_or_assign(std::move(key), Slot{std::move(value), touched});
    }
  }

 private:
  size_t local(int key_group) const {
    if (!range_.contains(key_group)) {
      throw Error(ErrorCategory::kInternal,
                  "keyed state accessed for a key group outside the subtask's range");
    }
    return static_cast<size_t>(key_group - range_.start);
  }

  KeyGroupRange range_;
  int64_t ttl_;
  StateTtlConfig ttl_config_;
  const TtlTimeProvider* clock_;
  std::vector<absl::flat_hash_map<K, Slot>> maps_;
};

}  // namespace detail

// One key group's keyed state in serialized form: the unit of snapshots and of rescaling (a
// subtask restored at another parallelism takes the key groups of its new range, from whichever
// old subtasks held them). Format: u32 number of states, then per state its name and its entries
// as one length-prefixed blob.
struct KeyGroupSnapshot {
  int key_group = 0;
  std::string bytes;
};

// The heap keyed state backend of one operator instance.
template <class K>
class HeapKeyedStateBackend {
 public:
  explicit HeapKeyedStateBackend(KeyGroupRange range, int max_parallelism)
      : range_(range), max_parallelism_(max_parallelism) {}

  void set_current_key(const K& key) {
    current_key_ = key;
    current_group_ = key_group_for_key(key, max_parallelism_);
  }
  // For composite keys (a key and its window) that live in the key group of their key part.
  void set_current_key(const K& key, int key_group) {
    current_key_ = key;
    current_group_ = key_group;
  }
  const K& current_key() const { return current_key_; }
  // Replaces the TTL clock; call before any state is registered.
  void set_ttl_time_provider(TtlTimeProvider clock) { ttl_clock_ = std::move(clock); }
  int current_key_group() const { return current_group_; }

  template <class V>
  ValueState<V>& get_state(const ValueStateDescriptor<V>& d) {
    return handle<ValueHandle<V>>(d.name, d.ttl);
  }
  template <class V>
  ListState<V>& get_list_state(const ListStateDescriptor<V>& d) {
    return handle<ListHandle<V>>(d.name, d.ttl);
  }
  template <class UK, class UV>
  MapState<UK, UV>& get_map_state(const MapStateDescriptor<UK, UV>& d) {
    return handle<MapHandle<UK, UV>>(d.name, d.ttl);
  }
  template <class V>
  ReducingState<V>& get_reducing_state(const ReducingStateDescriptor<V>& d) {
    auto& h = handle<ReducingHandle<V>>(d.name, d.ttl);
    h.reduce = d.reduce;
    return h;
  }
  template <class In, class Acc, class Out>
  AggregatingState<In, Out>& get_aggregating_state(
      const AggregatingStateDescriptor<In, Acc, Out>& d) {
    auto& h = handle<AggregatingHandle<In, Acc, Out>>(d.name, d.ttl);
    h.descriptor = d;
    return h;
  }

  // The state of every key group of the range, serialized now (the caller may write it out
  // asynchronously: the result shares nothing with the live state).
  std::vector<KeyGroupSnapshot> snapshot() const {
    std::vector<KeyGroupSnapshot> groups;
    for (int g = range_.start; g <= range_.end; ++g) {
      KeyGroupSnapshot group{g, {}};
      BufferWriter out(group.bytes);
      std::vector<std::pair<const std::string*, std::string>> blobs;
      for (const auto& [name, state] : states_) {
        std::string blob;
        BufferWriter blob_out(blob);
        state->write_group(g, blob_out);
        blobs.emplace_back(&name, std::move(blob));
      }
      for (const auto& [name, pending] : restored_) {  // restored, never registered: kept
        for (const auto& [pending_group, blob] : pending) {
          if (pending_group == g) blobs.emplace_back(&name, blob);
        }
      }
      out.write_length(blobs.size());
      for (const auto& [name, blob] : blobs) {
        Serializer<std::string>::serialize(*name, out);
        Serializer<std::string>::serialize(blob, out);
      }
      groups.push_back(std::move(group));
    }
    return groups;
  }
  // Takes the key groups of this backend's range from `groups` (others are ignored). A state is
  // decoded when it is registered (or now, if it already is).
  void restore(const std::vector<KeyGroupSnapshot>& groups) {
    for (const auto& group : groups) {
      if (!range_.contains(group.key_group)) continue;
      BufferReader in(group.bytes);
      const size_t states = in.read_length();
      for (size_t i = 0; i < states; ++i) {
        std::string name = Serializer<std::string>::deserialize(in);
        std::string blob = Serializer<std::string>::deserialize(in);
        if (auto it = states_.find(name); it != states_.end()) {
          BufferReader blob_in(blob);
          it->second->read_group(group.key_group, blob_in);
        } else {
          restored_[name].emplace_back(group.key_group, std::move(blob));
        }
      }
    }
  }

  // Background TTL cleanup of every state.
  size_t remove_expired(Timestamp now) {
    size_t removed = 0;
    for (auto& [name, state] : states_) removed += state->remove_expired(now);
    return removed;
  }
  bool has_ttl() const { return has_ttl_; }
  bool empty() const { return states_.empty(); }

  // Removes the current key from every state.
  void clear_current_key() {
    for (auto& [name, state] : states_) state->erase_current();
  }
  // Calls fn(key, state) for every key with a value in the state `d` describes, with the backend
  // set to that key (Flink's applyToKeyedState); the current key is restored afterwards.
  template <class D, class F>
  void apply_to_all_keys(const D& d, F&& fn) {
    auto& state = get_any(d);
    std::vector<K> keys;
    states_.at(d.name)->append_keys(keys);
    const K saved_key = current_key_;
    const int saved_group = current_group_;
    for (const K& key : keys) {
      set_current_key(key);
      fn(key, state);
    }
    set_current_key(saved_key, saved_group);
  }
  // Removes, from every state, the keys matching pred.
  size_t remove_keys_if(const std::function<bool(const K&)>& pred) {
    size_t removed = 0;
    for (auto& [name, state] : states_) removed += state->remove_keys_if(pred);
    return removed;
  }

 private:
  struct HandleBase {
    virtual ~HandleBase() = default;
    virtual size_t remove_expired(Timestamp now) = 0;
    virtual void erase_current() = 0;
    virtual void append_keys(std::vector<K>& keys) const = 0;
    virtual void write_group(int key_group, BufferWriter& out) const = 0;
    virtual void read_group(int key_group, BufferReader& in) = 0;
    virtual size_t remove_keys_if(const std::function<bool(const K&)>& pred) = 0;
  };

  template <class S>
  struct TableHandle : HandleBase {
    HeapKeyedStateBackend* backend = nullptr;
    std::unique_ptr<detail::KeyedTable<K, S>> table;
    size_t remove_expired(Timestamp now) override { return table->remove_expired(now); }
    void erase_current() override { erase(); }
    void append_keys(std::vector<K>& keys) const override { table->append_keys(keys); }
    void write_group(int key_group, BufferWriter& out) const override {
      table->write_group(key_group, out);
    }
    void read_group(int key_group, BufferReader& in) override { table->read_group(key_group, in); }
    size_t remove_keys_if(const std::function<bool(const K&)>& pred) override {
      return table->remove_keys_if(pred);
    }
    S* read() {
      auto* slot = table->find(backend->current_key_, backend->current_group_, true);
      return slot ? &slot->value : nullptr;
    }
    S& write(const std::function<S()>& make) {
      return table->find_or_create(backend->current_key_, backend->current_group_, make).value;
    }
    void erase() { table->erase(backend->current_key_, backend->current_group_); }
  };

  template <class V>
  struct ValueHandle final : TableHandle<V>, ValueState<V> {
    std::optional<V> value() override {
      V* v = this->read();
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
      if (auto* m = this->read()) {
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
    Map empty;
  };

  template <class V>
  struct ReducingHandle final : TableHandle<V>, ReducingState<V> {
    std::optional<V> get() override {
      V* v = this->read();
      return v ? std::optional<V>(*v) : std::nullopt;
    }
    void add(const V& value) override {
      if (V* v = this->read()) {
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
      Acc* acc = this->read();
      return acc ? std::optional<Out>(descriptor.result(*acc)) : std::nullopt;
    }
    void add(const In& value) override { descriptor.add(value, this->write(descriptor.create)); }
    void clear() override { this->erase(); }
    AggregatingStateDescriptor<In, Acc, Out> descriptor;
  };

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

  template <class H>
  H& handle(const std::string& name, const StateTtlConfig& ttl) {
    auto& slot = states_[name];
    if (!slot) {
      auto h = std::make_unique<H>();
      h->backend = this;
      h->table =
          std::make_unique<typename decltype(h->table)::element_type>(range_, ttl, &ttl_clock_);
      if (ttl.ttl.count() > 0) has_ttl_ = true;
      if (auto it = restored_.find(name); it != restored_.end()) {
        for (const auto& [key_group, blob] : it->second) {
          BufferReader in(blob);
          h->table->read_group(key_group, in);
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

  KeyGroupRange range_;
  int max_parallelism_;
  K current_key_{};
  int current_group_ = 0;
  bool has_ttl_ = false;
  TtlTimeProvider ttl_clock_ = [] { return wall_clock_millis(); };
  std::map<std::string, std::unique_ptr<HandleBase>> states_;
  // Restored state not registered yet: name -> (key group, entries blob).
  std::map<std::string, std::vector<std::pair<int, std::string>>> restored_;
};

// The state-getting half of a keyed context: what user functions call to obtain state handles.
// Handles always refer to the backend's current key.
template <class K>
class KeyedStateStore {
 public:
  explicit KeyedStateStore(HeapKeyedStateBackend<K>& backend) : backend_(&backend) {}
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
  HeapKeyedStateBackend<K>* backend_;
};

// What a keyed operator checkpoints: the state of its keyed backends and its own per-key data
// (timers, window contents), all by key group so that a restored instance takes the groups of its
// range from whichever old instances held them; the watermark it had reached (so that lateness is
// judged as before the failure); and its broadcast state, equal in every instance.
struct KeyedOperatorSnapshot {
  Timestamp watermark = kMinWatermark;
  std::vector<std::vector<KeyGroupSnapshot>> backends;
  std::vector<KeyGroupSnapshot> internal;
  std::map<std::string, std::string> broadcast;
};

// Reserves the whole size first: snapshots of large state are written in one allocation.
template <>
struct Serializer<KeyedOperatorSnapshot> {
  static void serialize(const KeyedOperatorSnapshot& value, BufferWriter& out) {
    size_t size = 64;
    auto add = [&](const std::vector<KeyGroupSnapshot>& groups) {
      for (const auto& g : groups) size += g.bytes.size() + 8;
    };
    for (const auto& backend : value.backends) add(backend);
    add(value.internal);
    for (const auto& [name, bytes] : value.broadcast) size += name.size() + bytes.size() + 8;
    out.reserve(size);
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
