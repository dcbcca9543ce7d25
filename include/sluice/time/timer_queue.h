// The one timer queue of keyed operators: the keyed process operator (a key's timers), the general
// window operator (a key and window's timers) and the interval join (a buffered record's cleanup)
// keep their event- and processing-time timers in a TimerQueues<Timer>, and implement the
// user-facing TimerService (sluice/time/timer_service.h) on top of it.
//
// Timers are bucketed by timestamp: timers cluster on few timestamps (window ends, cleanup times),
// so registering one is a search among the pending timestamps and an append, with no allocation
// once the bucket vectors are recycled (an ordered set of (time, key) cost 12% of Nexmark q8's CPU
// and 4x more per record for session windows).
//
// The queue may hold stale timers. Which timers are live is the operator's to know, in state that
// snapshots with its keys (a key's timer times, a window's): a deleted timer is taken out of its
// bucket only when the bucket is small (searched from the back, where the latest registrations
// are); in a large one (every key's window ending together) it stays, and is skipped when it comes
// due because the operator no longer lists it. Once stale timers outnumber live ones, the queue is
// compacted in steps, a few buckets per registration: a rebuild at once would stall the task for
// as long as it takes to look up every timer (tens of milliseconds with many session keys).
//
// Threading: owned by one operator instance, one task thread.
#pragma once

#include <absl/container/btree_map.h>

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "sluice/core/time.h"
#include "sluice/runtime/operator.h"
#include "sluice/time/timer_service.h"

namespace sluice {

// Timers of one time domain by timestamp; `Timer` is what the operator needs to find the timer's
// owner (a key; a key and window), compared with == when a deleted timer is searched for.
template <class Timer>
class TimerQueue {
 public:
  bool empty() const { return buckets_.empty(); }
  // Timers in the queue, live or stale.
  size_t size() const { return size_; }
  // Requires !empty().
  Timestamp earliest() const { return buckets_.begin()->first; }

  void push(Timestamp time, Timer timer) {
    auto [it, inserted] = buckets_.try_emplace(time);
    if (inserted && !spare_.empty()) {
      it->second = std::move(spare_.back());
      spare_.pop_back();
    }
    it->second.push_back(std::move(timer));
    ++size_;
  }
  // Removes the timer unless its bucket is large; true if it did.
  bool erase(Timestamp time, const Timer& timer) {
    auto it = buckets_.find(time);
    if (it == buckets_.end() || it->second.size() > kEagerEraseBucket) return false;
    std::vector<Timer>& timers = it->second;
    auto found = std::find(timers.rbegin(), timers.rend(), timer);
    if (found == timers.rend()) return false;
    timers.erase(std::next(found).base());
    --size_;
    if (timers.empty()) {
      recycle(std::move(timers));
      buckets_.erase(it);
    }
    return true;
  }
  // Removes and returns the earliest timestamp's timers; give the vector back with recycle().
  std::vector<Timer> take_earliest() {
    auto it = buckets_.begin();
    std::vector<Timer> timers = std::move(it->second);
    buckets_.erase(it);
    size_ -= timers.size();
    return timers;
  }
  void recycle(std::vector<Timer> timers) {
    timers.clear();
    spare_.push_back(std::move(timers));
  }
  // A compaction in steps: keeps only the timers for which keep(time, timer) holds, from the
  // bucket at `cursor` on, about `budget` timers' worth of buckets. False while buckets are left
  // (the cursor then names the next one), true once the end was reached.
  template <class Keep>
  bool retain_some(Timestamp& cursor, size_t budget, Keep&& keep) {
    auto it = buckets_.lower_bound(cursor);
    for (size_t seen = 0; it != buckets_.end() && seen < budget;) {
      seen += it->second.size();
      const Timestamp time = it->first;
      size_ -= std::erase_if(it->second, [&](const Timer& t) { return !keep(time, t); });
      if (it->second.empty()) {
        recycle(std::move(it->second));
        it = buckets_.erase(it);
      } else {
        ++it;
      }
    }
    if (it == buckets_.end()) return true;
    cursor = it->first;
    return false;
  }

