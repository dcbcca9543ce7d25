// Triggers decide when a window's result is emitted (fired) and when its contents are dropped
// (purged); evictors remove elements from a window before or after it fires. Both follow Flink's
// Trigger and Evictor.
//
//   keyed.window(GlobalWindows::create()).trigger(CountTrigger::of(100)).reduce(...)
//   keyed.window(TumblingEventTimeWindows::of(1min))
//        .trigger(ContinuousEventTimeTrigger::of(10s))     // early results every 10 s
//   keyed.window(...).trigger(PurgingTrigger::of(CountTrigger::of(5)))
//
// A trigger is any class with these members (no base class; the operator calls them directly,
// without virtual dispatch):
//
//   struct State {...};                  // per key and window, default-constructible
//   TriggerResult on_element(const T& value, Timestamp ts, const TimeWindow& w, State& s,
//                            TriggerContext& ctx);
//   TriggerResult on_event_time(Timestamp time, const TimeWindow& w, State& s, TriggerContext&
//   ctx); TriggerResult on_processing_time(Timestamp time, const TimeWindow& w, State& s,
//                                    TriggerContext& ctx);
//   void clear(const TimeWindow& w, State& s, TriggerContext& ctx);   // delete its timers
//   // Only for merging (session) windows: the windows' states were merged with merge_state, now
//   // the trigger re-arms itself for the merged window.
//   void merge_state(const State& from, State& into);
//   void on_merge(const TimeWindow& merged, State& s, TriggerContext& ctx);
//
// Timers registered through the context are scoped to the current key and window and are
// de-duplicated per (key, window, time). A window is purged at the latest when the watermark passes
// its end plus the allowed lateness (processing time: its end), whatever the trigger says.
//
// Threading: a trigger instance belongs to one operator instance, one task thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sluice/core/error.h"
#include "sluice/core/type_name.h"
#include "sluice/time/timer_service.h"
#include "sluice/window/windows.h"

namespace sluice {

// A trigger's or evictor's description for EXPLAIN: its description(), or its type's name.
template <class X>
std::string describe_part(const X& part) {
  if constexpr (requires { part.description(); }) {
    return part.description();
  } else {
    return readable_type_name<X>();
  }
}

enum class TriggerResult { kContinue, kFire, kPurge, kFireAndPurge };

inline bool fires(TriggerResult r) {
  return r == TriggerResult::kFire || r == TriggerResult::kFireAndPurge;
}
inline bool purges(TriggerResult r) {
  return r == TriggerResult::kPurge || r == TriggerResult::kFireAndPurge;
}

// What a trigger may do: read the clocks and set timers for the current key and window.
using TriggerContext = TimerService;

// Fires when the watermark passes the window's end (at once for a late element whose window is
// still kept). The default for event-time assigners.
struct EventTimeTrigger {
  struct State {};
  template <class T>
  TriggerResult on_element(const T&, Timestamp, const TimeWindow& w, State&, TriggerContext& ctx) {
    if (w.max_timestamp() <= ctx.current_watermark()) return TriggerResult::kFire;
    ctx.register_event_time_timer(w.max_timestamp());
    return TriggerResult::kContinue;
  }
  TriggerResult on_event_time(Timestamp time, const TimeWindow& w, State&, TriggerContext&) {
    return time == w.max_timestamp() ? TriggerResult::kFire : TriggerResult::kContinue;
  }
  TriggerResult on_processing_time(Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  void clear(const TimeWindow& w, State&, TriggerContext& ctx) {
    ctx.delete_event_time_timer(w.max_timestamp());
  }
  void merge_state(const State&, State&) {}
  void on_merge(const TimeWindow& w, State&, TriggerContext& ctx) {
    // A merged window already past the watermark fires from on_element; a timer would fire it
    // twice.
    if (w.max_timestamp() > ctx.current_watermark())
      ctx.register_event_time_timer(w.max_timestamp());
  }
  static EventTimeTrigger create() { return {}; }
  std::string description() const { return "event time"; }
};

// Fires when the wall clock passes the window's end. The default for processing-time assigners.
struct ProcessingTimeTrigger {
  struct State {};
  template <class T>
  TriggerResult on_element(const T&, Timestamp, const TimeWindow& w, State&, TriggerContext& ctx) {
    ctx.register_processing_time_timer(w.max_timestamp());
    return TriggerResult::kContinue;
  }
  TriggerResult on_event_time(Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  TriggerResult on_processing_time(Timestamp time, const TimeWindow& w, State&, TriggerContext&) {
    return time == w.max_timestamp() ? TriggerResult::kFire : TriggerResult::kContinue;
  }
  void clear(const TimeWindow& w, State&, TriggerContext& ctx) {
    ctx.delete_processing_time_timer(w.max_timestamp());
  }
  void merge_state(const State&, State&) {}
  void on_merge(const TimeWindow& w, State&, TriggerContext& ctx) {
    if (w.max_timestamp() > ctx.current_processing_time())
      ctx.register_processing_time_timer(w.max_timestamp());
  }
  static ProcessingTimeTrigger create() { return {}; }
  std::string description() const { return "processing time"; }
};

// The default trigger of time and session windows: the event- or processing-time trigger, as the
// assigner's time domain (chosen at run time, so one operator type serves both).
struct DefaultTrigger {
  struct State {};
  bool event_time = true;
  std::string description() const {
    return event_time ? "event time (default)" : "processing time (default)";
  }

