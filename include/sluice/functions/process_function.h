// What per-record user functions receive and implement: ProcessContext and the base classes
// ProcessFunction / CoProcessFunction, plus the traits the API uses to read a function's types.
// User functions may be lambdas or classes; classes are stored by value in their operator and
// called without virtual dispatch even when they derive from these bases, because the operator
// knows the concrete type. "Rich" functions define open(const RuntimeContext&) and/or close().
//
// Threading: a function instance is used by one subtask's thread only; each parallel subtask has
// its own copy.
#pragma once

#include <tuple>
#include <type_traits>

#include "sluice/functions/collector.h"
#include "sluice/runtime/operator.h"

namespace sluice {

class ProcessContext {
 public:
  ProcessContext(SideOutputs& side_outputs, const OperatorContext& operator_context)
      : side_outputs_(side_outputs), runtime_(operator_context) {}

  // The current record's event timestamp, or kNoTimestamp.
  Timestamp timestamp() const { return timestamp_; }
  Timestamp current_watermark() const { return watermark_; }
  Timestamp current_processing_time() const { return runtime_.current_processing_time(); }
  const RuntimeContext& runtime() const { return runtime_; }

  template <class X>
  void output(const OutputTag<X>& tag, const X& value) {
    side_outputs_.emit(tag, value, timestamp_);
  }

  // Internal.
  void set_timestamp(Timestamp timestamp) { timestamp_ = timestamp; }
  void set_watermark(Timestamp watermark) { watermark_ = watermark; }

 private:
  SideOutputs& side_outputs_;
  RuntimeContext runtime_;
  Timestamp timestamp_ = kNoTimestamp;
  Timestamp watermark_ = kMinWatermark;
};

template <class In, class Out>
class ProcessFunction {
 public:
  using input_type = In;
  using output_type = Out;
  virtual ~ProcessFunction() = default;
  virtual void process_element(const In& value, ProcessContext& context, Collector<Out>& out) = 0;
};

template <class In1, class In2, class Out>
class CoProcessFunction {
 public:
  using output_type = Out;
  virtual ~CoProcessFunction() = default;
  virtual void process_element1(const In1& value, ProcessContext& context, Collector<Out>& out) = 0;
  virtual void process_element2(const In2& value, ProcessContext& context, Collector<Out>& out) = 0;
};

namespace detail {

// Argument types of a non-generic callable (lambda, function object, member function pointer).
template <class F>
struct callable_traits : callable_traits<decltype(&std::decay_t<F>::operator())> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const> {
  using args = std::tuple<A...>;
};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...)> {
  using args = std::tuple<A...>;
};
template <class R, class... A>
struct callable_traits<R (*)(A...)> {
  using args = std::tuple<A...>;
};

template <class C>
struct collector_value {};
template <class T>
struct collector_value<Collector<T>> {
  using type = T;
};

// The Out of a flat_map function (const In&, Collector<Out>&).
template <class F>
using flat_map_output_t = typename collector_value<
    std::decay_t<std::tuple_element_t<1, typename callable_traits<F>::args>>>::type;

// The Out of a process function: its output_type, or the Collector<Out>& parameter of
// process_element.
template <class F, class = void>
struct process_output {
  using type = typename collector_value<std::decay_t<std::tuple_element_t<
      2, typename callable_traits<decltype(&F::process_element)>::args>>>::type;
};
template <class F>
struct process_output<F, std::void_t<typename F::output_type>> {
  using type = typename F::output_type;
};

template <class F>
void open_function(F& fn, const OperatorContext& context) {
  if constexpr (requires(F & f, const RuntimeContext& c) { f.open(c); }) {
    RuntimeContext runtime(context);
    fn.open(runtime);
  }
}
template <class F>
void close_function(F& fn) {
  if constexpr (requires(F & f) { f.close(); }) fn.close();
}

}  // namespace detail
}  // namespace sluice
