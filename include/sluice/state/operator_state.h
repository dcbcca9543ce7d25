// Operator (non-keyed) state: named lists of values held by each parallel instance of an
// operator, for state that is not tied to keys (a source's offsets, a sink's pending files).
//
//   ListState<Offset>& offsets = ctx.operator_state().get_list_state(
//       ListStateDescriptor<Offset>{"offsets"});
//
// When a job is restored with another parallelism the lists are redistributed as in Flink:
// - list state (get_list_state) is split: the elements of all old instances, concatenated in
//   subtask order, are cut into contiguous, near-equal shares, one per new instance;
// - union list state (get_union_list_state) gives every new instance all the elements.
// snapshot() and restore() carry the state in serialized form (see sluice/core/serialization.h);
// the checkpoint work drives them.
//
// Threading: a store belongs to one operator instance, one task thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/core/error.h"
#include "sluice/core/serialization.h"
#include "sluice/state/state_descriptors.h"

namespace sluice {

enum class OperatorStateMode { kSplit, kUnion };

// The serialized state of one operator instance.
struct OperatorStateSnapshot {
  struct List {
    std::string name;
    OperatorStateMode mode = OperatorStateMode::kSplit;
    std::vector<std::string> elements;  // one serialized value each
  };
  std::vector<List> lists;
};

// The snapshots of `old` instances redistributed over `parallelism` new ones.
std::vector<OperatorStateSnapshot> redistribute_operator_state(
    const std::vector<OperatorStateSnapshot>& old, int parallelism);

class OperatorStateStore {
 public:
  template <class V>
  ListState<V>& get_list_state(const ListStateDescriptor<V>& d) {
    return list<V>(d.name, OperatorStateMode::kSplit);
  }
  template <class V>
  ListState<V>& get_union_list_state(const ListStateDescriptor<V>& d) {
    return list<V>(d.name, OperatorStateMode::kUnion);
  }

  OperatorStateSnapshot snapshot() const;
  // Before the function asks for its states; each list is deserialized when first asked for.
  void restore(const OperatorStateSnapshot& snapshot);

 private:
  struct Base {
    virtual ~Base() = default;
    virtual std::vector<std::string> serialize() const = 0;
    OperatorStateMode mode = OperatorStateMode::kSplit;
  };
  template <class V>
  struct Typed final : Base, ListState<V> {
    std::vector<V> values;
    const std::vector<V>& get() override { return values; }
    void add(const V& value) override { values.push_back(value); }
    void update(std::vector<V> v) override { values = std::move(v); }
    void clear() override { values.clear(); }
    std::vector<std::string> serialize() const override {
      std::vector<std::string> out;
      out.reserve(values.size());
      for (const V& v : values) out.push_back(to_bytes(v));
      return out;
    }
  };

  template <class V>
  ListState<V>& list(const std::string& name, OperatorStateMode mode) {
    auto found = lists_.find(name);
    if (found == lists_.end()) {
      // Built completely before it is stored: a failure leaves the store as it was.
      auto typed = std::make_unique<Typed<V>>();
      typed->mode = mode;
      if (auto it = restored_.find(name); it != restored_.end()) {
        if (it->second.mode != mode) {
          throw Error(
              ErrorCategory::kInvalidJob,
              "operator state '" + name +
                  "' was saved as a split list and is read as a union list, or the reverse");
        }
        for (const auto& bytes : it->second.elements) typed->values.push_back(from_bytes<V>(bytes));
        restored_.erase(it);
      }
      found = lists_.emplace(name, std::move(typed)).first;
    }
    auto* typed = dynamic_cast<Typed<V>*>(found->second.get());
    if (typed == nullptr || typed->mode != mode) {
      throw Error(ErrorCategory::kInvalidJob,
                  "operator state '" + name + "' was registered with another type or mode");
    }
    return *typed;
  }

  std::map<std::string, std::unique_ptr<Base>> lists_;
  std::map<std::string, OperatorStateSnapshot::List> restored_;  // not yet asked for
};

}  // namespace sluice
