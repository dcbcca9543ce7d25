// Keyed state as user functions see it (Flink's ValueState, ListState, MapState, ReducingState,
// AggregatingState): the descriptors that name a state, with optional time-to-live, and the
// handles that read and write the current key's entry.
//
//   ValueState<double>& average = ctx.get_state(ValueStateDescriptor<double>{"average"});
//   double a = average.value().value_or(0);      // the current key's value, if any
//   average.update(a * 0.9 + amount * 0.1);
//
// TTL (StateTtlConfig): an entry expires `ttl` after it was written (or also read, with
// kOnReadAndWrite). Expired values are never returned; they are removed when accessed and by a
// periodic background sweep of the operator (RocksDB: by a compaction filter).
//
// The backends that store keyed state are in keyed_state_backend.h; operator (non-keyed) list
// state uses the same ListState handle (operator_state.h).
//
// Threading: a handle belongs to one operator instance (one task thread).
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

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

}  // namespace sluice
