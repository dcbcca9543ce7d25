// TimerService: what a function with timers may do (Flink's TimerService, which its
// TriggerContext repeats): read the two clocks, and register or delete a timer of the current key
// (and window, for triggers) in event time or processing time. Keyed process functions get it from
// their context, window triggers as their TriggerContext; the operators implement it over one
// timer queue (see sluice/time/timer_queue.h).
//
// Timers are de-duplicated per key (and window) and time; deleting one that does not exist does
// nothing. Event-time timers fire when the watermark reaches them, processing-time timers when the
// operator's processing-time service says their time has come.
//
// Threading: called only from the operator's task thread, during a callback of the operator.
#pragma once

#include "sluice/core/time.h"

namespace sluice {

enum class TimeDomain { kEventTime, kProcessingTime };

class TimerService {
 public:
  virtual ~TimerService() = default;
  virtual Timestamp current_watermark() const = 0;
  virtual Timestamp current_processing_time() const = 0;
  virtual void register_event_time_timer(Timestamp time) = 0;
  virtual void register_processing_time_timer(Timestamp time) = 0;
  virtual void delete_event_time_timer(Timestamp time) = 0;
  virtual void delete_processing_time_timer(Timestamp time) = 0;
};

}  // namespace sluice
