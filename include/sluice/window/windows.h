// Windows and window assigners: the time windows a record belongs to.
//
//   TumblingEventTimeWindows::of(std::chrono::minutes(1))            // [0, 60s), [60s, 120s), ...
//   SlidingEventTimeWindows::of(std::chrono::seconds(10), std::chrono::seconds(1))
//
// A window [start, end) contains timestamps start <= ts < end; its max_timestamp() is end - 1.
// Starts are aligned to the epoch plus an optional offset, as Flink's:
// start = ts - floor_mod(ts - offset, slide) for the latest window, then earlier ones every slide
// while they still contain ts.
//
// Threading: plain values.
#pragma once

#include <chrono>
#include <cstdint>

#include "sluice/core/error.h"
#include "sluice/core/time.h"

namespace sluice {

struct TimeWindow {
  Timestamp start = 0;
  Timestamp end = 0;  // exclusive
  Timestamp max_timestamp() const { return end - 1; }
  bool operator==(const TimeWindow&) const = default;
};

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
  Timestamp size = 0;
  Timestamp slide = 0;
  Timestamp offset = 0;
  bool event_time = true;

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

}  // namespace sluice
