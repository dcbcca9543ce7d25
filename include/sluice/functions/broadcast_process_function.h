// The broadcast state pattern without keys (Flink's BroadcastProcessFunction): process_element
// sees a read-only view of the broadcast states, process_broadcast_element may change them. (The
// keyed variant, KeyedBroadcastProcessFunction, is in keyed_process_function.h.)
//
// Threading: a function instance is used by one subtask's thread only.
#pragma once

#include "sluice/functions/process_function.h"
#include "sluice/state/broadcast_state.h"

namespace sluice {

class BroadcastProcessContext : public ProcessContext {
 public:
  BroadcastProcessContext(SideOutputs& side_outputs, const OperatorContext& operator_context,
                          BroadcastStates& states)
      : ProcessContext(side_outputs, operator_context), states_(states) {}

 protected:
  BroadcastStates& states_;
};
class ReadOnlyBroadcastContext : public BroadcastProcessContext {
 public:
  using BroadcastProcessContext::BroadcastProcessContext;
  template <class BK, class BV>
  const BroadcastState<BK, BV>& broadcast_state(const MapStateDescriptor<BK, BV>& d) const {
    return states_.get(d);
  }
};
class WritableBroadcastContext : public BroadcastProcessContext {
 public:
  using BroadcastProcessContext::BroadcastProcessContext;
  template <class BK, class BV>
  BroadcastState<BK, BV>& broadcast_state(const MapStateDescriptor<BK, BV>& d) {
    return states_.get(d);
  }
};

template <class In, class B, class Out>
class BroadcastProcessFunction {
 public:
  using output_type = Out;
  using ReadOnlyContext = ReadOnlyBroadcastContext;
  using Context = WritableBroadcastContext;
  virtual ~BroadcastProcessFunction() = default;
  virtual void process_element(const In& value, ReadOnlyContext& ctx, Collector<Out>& out) = 0;
  virtual void process_broadcast_element(const B& value, Context& ctx, Collector<Out>& out) = 0;
};

}  // namespace sluice
