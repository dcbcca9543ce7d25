// KeyedProcessFunction: per-record processing on a keyed stream with keyed state and timers
// (Flink's KeyedProcessFunction and its TimerService).
//
//   struct Watchdog : sluice::KeyedProcessFunction<int64_t, Reading, Alert> {
//     sluice::ValueState<int64_t>* last = nullptr;
//     void open(sluice::KeyedRuntimeContext<int64_t>& ctx) {
//       last = &ctx.get_state(sluice::ValueStateDescriptor<int64_t>{"last"});
//     }
//     void process_element(const Reading& r, Context& ctx, sluice::Collector<Alert>& out) override
//     {
//       last->update(r.ts);
//       ctx.timer_service().register_event_time_timer(r.ts + 60'000);
//     }
//     void on_timer(sluice::Timestamp t, OnTimerContext& ctx, sluice::Collector<Alert>& out)
//     override {...}
//   };
//   keyed.process(Watchdog{});
//
// Timers are per key and timestamp: registering the same (key, time) twice gives one timer;
// deleting removes it. Event-time timers fire, in time order (those of one time in no particular
// order, as in Flink), when the watermark reaches them
// (all remaining ones at the end of a bounded input); processing-time timers when the wall
// clock does. In on_timer the current key is the timer's key and outputs carry the timer's time.
//
// The keyed side of the broadcast state pattern (KeyedBroadcastProcessFunction) is here too: its
// process_element and on_timer are a KeyedProcessFunction's.
//
// Threading: one operator instance per subtask, one task thread.
#pragma once

#include <utility>

#include "sluice/functions/collector.h"
#include "sluice/functions/keyed_runtime_context.h"
#include "sluice/state/broadcast_state.h"
#include "sluice/state/keyed_state_backend.h"
#include "sluice/time/timer_service.h"

namespace sluice {

template <class K>
class KeyedContext {
 public:
  KeyedContext(SideOutputs& side_outputs, TimerService& timers, const K& key)
      : side_outputs_(side_outputs), timers_(timers), key_(key) {}
  Timestamp timestamp() const { return timestamp_; }
  const K& current_key() const { return key_; }
  TimerService& timer_service() { return timers_; }
  template <class X>
  void output(const OutputTag<X>& tag, const X& value) {
    side_outputs_.emit(tag, value, timestamp_);
  }
  // With a broadcast input (keyed.connect(rules.broadcast(...))): a read-only view of a
  // broadcast state.
  template <class BK, class BV>
  const BroadcastState<BK, BV>& broadcast_state(const MapStateDescriptor<BK, BV>& d) const {
    if (broadcast_ == nullptr) {
      throw Error(ErrorCategory::kInvalidJob,
                  "broadcast state '" + d.name + "' read by an operator without a broadcast input");
    }
    return broadcast_->get(d);
  }
  void set_timestamp(Timestamp ts) { timestamp_ = ts; }
  void set_broadcast_states(BroadcastStates* states) { broadcast_ = states; }

 private:
  SideOutputs& side_outputs_;
  TimerService& timers_;
  const K& key_;
  Timestamp timestamp_ = kNoTimestamp;
  BroadcastStates* broadcast_ = nullptr;
};

template <class K>
class OnTimerContext : public KeyedContext<K> {
 public:
  using KeyedContext<K>::KeyedContext;
  TimeDomain time_domain() const { return domain_; }
  void set_domain(TimeDomain domain) { domain_ = domain; }

 private:
  TimeDomain domain_ = TimeDomain::kEventTime;
};

template <class K, class In, class Out>
class KeyedProcessFunction {
 public:
  using key_type = K;
  using input_type = In;
  using output_type = Out;
  using Context = KeyedContext<K>;
  using OnTimerContext = sluice::OnTimerContext<K>;
  virtual ~KeyedProcessFunction() = default;
  virtual void process_element(const In& value, Context& ctx, Collector<Out>& out) = 0;
  virtual void on_timer(Timestamp /*time*/, OnTimerContext& /*ctx*/, Collector<Out>& /*out*/) {}
};

// What process_broadcast_element sees: read-write broadcast state, and every key's keyed state.
template <class K>
class BroadcastContext {
 public:
  BroadcastContext(SideOutputs& side_outputs, BroadcastStates& states,
                   KeyedStateBackend<K>* backend, const ProcessingTimeService* clock)
      : side_outputs_(side_outputs), states_(states), backend_(backend), clock_(clock) {}
  Timestamp timestamp() const { return timestamp_; }
  Timestamp current_watermark() const { return watermark_; }
  Timestamp current_processing_time() const { return clock_->now(); }
  template <class BK, class BV>
  BroadcastState<BK, BV>& broadcast_state(const MapStateDescriptor<BK, BV>& d) {
    return states_.get(d);
  }
  template <class X>
  void output(const OutputTag<X>& tag, const X& value) {
    side_outputs_.emit(tag, value, timestamp_);
  }
  // fn(const K& key, State& state) for every key of this subtask that has the state `d`
  // describes (a ValueStateDescriptor, ListStateDescriptor or MapStateDescriptor).
  template <class D, class F>
  void apply_to_keyed_state(const D& d, F&& fn) {
    if (backend_ == nullptr) {
      throw Error(ErrorCategory::kInvalidJob,
                  "apply_to_keyed_state needs a keyed main input (keyed.connect(broadcast))");
    }
    backend_->apply_to_all_keys(d, std::forward<F>(fn));
  }
  void set(Timestamp timestamp, Timestamp watermark) {
    timestamp_ = timestamp;
    watermark_ = watermark;
  }

 private:
  SideOutputs& side_outputs_;
  BroadcastStates& states_;
  KeyedStateBackend<K>* backend_;
  const ProcessingTimeService* clock_;
  Timestamp timestamp_ = kNoTimestamp;
  Timestamp watermark_ = kMinWatermark;
};

// The keyed side of the broadcast state pattern: process_element and on_timer as in a
// KeyedProcessFunction (their context offers read-only broadcast_state()), plus
// process_broadcast_element for every record of the broadcast input.
template <class K, class In, class B, class Out>
class KeyedBroadcastProcessFunction {
 public:
  using key_type = K;
  using output_type = Out;
  using Context = KeyedContext<K>;
  using OnTimerContext = sluice::OnTimerContext<K>;
  using BroadcastContext = sluice::BroadcastContext<K>;
  virtual ~KeyedBroadcastProcessFunction() = default;
  virtual void process_element(const In& value, Context& ctx, Collector<Out>& out) = 0;
  virtual void process_broadcast_element(const B& value, BroadcastContext& ctx,
                                         Collector<Out>& out) = 0;
  virtual void on_timer(Timestamp /*time*/, OnTimerContext& /*ctx*/, Collector<Out>& /*out*/) {}
};

}  // namespace sluice
