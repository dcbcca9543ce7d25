// WindowedStream: `keyed.window(assigner)` followed by a window function.
//
//   keyed.window(sluice::TumblingEventTimeWindows::of(std::chrono::minutes(1)))
//        .allowed_lateness(std::chrono::seconds(10))
//        .side_output_late_data(late_tag)
//        .aggregate(SumAndCount{});            // or reduce(fn), process(fn), aggregate(agg, fn)
//   keyed.window(sluice::EventTimeSessionWindows::with_gap(std::chrono::minutes(5))).reduce(fn);
//   keyed.window(sluice::GlobalWindows::create())
//        .trigger(sluice::CountTrigger::of(100))
//        .evictor(sluice::CountEvictor::of(10))   // optional
//        .process(LastTen{});
//
// Tumbling and sliding windows with their default trigger and no evictor run on the pane-based
// WindowOperator; everything else on the general TriggerWindowOperator. Both give the same results.
//
// Threading: define a job from one thread.
#pragma once

#include <optional>

#include "sluice/api/data_stream.h"
#include "sluice/operators/trigger_window_operator.h"
#include "sluice/operators/window_operator.h"
#include "sluice/window/triggers.h"
#include "sluice/window/windows.h"

namespace sluice {

template <class T, class KeySelector, class Assigner, class Trigger, class Evictor>
class WindowedStream {
 public:
  using Key = typename KeyedStream<T, KeySelector>::key_type;

  // `all`: a window over the whole (non-keyed) stream, computed by one subtask.
  WindowedStream(KeyedStream<T, KeySelector> input, Assigner assigner, Trigger trigger,
                 Evictor evictor, bool all)
      : input_(std::move(input)),
        assigner_(std::move(assigner)),
        trigger_(std::move(trigger)),
        evictor_(std::move(evictor)),
        all_(all) {}

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
  // Sliding windows: each record updates the accumulator of every window it belongs to (size /
  // slide of them, as in Flink) instead of one pane's, merged with the window's other panes when
  // it fires. Costs size / slide updates per record and that many accumulators per key, and
  // spares the merge at the window's end: for accumulators that are expensive to merge (maps,
  // top-N lists) or that keep their result up to date, so that a window's end emits at once.
  // No effect on tumbling windows, or with a custom trigger or evictor (those always keep an
  // accumulator per window). Part of the state's layout: a savepoint restores only into the same.
  WindowedStream& accumulate_per_window() {
    per_window_ = true;
    return *this;
  }

  // Replaces the assigner's default trigger (see triggers.h).
  template <class NewTrigger>
  WindowedStream<T, KeySelector, Assigner, NewTrigger, Evictor> trigger(NewTrigger trigger) const {
    if constexpr (Assigner::kMerging) {
      static_assert(
          requires(NewTrigger & t, const TimeWindow& w, typename NewTrigger::State& s,
                   TriggerContext& c) { t.on_merge(w, s, c); },
          "session (merging) windows need a trigger with merge_state and on_merge");
    }
    return with(std::move(trigger), evictor_);
  }
  // Keeps the window's elements and evicts some before or after each firing (see triggers.h).
  template <class NewEvictor>
  WindowedStream<T, KeySelector, Assigner, Trigger, NewEvictor> evictor(NewEvictor evictor) const {
    return with(trigger_, std::move(evictor));
  }

  // fn(const T&, const T&) -> T, applied incrementally.
  template <class F>
  DataStream<T> reduce(F fn) const {
    return apply(operators::ReduceAdapter<T, F>{std::move(fn)}, "window_reduce");
  }
  // An AggregateFunction<T, Acc, Out>: one accumulator per key and window (or pane).
  template <class Agg>
  DataStream<typename Agg::output_type> aggregate(Agg agg) const {
    return apply(operators::AggregateAdapter<T, Agg>{std::move(agg)}, "window_aggregate");
  }
  // Incremental aggregation, then a ProcessWindowFunction that sees the one result with its window.
  template <class Agg, class F>
  DataStream<typename F::output_type> aggregate(Agg agg, F fn) const {
    return apply(operators::AggregateProcessAdapter<T, Agg, F, Key>{std::move(agg), std::move(fn)},
                 "window_aggregate");
  }
  // A ProcessWindowFunction<T, Out, Key> over all the window's records.
  template <class F>
  DataStream<typename F::output_type> process(F fn) const {
    return apply(operators::ProcessAdapter<T, F, Key>{std::move(fn)}, "window_process");
  }

