// KeyedReduceOperator: a rolling reduce per key (KeyedStream::reduce and the field aggregations).
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <functional>
#include <type_traits>

#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"
#include "sluice/state/keyed_snapshot.h"

namespace sluice::operators {

// Rolling reduce on a keyed stream: one accumulated value per key, emitted after every update
// (Flink's KeyedStream#reduce). The input arrives hash-partitioned, so each key lives in exactly
// one subtask.
template <class T, class KeySelector, class F>
class KeyedReduceOperator final : public TypedOperator<T> {
 public:
  using Key = std::decay_t<std::invoke_result_t<KeySelector&, const T&>>;
  KeyedReduceOperator(KeySelector selector, F fn)
      : selector_(std::move(selector)), fn_(std::move(fn)) {}
  void open() override {
    if constexpr (kCheckpointable) {
      const OperatorContext& c = this->context();
      Timestamp unused;
      for (auto& snapshot : restored_keyed_snapshots(c.restored_state, &unused)) {
        read_key_grouped_items(snapshot.internal, c.key_group_range, [&](BufferReader& in) {
          Key key = deserialize<Key>(in);
          state_.insert_or_assign(std::move(key), deserialize<T>(in));
        });
      }
    }
    detail::open_function(fn_, this->context());
  }
  // The accumulated value of every key, by key group.
  StateSnapshot snapshot_state(const SnapshotRequest&) override {
    if constexpr (kCheckpointable) {
      KeyGroupedItems items;
      for (const auto& [key, value] : state_) {
        BufferWriter out = items.add(key_group_for_key(key, this->context().max_parallelism));
        serialize(key, out);
        serialize(value, out);
      }
      return to_bytes(KeyedOperatorSnapshot{kMinWatermark, {}, items.finish(), {}});
    } else {
      throw_not_checkpointable("the key or value type of reduce '" + this->context().operator_name +
                               "' has no sluice::Serializer");
    }
  }
  void close() override { detail::close_function(fn_); }
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of<T, T>("keyed_reduce");
    d.add("key", readable_type_name<Key>());
    d.add("function", readable_type_name<F>());
    return d;
  }
  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<T>&>(batch);
    auto& out = this->out_;
    out.values.reserve(in.values.size());
    for (const auto& value : in.values) {
      auto [it, inserted] = state_.try_emplace(std::invoke(selector_, value), value);
      if (!inserted) it->second = fn_(it->second, value);
      out.values.push_back(it->second);
    }
    out.timestamps.assign(in.timestamps.begin(), in.timestamps.end());
    this->emit_output();
  }

 private:
  static constexpr bool kCheckpointable = kSerializable<Key> && kSerializable<T>;
  KeySelector selector_;
  F fn_;
  absl::flat_hash_map<Key, T> state_;
};

}  // namespace sluice::operators
