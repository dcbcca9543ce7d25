// Broadcast state: maps that every parallel subtask of an operator holds in full, written only by
// the broadcast input (Flink's broadcast state pattern: a low-volume stream of rules or
// configuration broadcast to all subtasks, read while processing the main stream).
//
//   const MapStateDescriptor<std::string, Rule> rules{"rules"};
//   // broadcast side (read-write):  ctx.broadcast_state(rules).put(rule.name, rule);
//   // keyed side (read-only):       for (auto& [name, rule] :
//   ctx.broadcast_state(rules).entries())
//
// Every subtask must apply the same updates for the copies to stay equal: update broadcast state
// only from the broadcast element itself, not from keyed state or the subtask's identity.
// Broadcast and main records are not ordered with respect to each other.
//
// Threading: owned by one operator instance, one task thread.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "sluice/core/error.h"
#include "sluice/state/state_descriptors.h"

namespace sluice {

template <class K, class V>
class BroadcastState {
 public:
  using Map = absl::flat_hash_map<K, V>;
  std::optional<V> get(const K& key) const {
    auto it = map_.find(key);
    return it == map_.end() ? std::nullopt : std::optional<V>(it->second);
  }
  bool contains(const K& key) const { return map_.contains(key); }
  const Map& entries() const { return map_; }
  size_t size() const { return map_.size(); }
  void put(const K& key, const V& value) { map_[key] = value; }
  void remove(const K& key) { map_.erase(key); }
  void clear() { map_.clear(); }

 private:
  friend class BroadcastStates;
  Map map_;
};

// The broadcast states of one operator instance, by descriptor name.
class BroadcastStates {
 public:
  template <class K, class V>
  BroadcastState<K, V>& get(const MapStateDescriptor<K, V>& d) {
    auto& slot = states_[d.name];
    if (!slot) {
      auto typed = std::make_unique<Typed<K, V>>(d.name);
      if (auto it = restored_.find(d.name); it != restored_.end()) {
        typed->state.map_ = from_bytes<typename BroadcastState<K, V>::Map>(it->second);
        restored_.erase(it);
      }
      slot = std::move(typed);
    }
    auto* typed = dynamic_cast<Typed<K, V>*>(slot.get());
    if (typed == nullptr) {
      throw Error(ErrorCategory::kInvalidJob,
                  "broadcast state '" + d.name + "' was registered with another type");
    }
    return typed->state;
  }

  // Every state serialized, for a checkpoint (all instances hold the same).
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> result = restored_;  // restored, not asked for yet: kept
    for (const auto& [name, state] : states_) result[name] = state->serialize();
    return result;
  }
  // The states of a restored instance, decoded when first asked for.
  void restore(std::map<std::string, std::string> states) { restored_ = std::move(states); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual std::string serialize() const = 0;
  };
  template <class K, class V>
  struct Typed final : Base {
    explicit Typed(std::string name) : name(std::move(name)) {}
    std::string serialize() const override {
      if constexpr (kSerializable<K> && kSerializable<V>) {
        return to_bytes(state.map_);
      } else {
        throw_not_checkpointable("broadcast state '" + name +
                                 "' holds a type without a sluice::Serializer");
      }
    }
    std::string name;
    BroadcastState<K, V> state;
  };
  std::map<std::string, std::unique_ptr<Base>> states_;
  std::map<std::string, std::string> restored_;
};

}  // namespace sluice
