// Two-stream joins with Flink's semantics.
//
// Window join: pairs of records with equal keys that fall in the same window (tumbling, sliding or
// session; with sessions the two sides' records merge into common sessions per key).
//
//   orders.join(payments)
//       .where(&Order::id).equal_to(&Payment::order_id)
//       .window(TumblingEventTimeWindows::of(1min))
//       .apply([](const Order& o, const Payment& p) { return Paid{o.id, p.amount}; });
//
// Every pair of the window is emitted when it fires, with the window's max_timestamp(); co_group
// instead hands the function both sides' records of a key and window at once (also when one side
// is empty). Built as a union of both sides tagged by side, keyed and windowed like any window.
//
// Interval join: each left record a joins the right records b of its key with
// a.ts + lower <= b.ts <= a.ts + upper (bounds inclusive unless made exclusive).
//
//   clicks.key_by(&Click::user).interval_join(views.key_by(&View::user))
//       .between(std::chrono::seconds(-5), std::chrono::seconds(10))
//       .process(MatchFunction{});   // a ProcessJoinFunction<Click, View, Out>
//
// Each side buffers its records per key until the watermark passes the last time a record of the
// other side could still join them. A record older than the current watermark is late: it is
// dropped (counted as "late_records_dropped") or sent to the side's late-data output. Results
// carry the larger of the two timestamps.
//
// Threading: define a job from one thread; operators run on one task thread each.
#pragma once

#include <variant>
#include <vector>

#include "sluice/api/windowed_stream.h"
#include "sluice/functions/join_function.h"
#include "sluice/operators/interval_join.h"

namespace sluice {

// ---- window join and co-group ----

namespace detail {

// The key of a record of either side.
template <class A, class B, class KeyA, class KeyB>
struct EitherKey {
  KeyA key_a;
  KeyB key_b;
  auto operator()(const std::variant<A, B>& v) const {
    if (v.index() == 0) return std::invoke(key_a, std::get<0>(v));
    return std::invoke(key_b, std::get<1>(v));
  }
};

// Splits a window's tagged records into the two sides and calls fn(left, right, out).
template <class A, class B, class Key, class Out, class F>
struct CoGroupWindowFunction : ProcessWindowFunction<std::variant<A, B>, Out, Key> {
  using Context = typename ProcessWindowFunction<std::variant<A, B>, Out, Key>::Context;
  explicit CoGroupWindowFunction(F f) : fn(std::move(f)) {}
  void process(const Key&, const Context&, const std::vector<std::variant<A, B>>& elements,
               Collector<Out>& out) override {
    left.clear();
    right.clear();
    for (const auto& e : elements) {
      if (e.index() == 0) {
        left.push_back(std::get<0>(e));
      } else {
        right.push_back(std::get<1>(e));
      }
    }
    fn(left, right, out);
  }
  F fn;
  std::vector<A> left;  // scratch, reused across windows
  std::vector<B> right;
};

// Join as a co-group: the cross product of both sides.
template <class A, class B, class Out, class F>
struct CrossJoin {
  F fn;
  void operator()(const std::vector<A>& left, const std::vector<B>& right, Collector<Out>& out) {
    for (const A& a : left) {
      for (const B& b : right) out.collect(fn(a, b));
    }
  }
};

}  // namespace detail

template <class A, class B, class KeyA, class KeyB, class Assigner>
class WindowedCoGroup {
 public:
  WindowedCoGroup(DataStream<A> left, DataStream<B> right, KeyA key_a, KeyB key_b,
                  Assigner assigner, bool is_join)
      : left_(std::move(left)),
        right_(std::move(right)),
        key_a_(std::move(key_a)),
        key_b_(std::move(key_b)),
        assigner_(std::move(assigner)),
        is_join_(is_join) {}

  template <class Rep, class Period>
  WindowedCoGroup& allowed_lateness(std::chrono::duration<Rep, Period> lateness) {
    lateness_ = std::chrono::duration_cast<std::chrono::milliseconds>(lateness);
    return *this;
  }

  // Join: fn(const A&, const B&) -> Out for every pair. Co-group:
  // fn(const std::vector<A>&, const std::vector<B>&, Collector<Out>&) with Out given explicitly.
  template <class Out = void, class F>
  auto apply(F fn) const {
    using Tagged = std::variant<A, B>;
    using Key = std::decay_t<std::invoke_result_t<KeyA&, const A&>>;
    static_assert(std::is_same_v<Key, std::decay_t<std::invoke_result_t<KeyB&, const B&>>>,
                  "both sides of a join must have keys of the same type");
    auto left = left_.map([](const A& a) { return Tagged(std::in_place_index<0>, a); });
    auto right = right_.map([](const B& b) { return Tagged(std::in_place_index<1>, b); });
    auto windowed = left.union_with(right)
                        .key_by(detail::EitherKey<A, B, KeyA, KeyB>{key_a_, key_b_})
                        .window(assigner_);
    windowed.allowed_lateness(lateness_);
    if constexpr (std::is_void_v<Out>) {
      using O = std::decay_t<std::invoke_result_t<F&, const A&, const B&>>;
      using Join = detail::CrossJoin<A, B, O, F>;
      return windowed.process(detail::CoGroupWindowFunction<A, B, Key, O, Join>(Join{fn}))
          .name(is_join_ ? "window_join" : "co_group");
    } else {
      return windowed.process(detail::CoGroupWindowFunction<A, B, Key, Out, F>(fn))
          .name(is_join_ ? "window_join" : "co_group");
    }
  }

