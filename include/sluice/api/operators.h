// The typed operators behind the DataStream API. Each processes a whole input batch in a loop
// with the user function inlined (no virtual call, no allocation per record: output batches keep
// their capacity), and emits one output batch per input batch.
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <functional>
#include <type_traits>
#include <utility>

#include "sluice/api/functions.h"
#include "sluice/runtime/operator.h"
#include "sluice/runtime/record_writer.h"
#include "sluice/state/keyed_state.h"

namespace sluice::detail {

// Common plumbing: the output batch and its flush.
template <class Out>
class TypedOperator : public Operator {
 protected:
  void emit_output() {
    if (out_.values.empty()) return;
    output().emit(out_);
    out_.clear();
  }
  size_t batch_limit() { return records_per_buffer<Out>(this->context().buffer_bytes); }

  RecordBuffer<Out> out_;
};

template <class In, class Out, class F>
class MapOperator final : public TypedOperator<Out> {
 public:
  explicit MapOperator(F fn) : fn_(std::move(fn)) {}
  void open() override { open_function(fn_, this->context()); }
  void close() override { close_function(fn_); }
  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<In>&>(batch);
    auto& out = this->out_;
    const size_t n = in.values.size();
    if constexpr (std::is_trivially_copyable_v<Out> && std::is_default_constructible_v<Out>) {
      // Resize, then assign by index: no capacity check per record, so the loop vectorizes.
      out.values.resize(n);
      Out* dst = out.values.data();
      const In* src = in.values.data();
      for (size_t i = 0; i < n; ++i) dst[i] = std::invoke(fn_, src[i]);
    } else if constexpr (!std::is_invocable_v<F&, const In&>) {
      // fn takes the record by rvalue (to move parts of it out): it gets the record itself
      // unless another consumer still reads the buffer.
      out.values.reserve(n);
      for (auto& value : in.values) {
        out.values.push_back(in.shared ? std::invoke(fn_, In(value))
                                       : std::invoke(fn_, std::move(value)));
      }
    } else {
      out.values.reserve(n);
      for (const auto& value : in.values) out.values.push_back(std::invoke(fn_, value));
    }
    out.timestamps.assign(in.timestamps.begin(), in.timestamps.end());
    this->emit_output();
  }

 private:
  F fn_;
};

template <class T, class F>
class FilterOperator final : public TypedOperator<T> {
 public:
  explicit FilterOperator(F fn) : fn_(std::move(fn)) {}
  void open() override { open_function(fn_, this->context()); }
  void close() override { close_function(fn_); }
  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<T>&>(batch);
    auto& out = this->out_;
    const size_t n = in.values.size();
    if (in.timestamps.empty() && std::is_trivially_copyable_v<T> &&
        std::is_default_constructible_v<T>) {
      // Branch-free compaction: always copy, advance only when kept. The predicate's outcome is
      // often unpredictable; a mispredicted branch per record costs more than the copy.
      out.values.resize(n);
      T* dst = out.values.data();
      size_t kept = 0;
      for (size_t i = 0; i < n; ++i) {
        dst[kept] = in.values[i];
        kept += static_cast<bool>(fn_(in.values[i]));
      }
      out.values.resize(kept);
    } else if (in.shared) {
      for (size_t i = 0; i < n; ++i) {
        if (!fn_(in.values[i])) continue;
        out.values.push_back(in.values[i]);
        if (!in.timestamps.empty()) out.timestamps.push_back(in.timestamps[i]);
      }
    } else {
      // This consumer is the buffer's last reader: kept records move.
      for (size_t i = 0; i < n; ++i) {
        if (!fn_(std::as_const(in.values[i]))) continue;
        out.values.push_back(std::move(in.values[i]));
        if (!in.timestamps.empty()) out.timestamps.push_back(in.timestamps[i]);
      }
    }
    this->emit_output();
  }

 private:
  F fn_;
};

template <class In, class Out, class F>
class FlatMapOperator final : public TypedOperator<Out> {
 public:
  explicit FlatMapOperator(F fn) : fn_(std::move(fn)) {}
  void open() override { open_function(fn_, this->context()); }
  void close() override { close_function(fn_); }
  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<In>&>(batch);
    Collector<Out> collector(this->out_, this->output(), this->batch_limit());
    for (size_t i = 0; i < in.values.size(); ++i) {
      collector.set_timestamp(in.timestamp(i));
      fn_(in.values[i], collector);
    }
    collector.flush();
  }

 private:
  F fn_;
};

// Plumbing shared by the process-function operators: the user function, its ProcessContext and
// side outputs, and the loop that feeds one input batch to a per-record callback.
template <class Out, class F>
class ProcessOperatorBase : public TypedOperator<Out> {
 public:
  explicit ProcessOperatorBase(F fn) : fn_(std::move(fn)) {}
  void open() override {
    side_outputs_.bind(&this->context());
    context_ = std::make_unique<ProcessContext>(side_outputs_, this->context());
    open_function(fn_, this->context());
  }
  void close() override { close_function(fn_); }
  void process_watermark(Timestamp watermark) override {
    context_->set_watermark(watermark);
    this->output().emit_watermark(watermark);
  }

