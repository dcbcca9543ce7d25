// WindowedStream: `keyed.window(assigner)` followed by a window function.
//
//   keyed.window(sluice::TumblingEventTimeWindows::of(std::chrono::minutes(1)))
//        .allowed_lateness(std::chrono::seconds(10))
//        .side_output_late_data(late_tag)
//        .aggregate(SumAndCount{});            // or reduce(fn), process(fn), aggregate(agg, fn)
//
// Threading: define a job from one thread.
#pragma once

#include <optional>

#include "sluice/api/data_stream.h"
#include "sluice/window/window_operator.h"

namespace sluice {

template <class T, class KeySelector>
class WindowedStream {
 public:
  using Key = typename KeyedStream<T, KeySelector>::key_type;

  // `all`: a window over the whole (non-keyed) stream, computed by one subtask.
  WindowedStream(KeyedStream<T, KeySelector> input, TimeWindowSpec spec, bool all = false)
      : input_(std::move(input)), spec_(spec), all_(all) {}

  template <class Rep, class Period>
  WindowedStream& allowed_lateness(std::chrono::duration<Rep, Period> lateness) {
    lateness_ = std::chrono::duration_cast<std::chrono::milliseconds>(lateness).count();
    if (lateness_ < 0)
      throw Error(ErrorCategory::kInvalidArgument, "allowed lateness cannot be negative");
    return *this;
  }
  WindowedStream& side_output_late_data(const OutputTag<T>& tag) {
    late_tag_ = tag;
    return *this;
  }

  // fn(const T&, const T&) -> T, applied incrementally.
  template <class F>
  DataStream<T> reduce(F fn) const {
    return apply(detail::ReduceAdapter<T, F>{std::move(fn)}, "window_reduce");
  }
  // An AggregateFunction<T, Acc, Out>: one accumulator per key and pane.
  template <class Agg>
  DataStream<typename Agg::output_type> aggregate(Agg agg) const {
    return apply(detail::AggregateAdapter<T, Agg>{std::move(agg)}, "window_aggregate");
  }
  // Incremental aggregation, then a ProcessWindowFunction that sees the one result with its window.
  template <class Agg, class F>
  DataStream<typename F::output_type> aggregate(Agg agg, F fn) const {
    return apply(detail::AggregateProcessAdapter<T, Agg, F, Key>{std::move(agg), std::move(fn)},
                 "window_aggregate");
  }
  // A ProcessWindowFunction<T, Out, Key> over all the window's records.
  template <class F>
  DataStream<typename F::output_type> process(F fn) const {
    return apply(detail::ProcessAdapter<T, F, Key>{std::move(fn)}, "window_process");
  }

 private:
  template <class Adapter>
  DataStream<typename Adapter::Out> apply(Adapter adapter, const std::string& name) const {
    auto selector = input_.key_selector();
    auto spec = spec_;
    auto lateness = lateness_;
    auto late_tag = late_tag_;
    auto stream =
        input_.template add_operator<typename Adapter::Out>(all_ ? name + "_all" : name, [=] {
          return std::make_unique<detail::WindowOperator<T, KeySelector, Adapter>>(
              selector, adapter, spec, lateness, late_tag);
        });
    if (all_) stream.set_parallelism(1);
    return stream;
  }

  KeyedStream<T, KeySelector> input_;
  TimeWindowSpec spec_;
  Timestamp lateness_ = 0;
  std::optional<OutputTag<T>> late_tag_;
  bool all_ = false;
};

// The key of window_all: every record in one group.
struct ConstantKey {
  template <class T>
  int operator()(const T&) const {
    return 0;
  }
};

template <class T, class KeySelector>
auto KeyedStream<T, KeySelector>::window(const TimeWindowSpec& spec) const {
  return WindowedStream<T, KeySelector>(*this, spec);
}

template <class T>
auto DataStream<T>::window_all(const TimeWindowSpec& spec) const {
  return WindowedStream<T, ConstantKey>(key_by(ConstantKey{}), spec, true);
}

}  // namespace sluice
