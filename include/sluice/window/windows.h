// Windows and window assigners: the windows a record belongs to.
//
//   TumblingEventTimeWindows::of(std::chrono::minutes(1))            // [0, 60s), [60s, 120s), ...
//   SlidingEventTimeWindows::of(std::chrono::seconds(10), std::chrono::seconds(1))
//   EventTimeSessionWindows::with_gap(std::chrono::minutes(5))       // merging, per key
//   EventTimeSessionWindows::with_dynamic_gap([](const Click& c) { return c.timeout; })
//   GlobalWindows::create()                                          // one window; needs a trigger
//
// A window [start, end) contains timestamps start <= ts < end; its max_timestamp() is end - 1.
// Starts are aligned to the epoch plus an optional offset, as Flink's:
// start = ts - floor_mod(ts - offset, slide) for the latest window, then earlier ones every slide
// while they still contain ts.
//
// Threading: plain values.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include "sluice/core/error.h"
#include "sluice/core/time.h"

namespace sluice {

struct TimeWindow {
  Timestamp start = 0;
  Timestamp end = 0;  // exclusive
  Timestamp max_timestamp() const { return end - 1; }
  // Flink's rule for session windows: windows that overlap or touch merge.
  bool intersects(const TimeWindow& other) const {
    return start <= other.end && end >= other.start;
  }
  TimeWindow cover(const TimeWindow& other) const {
    return TimeWindow{std::min(start, other.start), std::max(end, other.end)};
  }
  auto operator<=>(const TimeWindow&) const = default;
  template <class H>
  friend H AbslHashValue(H h, const TimeWindow& w) {
    return H::combine(std::move(h), w.start, w.end);
  }
};

// The only window of GlobalWindows: all of time. Its max_timestamp() is the largest timestamp.
inline constexpr TimeWindow kGlobalWindow{kMinWatermark, kMaxWatermark};

inline Timestamp floor_mod(Timestamp value, Timestamp divisor) {
  Timestamp remainder = value % divisor;
  return remainder < 0 ? remainder + divisor : remainder;
}

// The start of the latest window of `slide` spacing that contains `ts`.
inline Timestamp window_start(Timestamp ts, Timestamp offset, Timestamp slide) {
  return ts - floor_mod(ts - offset, slide);
}

// Tumbling and sliding windows over event time (a tumbling window slides by its size).
struct TimeWindowSpec {
  static constexpr bool kMerging = false;
  Timestamp size = 0;
  Timestamp slide = 0;
  Timestamp offset = 0;
  bool event_time = true;

  template <class T, class F>
  void assign(const T&, Timestamp ts, F&& fn) const {
    for_each_window(ts, fn);
  }

  // For EXPLAIN: "tumbling 60000 ms, event time", "sliding 10000 ms every 1000 ms, ...".
  std::string description() const {
    std::string text = size == slide ? "tumbling " + std::to_string(size) + " ms"
                                     : "sliding " + std::to_string(size) + " ms every " +
                                           std::to_string(slide) + " ms";
    if (offset != 0) text += ", offset " + std::to_string(offset) + " ms";
    return text + (event_time ? ", event time" : ", processing time");
  }

  // Calls fn(TimeWindow) for every window containing ts, latest first.
  template <class F>
  void for_each_window(Timestamp ts, F&& fn) const {
    for (Timestamp start = window_start(ts, offset, slide); start > ts - size; start -= slide) {
      fn(TimeWindow{start, start + size});
    }
  }
};

namespace detail {
template <class Rep, class Period>
Timestamp millis(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
inline TimeWindowSpec checked_spec(Timestamp size, Timestamp slide, Timestamp offset) {
  if (size <= 0 || slide <= 0) {
    throw Error(ErrorCategory::kInvalidArgument, "window size and slide must be positive");
  }
  if (offset < 0 || offset >= slide) {
    throw Error(ErrorCategory::kInvalidArgument, "window offset must be in [0, slide)");
  }
  return TimeWindowSpec{size, slide, offset, true};
}
}  // namespace detail

struct TumblingEventTimeWindows {
  template <class Rep, class Period>
  static TimeWindowSpec of(std::chrono::duration<Rep, Period> size,
                           std::chrono::milliseconds offset = std::chrono::milliseconds(0)) {
    return detail::checked_spec(detail::millis(size), detail::millis(size), offset.count());
  }
};

// Processing-time windows: a record belongs to the windows containing the wall-clock time at which
// the operator receives it; windows fire when the wall clock passes their end.
struct TumblingProcessingTimeWindows {
  template <class Rep, class Period>
  static TimeWindowSpec of(std::chrono::duration<Rep, Period> size,
                           std::chrono::milliseconds offset = std::chrono::milliseconds(0)) {
    TimeWindowSpec spec = TumblingEventTimeWindows::of(size, offset);
    spec.event_time = false;
    return spec;
  }
};

struct SlidingEventTimeWindows {
  template <class Rep1, class Period1, class Rep2, class Period2>
  static TimeWindowSpec of(std::chrono::duration<Rep1, Period1> size,
                           std::chrono::duration<Rep2, Period2> slide,
                           std::chrono::milliseconds offset = std::chrono::milliseconds(0)) {
    return detail::checked_spec(detail::millis(size), detail::millis(slide), offset.count());
  }
};

struct SlidingProcessingTimeWindows {
  template <class Rep1, class Period1, class Rep2, class Period2>
  static TimeWindowSpec of(std::chrono::duration<Rep1, Period1> size,
                           std::chrono::duration<Rep2, Period2> slide,
                           std::chrono::milliseconds offset = std::chrono::milliseconds(0)) {
    TimeWindowSpec spec = SlidingEventTimeWindows::of(size, slide, offset);
    spec.event_time = false;
    return spec;
  }
};

// Session windows: a record with timestamp ts opens [ts, ts + gap); a key's windows that overlap
// or touch merge into one. `Gap` maps a record to its gap in milliseconds (a constant, or a
// user function for dynamic gaps, which must return a positive duration).
template <class Gap>
struct SessionWindowSpec {
  static constexpr bool kMerging = true;
  Gap gap;
  bool event_time = true;