 private:
  // Calls fn(trigger, its empty state) with the trigger of the time domain. (Defined first: the
  // members below deduce their return type from it.)
  template <class F>
  decltype(auto) dispatch(F&& fn) const {
    if (event_time) {
      EventTimeTrigger::State none;
      return fn(EventTimeTrigger{}, none);
    }
    ProcessingTimeTrigger::State none;
    return fn(ProcessingTimeTrigger{}, none);
  }

 public:
  template <class T>
  TriggerResult on_element(const T& v, Timestamp ts, const TimeWindow& w, State&,
                           TriggerContext& ctx) {
    return dispatch(
        [&](auto trigger, auto& none) { return trigger.on_element(v, ts, w, none, ctx); });
  }
  TriggerResult on_event_time(Timestamp time, const TimeWindow& w, State&, TriggerContext& ctx) {
    return dispatch(
        [&](auto trigger, auto& none) { return trigger.on_event_time(time, w, none, ctx); });
  }
  TriggerResult on_processing_time(Timestamp time, const TimeWindow& w, State&,
                                   TriggerContext& ctx) {
    return dispatch(
        [&](auto trigger, auto& none) { return trigger.on_processing_time(time, w, none, ctx); });
  }
  void clear(const TimeWindow& w, State&, TriggerContext& ctx) {
    dispatch([&](auto trigger, auto& none) { trigger.clear(w, none, ctx); });
  }
  void merge_state(const State&, State&) {}
  void on_merge(const TimeWindow& w, State&, TriggerContext& ctx) {
    dispatch([&](auto trigger, auto& none) { trigger.on_merge(w, none, ctx); });
  }
};

// Never fires: the default of GlobalWindows.
struct NeverTrigger {
  struct State {};
  std::string description() const { return "never (default)"; }
  template <class T>
  TriggerResult on_element(const T&, Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  TriggerResult on_event_time(Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  TriggerResult on_processing_time(Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  void clear(const TimeWindow&, State&, TriggerContext&) {}
  void merge_state(const State&, State&) {}
  void on_merge(const TimeWindow&, State&, TriggerContext&) {}
};

// Fires every time the window has received `count` more elements.
struct CountTrigger {
  struct State {
    int64_t count = 0;
  };
  int64_t max_count = 1;
  std::string description() const { return "count " + std::to_string(max_count); }
  static CountTrigger of(int64_t count) {
    if (count <= 0) throw Error(ErrorCategory::kInvalidArgument, "a count trigger needs count > 0");
    return CountTrigger{count};
  }
  template <class T>
  TriggerResult on_element(const T&, Timestamp, const TimeWindow&, State& s, TriggerContext&) {
    if (++s.count < max_count) return TriggerResult::kContinue;
    s.count = 0;
    return TriggerResult::kFire;
  }
  TriggerResult on_event_time(Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  TriggerResult on_processing_time(Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  void clear(const TimeWindow&, State& s, TriggerContext&) { s.count = 0; }
  void merge_state(const State& from, State& into) { into.count += from.count; }
  void on_merge(const TimeWindow&, State&, TriggerContext&) {}
};

namespace detail {
// The state of the continuous triggers: the pending periodic firing, if any.
struct NextFiring {
  Timestamp at = kMinWatermark;
  bool pending() const { return at != kMinWatermark; }
};
// Merged windows keep the earliest pending firing.
inline void merge_next_firing(const NextFiring& from, NextFiring& into) {
  if (from.pending() && (!into.pending() || from.at < into.at)) into.at = from.at;
}
// The first multiple of `interval` after `time`, but no later than the window's end.
inline Timestamp next_multiple(Timestamp time, Timestamp interval, const TimeWindow& w) {
  return std::min(time - floor_mod(time, interval) + interval, w.max_timestamp());
}
template <class Rep, class Period>
Timestamp positive_interval(std::chrono::duration<Rep, Period> interval) {
  const Timestamp ms = std::chrono::duration_cast<std::chrono::milliseconds>(interval).count();
  if (ms <= 0) throw Error(ErrorCategory::kInvalidArgument, "a trigger interval must be positive");
  return ms;
}
}  // namespace detail

// Fires every `interval` of event time while the window is open (aligned to multiples of the
// interval), and at the window's end: early results for long windows.
struct ContinuousEventTimeTrigger {
  using State = detail::NextFiring;
  Timestamp interval = 1;
  std::string description() const {
    return "continuous event time, every " + std::to_string(interval) + " ms";
  }
  template <class Rep, class Period>
  static ContinuousEventTimeTrigger of(std::chrono::duration<Rep, Period> interval) {
    return ContinuousEventTimeTrigger{detail::positive_interval(interval)};
  }
  template <class T>
  TriggerResult on_element(const T&, Timestamp ts, const TimeWindow& w, State& s,
                           TriggerContext& ctx) {
    if (ts == kNoTimestamp) {
      throw Error(ErrorCategory::kInvalidJob,
                  "ContinuousEventTimeTrigger needs records with timestamps: assign them with a "
                  "WatermarkStrategy");
    }
    if (w.max_timestamp() <= ctx.current_watermark()) return TriggerResult::kFire;
    ctx.register_event_time_timer(w.max_timestamp());
    if (!s.pending()) arm(detail::next_multiple(ts, interval, w), s, ctx);
    return TriggerResult::kContinue;
  }
  TriggerResult on_event_time(Timestamp time, const TimeWindow& w, State& s, TriggerContext& ctx) {
    if (time == w.max_timestamp()) return TriggerResult::kFire;
    if (time != s.at) return TriggerResult::kContinue;
    s.at = kMinWatermark;
    // At the end of a bounded input every timer fires at once: stop re-arming, the window's own
    // end fires it a last time.
    if (ctx.current_watermark() != kMaxWatermark)
      arm(detail::next_multiple(time, interval, w), s, ctx);
    return TriggerResult::kFire;
  }
  TriggerResult on_processing_time(Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  void clear(const TimeWindow& w, State& s, TriggerContext& ctx) {
    if (s.pending()) ctx.delete_event_time_timer(s.at);
    ctx.delete_event_time_timer(w.max_timestamp());
    s.at = kMinWatermark;
  }
  void merge_state(const State& from, State& into) { detail::merge_next_firing(from, into); }
  void on_merge(const TimeWindow& w, State& s, TriggerContext& ctx) {
    if (w.max_timestamp() > ctx.current_watermark())
      ctx.register_event_time_timer(w.max_timestamp());
    if (s.pending()) ctx.register_event_time_timer(s.at);
  }

 private:
  static void arm(Timestamp at, State& s, TriggerContext& ctx) {
    s.at = at;
    ctx.register_event_time_timer(at);
  }
};

// Fires every `interval` of processing time while the window has elements, and at its end when
// the assigner is in processing time.
struct ContinuousProcessingTimeTrigger {
  using State = detail::NextFiring;
  Timestamp interval = 1;
  std::string description() const {
    return "continuous processing time, every " + std::to_string(interval) + " ms";
  }
  template <class Rep, class Period>
  static ContinuousProcessingTimeTrigger of(std::chrono::duration<Rep, Period> interval) {
    return ContinuousProcessingTimeTrigger{detail::positive_interval(interval)};
  }
  template <class T>
  TriggerResult on_element(const T&, Timestamp, const TimeWindow& w, State& s,
                           TriggerContext& ctx) {
    if (!s.pending())
      arm(detail::next_multiple(ctx.current_processing_time(), interval, w), s, ctx);
    return TriggerResult::kContinue;
  }
  TriggerResult on_event_time(Timestamp, const TimeWindow&, State&, TriggerContext&) {
    return TriggerResult::kContinue;
  }
  TriggerResult on_processing_time(Timestamp time, const TimeWindow& w, State& s,
                                   TriggerContext& ctx) {
    if (time != s.at) return TriggerResult::kContinue;
    s.at = kMinWatermark;
    if (time < w.max_timestamp()) arm(detail::next_multiple(time, interval, w), s, ctx);
    return TriggerResult::kFire;
  }
  void clear(const TimeWindow&, State& s, TriggerContext& ctx) {
    if (s.pending()) ctx.delete_processing_time_timer(s.at);
    s.at = kMinWatermark;
  }
  void merge_state(const State& from, State& into) { detail::merge_next_firing(from, into); }
  void on_merge(const TimeWindow&, State& s, TriggerContext& ctx) {
    if (s.pending()) ctx.register_processing_time_timer(s.at);
  }

 private:
  static void arm(Timestamp at, State& s, TriggerContext& ctx) {
    s.at = at;
    ctx.register_processing_time_timer(at);
  }
};

// Turns every FIRE of the nested trigger into FIRE_AND_PURGE: each firing emits only what arrived
// since the previous one.
template <class Nested>
struct PurgingTrigger {
  using State = typename Nested::State;
  Nested nested;
  std::string description() const { return "purging " + describe_part(nested); }
  static PurgingTrigger of(Nested nested) { return PurgingTrigger{std::move(nested)}; }
  template <class T>
  TriggerResult on_element(const T& v, Timestamp ts, const TimeWindow& w, State& s,
                           TriggerContext& ctx) {
    return purge_on_fire(nested.on_element(v, ts, w, s, ctx));
  }
  TriggerResult on_event_time(Timestamp time, const TimeWindow& w, State& s, TriggerContext& ctx) {
    return purge_on_fire(nested.on_event_time(time, w, s, ctx));
  }
  TriggerResult on_processing_time(Timestamp time, const TimeWindow& w, State& s,
                                   TriggerContext& ctx) {
    return purge_on_fire(nested.on_processing_time(time, w, s, ctx));
  }
  void clear(const TimeWindow& w, State& s, TriggerContext& ctx) { nested.clear(w, s, ctx); }
  void merge_state(const State& from, State& into) { nested.merge_state(from, into); }
  void on_merge(const TimeWindow& w, State& s, TriggerContext& ctx) { nested.on_merge(w, s, ctx); }

 private:
  static TriggerResult purge_on_fire(TriggerResult r) {
    return fires(r) ? TriggerResult::kFireAndPurge : r;
  }
};

// ---- Evictors ----

template <class T>
struct TimestampedValue {
  T value;
  Timestamp timestamp;
};

// An evictor is any class with
//   template <class T> void evict_before(std::vector<TimestampedValue<T>>&, const TimeWindow&);
//   template <class T> void evict_after(std::vector<TimestampedValue<T>>&, const TimeWindow&);
// operating on the window's elements in arrival order.
struct NoEvictor {
  std::string description() const { return "none"; }
};

// Keeps at most `max_count` elements, dropping the oldest arrivals.
struct CountEvictor {
  size_t max_count = 0;
  bool after = false;  // evict after the window function instead of before
  std::string description() const {
    return "count " + std::to_string(max_count) + (after ? ", after firing" : "");
  }
  static CountEvictor of(size_t count, bool evict_after = false) {
    return CountEvictor{count, evict_after};
  }
  template <class T>
  void evict_before(std::vector<TimestampedValue<T>>& elements, const TimeWindow&) const {
    if (!after) evict(elements);
  }
  template <class T>
  void evict_after(std::vector<TimestampedValue<T>>& elements, const TimeWindow&) const {
    if (after) evict(elements);
  }

 private:
  template <class T>
  void evict(std::vector<TimestampedValue<T>>& elements) const {
    if (elements.size() <= max_count) return;
    elements.erase(elements.begin(),
                   elements.begin() + static_cast<std::ptrdiff_t>(elements.size() - max_count));
  }
};

// Keeps the elements newer than `keep` before the newest element's timestamp (Flink's TimeEvictor:
// an element at exactly newest - keep goes). Evicts nothing when elements have no timestamps.
struct TimeEvictor {
  Timestamp keep = 0;
  bool after = false;
  std::string description() const {
    return "time " + std::to_string(keep) + " ms" + (after ? ", after firing" : "");
  }
  template <class Rep, class Period>
  static TimeEvictor of(std::chrono::duration<Rep, Period> keep, bool evict_after = false) {
    return TimeEvictor{std::chrono::duration_cast<std::chrono::milliseconds>(keep).count(),
                       evict_after};
  }
  template <class T>
  void evict_before(std::vector<TimestampedValue<T>>& elements, const TimeWindow&) const {
    if (!after) evict(elements);
  }
  template <class T>
  void evict_after(std::vector<TimestampedValue<T>>& elements, const TimeWindow&) const {
    if (after) evict(elements);
  }

 private:
  template <class T>
  void evict(std::vector<TimestampedValue<T>>& elements) const {
    if (elements.empty() || elements.front().timestamp == kNoTimestamp) return;
    Timestamp newest = kMinWatermark;
    for (const auto& e : elements) newest = std::max(newest, e.timestamp);
    std::erase_if(elements, [&](const auto& e) { return e.timestamp <= newest - keep; });
  }
};

}  // namespace sluice