 private:
  template <class T2, class K2, class A2, class Tr2, class E2>
  friend class WindowedStream;

  template <class NewTrigger, class NewEvictor>
  WindowedStream<T, KeySelector, Assigner, NewTrigger, NewEvictor> with(NewTrigger trigger,
                                                                        NewEvictor evictor) const {
    WindowedStream<T, KeySelector, Assigner, NewTrigger, NewEvictor> next(
        input_, assigner_, std::move(trigger), std::move(evictor), all_);
    next.lateness_ = lateness_;
    next.late_tag_ = late_tag_;
    next.per_window_ = per_window_;
    return next;
  }

  template <class Adapter>
  DataStream<typename Adapter::Out> apply(Adapter adapter, const std::string& name) const {
    auto selector = input_.key_selector();
    auto assigner = assigner_;
    auto trigger = trigger_;
    auto evictor = evictor_;
    auto lateness = lateness_;
    auto late_tag = late_tag_;
    auto per_window = per_window_;
    auto stream = input_.template add_operator<typename Adapter::Out>(
        all_ ? name + "_all" : name, [=]() -> std::unique_ptr<Operator> {
          if constexpr (std::is_same_v<Assigner, TimeWindowSpec> &&
                        std::is_same_v<Trigger, DefaultTrigger> &&
                        std::is_same_v<Evictor, NoEvictor>) {
            return std::make_unique<operators::WindowOperator<T, KeySelector, Adapter>>(
                selector, adapter, assigner, lateness, late_tag, per_window);
          } else {
            return std::make_unique<operators::TriggerWindowOperator<T, KeySelector, Adapter,
                                                                     Assigner, Trigger, Evictor>>(
                selector, adapter, assigner, trigger, evictor, lateness, late_tag);
          }
        });
    if (all_) stream.set_parallelism(1);
    return stream;
  }

  KeyedStream<T, KeySelector> input_;
  Assigner assigner_;
  Trigger trigger_;
  Evictor evictor_;
  Timestamp lateness_ = 0;
  std::optional<OutputTag<T>> late_tag_;
  bool all_ = false;
  bool per_window_ = false;
};

namespace detail {
// The trigger a window starts with: time windows and sessions fire at their end (in their time
// domain); the global window never fires by itself.
template <class Assigner>
auto default_trigger(const Assigner& assigner) {
  if constexpr (std::is_same_v<Assigner, GlobalWindowSpec>) {
    return NeverTrigger{};
  } else {
    return DefaultTrigger{assigner.event_time};
  }
}
}  // namespace detail

// The key of window_all: every record in one group.
struct ConstantKey {
  template <class T>
  int operator()(const T&) const {
    return 0;
  }
};

template <class T, class KeySelector>
template <class Assigner>
auto KeyedStream<T, KeySelector>::window(const Assigner& assigner) const {
  auto trigger = detail::default_trigger(assigner);
  return WindowedStream<T, KeySelector, Assigner, decltype(trigger), NoEvictor>(
      *this, assigner, trigger, NoEvictor{}, false);
}

template <class T, class KeySelector>
auto KeyedStream<T, KeySelector>::count_window(int64_t size) const {
  return window(GlobalWindows::create())
      .trigger(PurgingTrigger<CountTrigger>::of(CountTrigger::of(size)));
}

template <class T, class KeySelector>
auto KeyedStream<T, KeySelector>::count_window(int64_t size, int64_t slide) const {
  if (size <= 0) throw Error(ErrorCategory::kInvalidArgument, "a count window needs size > 0");
  return window(GlobalWindows::create())
      .evictor(CountEvictor::of(static_cast<size_t>(size)))
      .trigger(CountTrigger::of(slide));
}

template <class T>
template <class Assigner>
auto DataStream<T>::window_all(const Assigner& assigner) const {
  auto trigger = detail::default_trigger(assigner);
  return WindowedStream<T, ConstantKey, Assigner, decltype(trigger), NoEvictor>(
      key_by(ConstantKey{}), assigner, trigger, NoEvictor{}, true);
}

}  // namespace sluice