 private:
  DataStream<A> left_;
  DataStream<B> right_;
  KeyA key_a_;
  KeyB key_b_;
  Assigner assigner_;
  bool is_join_;
  std::chrono::milliseconds lateness_{0};
};

// a.join(b) / a.co_group(b) -> .where(key of a) -> .equal_to(key of b) -> .window(assigner)
template <class A, class B>
class JoinBuilder {
 public:
  JoinBuilder(DataStream<A> left, DataStream<B> right, bool is_join)
      : left_(std::move(left)), right_(std::move(right)), is_join_(is_join) {}

  template <class KeyA>
  auto where(KeyA key_a) const {
    return Where<KeyA>{*this, std::move(key_a)};
  }

  template <class KeyA>
  struct Where {
    JoinBuilder builder;
    KeyA key_a;
    template <class KeyB>
    auto equal_to(KeyB key_b) const {
      return EqualTo<KeyB>{builder, key_a, std::move(key_b)};
    }
    template <class KeyB>
    struct EqualTo {
      JoinBuilder builder;
      KeyA key_a;
      KeyB key_b;
      template <class Assigner>
      WindowedCoGroup<A, B, KeyA, KeyB, Assigner> window(Assigner assigner) const {
        return {builder.left_, builder.right_, key_a, key_b, std::move(assigner), builder.is_join_};
      }
    };
  };

 private:
  DataStream<A> left_;
  DataStream<B> right_;
  bool is_join_;
};

template <class T>
template <class U>
auto DataStream<T>::join(const DataStream<U>& other) const {
  return JoinBuilder<T, U>(*this, other, true);
}

template <class T>
template <class U>
auto DataStream<T>::co_group(const DataStream<U>& other) const {
  return JoinBuilder<T, U>(*this, other, false);
}

// ---- interval join ----

template <class A, class KeyA, class B, class KeyB>
class IntervalJoin {
 public:
  IntervalJoin(KeyedStream<A, KeyA> left, KeyedStream<B, KeyB> right)
      : left_(std::move(left)), right_(std::move(right)) {}

  // b.ts in [a.ts + lower, a.ts + upper]; lower may be negative.
  template <class Rep1, class Period1, class Rep2, class Period2>
  IntervalJoin& between(std::chrono::duration<Rep1, Period1> lower,
                        std::chrono::duration<Rep2, Period2> upper) {
    bounds_.lower = detail::millis(lower);
    bounds_.upper = detail::millis(upper);
    if (bounds_.lower > bounds_.upper) {
      throw Error(ErrorCategory::kInvalidArgument,
                  "interval join: the lower bound must not be above the upper bound");
    }
    return *this;
  }
  IntervalJoin& lower_bound_exclusive() {
    bounds_.lower_exclusive = true;
    return *this;
  }
  IntervalJoin& upper_bound_exclusive() {
    bounds_.upper_exclusive = true;
    return *this;
  }
  IntervalJoin& side_output_left_late_data(const OutputTag<A>& tag) {
    late_left_ = tag;
    return *this;
  }
  IntervalJoin& side_output_right_late_data(const OutputTag<B>& tag) {
    late_right_ = tag;
    return *this;
  }

  // A ProcessJoinFunction<A, B, Out> (or a class with the same process_element and output_type).
  template <class F>
  DataStream<typename F::output_type> process(F fn) const {
    static_assert(std::is_same_v<typename KeyedStream<A, KeyA>::key_type,
                                 typename KeyedStream<B, KeyB>::key_type>,
                  "both sides of an interval join must have keys of the same type");
    auto key_a = left_.key_selector();
    auto key_b = right_.key_selector();
    auto bounds = bounds_;
    auto late_left = late_left_;
    auto late_right = late_right_;
    const DataStream<A>& left = left_;
    return left.connect(static_cast<const DataStream<B>&>(right_))
        .template transform<typename F::output_type>("interval_join", [=] {
          return std::make_unique<operators::IntervalJoinOperator<A, B, KeyA, KeyB, F>>(
              key_a, key_b, fn, bounds, late_left, late_right);
        });
  }

 private:
  KeyedStream<A, KeyA> left_;
  KeyedStream<B, KeyB> right_;
  operators::IntervalBounds bounds_;
  std::optional<OutputTag<A>> late_left_;
  std::optional<OutputTag<B>> late_right_;
};

template <class T, class KeySelector>
template <class U, class OtherSelector>
auto KeyedStream<T, KeySelector>::interval_join(const KeyedStream<U, OtherSelector>& other) const {
  return IntervalJoin<T, KeySelector, U, OtherSelector>(*this, other);
}

}  // namespace sluice
