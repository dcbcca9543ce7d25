// What user functions receive: Collector (emit zero or more records), OutputTag (typed side
// outputs), ProcessContext, and the base classes ProcessFunction / CoProcessFunction. User
// functions may be lambdas or classes; classes are stored by value in their operator and called
// without virtual dispatch even when they derive from these bases, because the operator knows the
// concrete type. "Rich" functions define open(const RuntimeContext&) and/or close().
//
// Threading: a function instance is used by one subtask's thread only; each parallel subtask has
// its own copy.
#pragma once

#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "sluice/runtime/operator.h"

namespace sluice {

// Interns a side-output tag name into a small integer (stable for the process's lifetime).
int intern_output_tag(const std::string& name);

template <class T>
class OutputTag {
 public:
  using value_type = T;
  explicit OutputTag(std::string id) : id_(std::move(id)), tag_(intern_output_tag(id_)) {}
  const std::string& id() const { return id_; }
  int tag() const { return tag_; }

 private:
  std::string id_;
  int tag_;
};

template <class T>
class Collector {
 public:
  Collector(RecordBuffer<T>& batch, Output& output, size_t limit)
      : batch_(batch), output_(output), limit_(limit) {}

  void collect(const T& value) {
    batch_.push(value, timestamp_);
    if (batch_.values.size() >= limit_) flush();
  }
  void collect(T&& value) {
    batch_.push(std::move(value), timestamp_);
    if (batch_.values.size() >= limit_) flush();
  }
  void collect_with_timestamp(const T& value, Timestamp timestamp) {
    batch_.push(value, timestamp);
    if (batch_.values.size() >= limit_) flush();
  }

  // Internal: the timestamp outputs inherit from the input record being processed.
  void set_timestamp(Timestamp timestamp) { timestamp_ = timestamp; }
  void flush() {
    if (batch_.values.empty()) return;
    output_.emit(batch_);
    batch_.clear();
  }

 private:
  RecordBuffer<T>& batch_;
  Output& output_;
  size_t limit_;
  Timestamp timestamp_ = kNoTimestamp;
};

// Per-operator buffers for side outputs, flushed after every input batch.
class SideOutputs {
 public:
  void bind(OperatorContext* context) { context_ = context; }

  template <class X>
  void emit(const OutputTag<X>& tag, const X& value, Timestamp timestamp) {
    Slot& slot = slot_for<X>(tag.tag());
    static_cast<RecordBuffer<X>&>(*slot.buffer).push(value, timestamp);
  }
  void flush() {
    for (auto& slot : slots_) {
      if (slot.buffer->size() == 0) continue;
      slot.output->emit(*slot.buffer);
      slot.buffer->clear();
    }
  }

 private:
  struct Slot {
    int tag;
    std::unique_ptr<Buffer> buffer;
    Output* output;
  };
  template <class X>
  Slot& slot_for(int tag) {
    for (auto& slot : slots_) {
      if (slot.tag == tag) return slot;
    }
    slots_.push_back({tag, std::make_unique<RecordBuffer<X>>(), context_->side_output(tag)});
    return slots_.back();
  }

  OperatorContext* context_ = nullptr;
  std::vector<Slot> slots_;
};

class ProcessContext {
 public:
  ProcessContext(SideOutputs& side_outputs, const OperatorContext& operator_context)
      : side_outputs_(side_outputs), runtime_(operator_context) {}

  // The current record's event timestamp, or kNoTimestamp.
  Timestamp timestamp() const { return timestamp_; }
  Timestamp current_watermark() const { return watermark_; }
  Timestamp current_processing_time() const { return wall_clock_millis(); }
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