 protected:
  // Calls element(fn, value, context, collector) for every record of `in`, then flushes.
  template <class In, class Element>
  void for_each_record(RecordBuffer<In>& in, Element&& element) {
    Collector<Out> collector(this->out_, this->output(), this->batch_limit());
    for (size_t i = 0; i < in.values.size(); ++i) {
      const Timestamp ts = in.timestamp(i);
      collector.set_timestamp(ts);
      context_->set_timestamp(ts);
      element(fn_, in.values[i], *context_, collector);
    }
    collector.flush();
    side_outputs_.flush();
  }

 private:
  F fn_;
  SideOutputs side_outputs_;
  std::unique_ptr<ProcessContext> context_;
};

template <class In, class Out, class F>
class ProcessOperator final : public ProcessOperatorBase<Out, F> {
 public:
  using ProcessOperatorBase<Out, F>::ProcessOperatorBase;
  void process_batch(Buffer& batch, int) override {
    this->for_each_record(static_cast<RecordBuffer<In>&>(batch),
                          [](F& fn, const In& value, ProcessContext& ctx, Collector<Out>& out) {
                            fn.process_element(value, ctx, out);
                          });
  }
};

// The keyed state backend of an operator instance, as the job configures it; `part` tells an
// operator's backends apart.
template <class K>
std::unique_ptr<KeyedStateBackend<K>> make_operator_backend(const OperatorContext& c,
                                                            const std::string& part) {
  KeyedBackendSetup setup{c.state_backend,
                          "node" + std::to_string(c.node_id) + "-subtask" +
                              std::to_string(c.subtask_index) + "-" + part,
                          c.restored_shared_directory};
  return make_keyed_state_backend<K>(c.key_group_range, c.max_parallelism, setup);
}

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
    open_function(fn_, this->context());
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
  void close() override { close_function(fn_); }
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

// Passes batches through unchanged: the operator behind union.
template <class T>
class IdentityOperator final : public Operator {
 public:
  void process_batch(Buffer& batch, int) override { output().emit(batch); }
};

// Two inputs of different types, one function per input (co-map / co-flat-map / co-process).
template <class In1, class In2, class Out, class F1, class F2>
class CoMapOperator final : public TypedOperator<Out> {
 public:
  CoMapOperator(F1 f1, F2 f2) : f1_(std::move(f1)), f2_(std::move(f2)) {}
  void process_batch(Buffer& batch, int input) override {
    if (input == 0) {
      apply(static_cast<RecordBuffer<In1>&>(batch), f1_);
    } else {
      apply(static_cast<RecordBuffer<In2>&>(batch), f2_);
    }
    this->emit_output();
  }

 private:
  template <class In, class F>
  void apply(RecordBuffer<In>& in, F& fn) {
    for (const auto& value : in.values) this->out_.values.push_back(fn(value));
    this->out_.timestamps.assign(in.timestamps.begin(), in.timestamps.end());
  }
  F1 f1_;
  F2 f2_;
};

template <class In1, class In2, class Out, class F1, class F2>
class CoFlatMapOperator final : public TypedOperator<Out> {
 public:
  CoFlatMapOperator(F1 f1, F2 f2) : f1_(std::move(f1)), f2_(std::move(f2)) {}
  void process_batch(Buffer& batch, int input) override {
    Collector<Out> collector(this->out_, this->output(), this->batch_limit());
    if (input == 0) {
      apply(static_cast<RecordBuffer<In1>&>(batch), f1_, collector);
    } else {
      apply(static_cast<RecordBuffer<In2>&>(batch), f2_, collector);
    }
    collector.flush();
  }

 private:
  template <class In, class F>
  void apply(RecordBuffer<In>& in, F& fn, Collector<Out>& collector) {
    for (size_t i = 0; i < in.values.size(); ++i) {
      collector.set_timestamp(in.timestamp(i));
      fn(in.values[i], collector);
    }
  }
  F1 f1_;
  F2 f2_;
};

template <class In1, class In2, class Out, class F>
class CoProcessOperator final : public ProcessOperatorBase<Out, F> {
 public:
  using ProcessOperatorBase<Out, F>::ProcessOperatorBase;
  void process_batch(Buffer& batch, int input) override {
    if (input == 0) {
      this->for_each_record(static_cast<RecordBuffer<In1>&>(batch),
                            [](F& fn, const In1& value, ProcessContext& ctx, Collector<Out>& out) {
                              fn.process_element1(value, ctx, out);
                            });
    } else {
      this->for_each_record(static_cast<RecordBuffer<In2>&>(batch),
                            [](F& fn, const In2& value, ProcessContext& ctx, Collector<Out>& out) {
                              fn.process_element2(value, ctx, out);
                            });
    }
  }
};

}  // namespace sluice::detail