 private:
  // A bucket holds the timers of one millisecond: up to a thousand is a short search from the
  // back. Session windows move their timer with every record; left in the queue, those stale
  // timers would outnumber the live ones by far and make compactions a steady cost.
  static constexpr size_t kEagerEraseBucket = 1024;
  absl::btree_map<Timestamp, std::vector<Timer>> buckets_;
  std::vector<std::vector<Timer>> spare_;
  size_t size_ = 0;
};

// An operator's event- and processing-time timers: the two queues, the count of live timers (for
// compaction), and the operator's one pending processing-time wake-up.
template <class Timer>
class TimerQueues {
 public:
  // The wake-ups of processing-time timers go to `target` (the operator), through `clock`.
  void open(ProcessingTimeService* clock, TimerTarget* target) {
    clock_ = clock;
    target_ = target;
  }
  TimerQueue<Timer>& queue(TimeDomain domain) {
    return domain == TimeDomain::kEventTime ? event_ : processing_;
  }
  Timestamp now() const { return clock_->now(); }

  // A timer the operator now lists as live. is_live(domain, time, timer) says whether a queued
  // timer still is, for the compaction step this registration pays for.
  template <class IsLive>
  void add(TimeDomain domain, Timestamp time, Timer timer, IsLive&& is_live) {
    ++live_;
    queue(domain).push(time, std::move(timer));
    compact_if_mostly_stale(domain, is_live);
    if (domain == TimeDomain::kProcessingTime && time < wakeup_at_) schedule_wakeup();
  }
  // A live timer the operator no longer lists (deleted, merged away, cleaned up).
  void remove(TimeDomain domain, Timestamp time, const Timer& timer) {
    --live_;
    queue(domain).erase(time, timer);
  }
  // Fires, in time order, the timers of `domain` due at `until` (including ones registered while
  // firing): fire(time, timer) for each, stale ones too; it returns whether the timer was live
  // (the operator unlisted it, and ran it).
  template <class Fire>
  void fire_due(TimeDomain domain, Timestamp until, Fire&& fire) {
    TimerQueue<Timer>& timers = queue(domain);
    while (!timers.empty() && timers.earliest() <= until) {
      const Timestamp time = timers.earliest();
      std::vector<Timer> due = timers.take_earliest();
      for (const Timer& timer : due) {
        if (fire(time, timer)) --live_;
      }
      timers.recycle(std::move(due));
    }
  }
  // The operator's processing-time wake-up came: the next one is yet to be asked for.
  void on_wakeup() { wakeup_at_ = kMaxWatermark; }
  // Asks for one wake-up at the earliest processing-time timer, unless one is pending for it.
  void schedule_wakeup() {
    if (processing_.empty()) return;  // (the earliest bucket may hold only stale timers)
    const Timestamp earliest = processing_.earliest();
    if (earliest >= wakeup_at_ && wakeup_at_ > clock_->now()) return;
    wakeup_at_ = earliest;
    clock_->register_timer(earliest, target_);
  }

 private:
  // Stale timers stay in the queues until they come due; with long windows or a large lateness
  // that could be far off, so when they outnumber live timers the queue is rebuilt with the live
  // ones, kCompactionStep timers' worth per registration. The queue grows by one timer per step,
  // so a pass ends before it doubled.
  struct Compaction {
    bool running = false;
    Timestamp cursor = kMinWatermark;
  };
  static constexpr size_t kCompactionStep = 32;
  template <class IsLive>
  void compact_if_mostly_stale(TimeDomain domain, IsLive& is_live) {
    Compaction& compaction =
        domain == TimeDomain::kEventTime ? event_compaction_ : processing_compaction_;
    TimerQueue<Timer>& timers = queue(domain);
    if (!compaction.running) {
      if (timers.size() < 2 * live_ + 4096) return;
      compaction = Compaction{true, kMinWatermark};
    }
    compaction.running = !timers.retain_some(
        compaction.cursor, kCompactionStep,
        [&](Timestamp time, const Timer& t) { return is_live(domain, time, t); });
  }

  TimerQueue<Timer> event_;
  TimerQueue<Timer> processing_;
  size_t live_ = 0;  // listed by the operator, in both queues
  Compaction event_compaction_;
  Compaction processing_compaction_;
  ProcessingTimeService* clock_ = nullptr;
  TimerTarget* target_ = nullptr;
  Timestamp wakeup_at_ = kMaxWatermark;  // of the pending processing-time wake-up
};

}  // namespace sluice
