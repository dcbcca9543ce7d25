// Event-time primitives shared by every module. Timestamps are milliseconds since the Unix epoch
// (as in Flink); a record without an event timestamp carries kNoTimestamp.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

namespace sluice {

using Timestamp = int64_t;

inline constexpr Timestamp kNoTimestamp = std::numeric_limits<int64_t>::min();
inline constexpr Timestamp kMinWatermark = std::numeric_limits<int64_t>::min();
// End of a bounded input: every pending event-time window and timer fires.
inline constexpr Timestamp kMaxWatermark = std::numeric_limits<int64_t>::max();

using Duration = std::chrono::milliseconds;

// Wall clock in epoch milliseconds (processing time).
inline Timestamp wall_clock_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Monotonic nanoseconds, for latency and duration measurements within one process.
inline int64_t monotonic_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace sluice
