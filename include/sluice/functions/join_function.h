// What an interval join's function implements and receives: ProcessJoinFunction, called with each
// joined pair, and its JoinContext (both timestamps, side outputs).
//
// Threading: a function instance is used by one subtask's thread only.
#pragma once

#include <algorithm>

#include "sluice/functions/collector.h"

namespace sluice {

// What a ProcessJoinFunction sees besides the pair.
class JoinContext {
 public:
  explicit JoinContext(SideOutputs& side_outputs) : side_outputs_(side_outputs) {}
  Timestamp left_timestamp() const { return left_; }
  Timestamp right_timestamp() const { return right_; }
  // The result's timestamp: the larger of the two.
  Timestamp timestamp() const { return std::max(left_, right_); }
  template <class X>
  void output(const OutputTag<X>& tag, const X& value) {
    side_outputs_.emit(tag, value, timestamp());
  }
  void set(Timestamp left, Timestamp right) {
    left_ = left;
    right_ = right;
  }

 private:
  SideOutputs& side_outputs_;
  Timestamp left_ = kNoTimestamp;
  Timestamp right_ = kNoTimestamp;
};

template <class A, class B, class Out>
class ProcessJoinFunction {
 public:
  using output_type = Out;
  using Context = JoinContext;
  virtual ~ProcessJoinFunction() = default;
  virtual void process_element(const A& left, const B& right, Context& ctx,
                               Collector<Out>& out) = 0;
};

}  // namespace sluice
