// Window function adapters: the window operators see one interface (an accumulator type, create,
// add, merge, emit) over the kinds of window function — reduce, aggregate, process (keeps the
// records), and aggregate followed by process.
//
// Threading: as the operator that holds them, one task thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sluice/core/error.h"
#include "sluice/functions/window_function.h"

namespace sluice::operators {

[[noreturn]] inline void throw_window_record_without_timestamp() {
  throw Error(
      ErrorCategory::kInvalidJob,
      "an event-time window received a record without a timestamp: assign timestamps with a "
      "WatermarkStrategy (from_source(source, strategy, name) or "
      "assign_timestamps_and_watermarks)");
}

// Adapters give the operator one interface over the kinds of window function: an accumulator
// type, add, merge, and emit.
template <class T, class Agg>
struct AggregateAdapter {
  using Acc = typename Agg::accumulator_type;
  using Out = typename Agg::output_type;
  Agg agg;
  std::string description() const { return "aggregate " + readable_type_name<Agg>(); }
  Acc create() const { return agg.create_accumulator(); }
  void add(Acc& acc, const T& value) const { agg.add(value, acc); }
  void merge(const Acc& from, Acc& into) const { agg.merge(from, into); }
  template <class K>
  void emit(const K&, const WindowContext<K>&, const Acc& acc, Collector<Out>& out) {
    out.collect(agg.get_result(acc));
  }
};

template <class T, class F>
struct ReduceAdapter {
  using Acc = std::optional<T>;
  using Out = T;
  F fn;
  std::string description() const { return "reduce " + readable_type_name<F>(); }
  Acc create() const { return std::nullopt; }
  void add(Acc& acc, const T& value) { acc = acc ? fn(*acc, value) : value; }
  void merge(const Acc& from, Acc& into) {
    if (from) add(into, *from);
  }
  template <class K>
  void emit(const K&, const WindowContext<K>&, const Acc& acc, Collector<Out>& out) {
    if (acc) out.collect(*acc);
  }
};

template <class T, class F, class K>
struct ProcessAdapter {
  using Acc = std::vector<T>;
  using Out = typename F::output_type;
  F fn;
  std::string description() const { return "process " + readable_type_name<F>(); }
  Acc create() const { return {}; }
  void add(Acc& acc, const T& value) const { acc.push_back(value); }
  void merge(const Acc& from, Acc& into) const {
    into.insert(into.end(), from.begin(), from.end());
  }
  void emit(const K& key, const WindowContext<K>& context, const Acc& acc, Collector<Out>& out) {
    fn.process(key, context, acc, out);
  }
};

template <class T, class Agg, class F, class K>
struct AggregateProcessAdapter {
  using Acc = typename Agg::accumulator_type;
  using Out = typename F::output_type;
  Agg agg;
  F fn;
  std::string description() const {
    return "aggregate " + readable_type_name<Agg>() + ", then process " + readable_type_name<F>();
  }
  Acc create() const { return agg.create_accumulator(); }
  void add(Acc& acc, const T& value) const { agg.add(value, acc); }
  void merge(const Acc& from, Acc& into) const { agg.merge(from, into); }
  void emit(const K& key, const WindowContext<K>& context, const Acc& acc, Collector<Out>& out) {
    // A window's end emits every key's result: one vector reused, not one allocated per key.
    result_.clear();
    result_.push_back(agg.get_result(acc));
    fn.process(key, context, result_, out);
  }
  std::vector<typename Agg::output_type> result_;
};

}  // namespace sluice::operators