  template <class T, class F>
  void assign(const T& value, Timestamp ts, F&& fn) const {
    const Timestamp g = gap(value);
    if (g <= 0) {
      throw Error(ErrorCategory::kInvalidArgument,
                  "a dynamic session gap must be positive, got " + std::to_string(g) + " ms");
    }
    fn(TimeWindow{ts, ts + g});
  }
  std::string description() const {
    std::string text = "session";
    if constexpr (requires { gap.millis; }) {
      text += ", gap " + std::to_string(gap.millis) + " ms";
    } else {
      text += ", dynamic gap";
    }
    return text + (event_time ? ", event time" : ", processing time");
  }
};

namespace detail {
struct ConstantGap {
  Timestamp millis;
  template <class T>
  Timestamp operator()(const T&) const {
    return millis;
  }
};
// Accepts an extractor returning a std::chrono duration or plain milliseconds.
template <class F>
struct DynamicGap {
  F extract;
  template <class T>
  Timestamp operator()(const T& value) const {
    auto gap = extract(value);
    if constexpr (std::is_arithmetic_v<decltype(gap)>) {
      return static_cast<Timestamp>(gap);
    } else {
      return millis(gap);
    }
  }
};
template <class Rep, class Period>
SessionWindowSpec<ConstantGap> session_with_gap(std::chrono::duration<Rep, Period> gap,
                                                bool event_time) {
  if (millis(gap) <= 0) {
    throw Error(ErrorCategory::kInvalidArgument, "a session window gap must be positive");
  }
  return {ConstantGap{millis(gap)}, event_time};
}
}  // namespace detail

struct EventTimeSessionWindows {
  template <class Rep, class Period>
  static SessionWindowSpec<detail::ConstantGap> with_gap(std::chrono::duration<Rep, Period> gap) {
    return detail::session_with_gap(gap, true);
  }
  template <class F>
  static SessionWindowSpec<detail::DynamicGap<F>> with_dynamic_gap(F extractor) {
    return {detail::DynamicGap<F>{std::move(extractor)}, true};
  }
};

struct ProcessingTimeSessionWindows {
  template <class Rep, class Period>
  static SessionWindowSpec<detail::ConstantGap> with_gap(std::chrono::duration<Rep, Period> gap) {
    return detail::session_with_gap(gap, false);
  }
  template <class F>
  static SessionWindowSpec<detail::DynamicGap<F>> with_dynamic_gap(F extractor) {
    return {detail::DynamicGap<F>{std::move(extractor)}, false};
  }
};

// Every record in one window per key that never ends: results come only from a trigger
// (a count trigger, typically); the default trigger never fires.
struct GlobalWindowSpec {
  static constexpr bool kMerging = false;
  bool event_time = false;  // the window ignores time; no timestamps are needed
  template <class T, class F>
  void assign(const T&, Timestamp, F&& fn) const {
    fn(kGlobalWindow);
  }
  std::string description() const { return "global"; }
};

struct GlobalWindows {
  static GlobalWindowSpec create() { return {}; }
};

// A key together with one of its windows: the key of per-window state.
template <class K>
struct WindowedKey {
  K key;
  TimeWindow window;
  bool operator==(const WindowedKey&) const = default;
  template <class H>
  friend H AbslHashValue(H h, const WindowedKey& k) {
    return H::combine(std::move(h), k.key, k.window);
  }
};

}  // namespace sluice
