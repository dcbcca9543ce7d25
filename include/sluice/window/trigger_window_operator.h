// The general window operator: any assigner (time, session, global), any trigger, optional
// evictor. It follows Flink's WindowOperator / EvictingWindowOperator:
//
// - every record goes to the windows its assigner gives; with a merging assigner (sessions) the new
//   window first merges with every window of the key it overlaps or touches, and the merged
//   window's contents, trigger state and timers replace theirs;
// - a window whose end + allowed lateness is at or below the watermark is late: a record none of
//   whose windows is still open goes to the late-data side output or is dropped (and counted);
// - the trigger is asked on every element and timer; FIRE emits the window's result with the
//   window's max_timestamp(), PURGE drops its contents (the trigger state stays);
// - a window's state is removed by a cleanup timer at its end + lateness (event time) or at its
//   end (processing time); GlobalWindows are never cleaned up.
//
// Contents are incremental (one accumulator per key and window) unless an evictor needs the
// elements. Timers live in ordered sets of (time, key, window), so firing order is time order.
// The pane-based WindowOperator (window_operator.h) is the fast path for the common case of
// tumbling and sliding windows with their default trigger and no evictor.
//
// Threading: as every operator, one task thread.
#pragma once

#include <absl/container/btree_set.h>
#include <absl/container/flat_hash_map.h>

#include <tuple>
#include <type_traits>
#include <vector>

#include "sluice/api/keyed_process.h"
#include "sluice/window/triggers.h"
#include "sluice/window/window_operator.h"

namespace sluice::detail {

template <class T, class KeySelector, class Adapter, class Assigner, class Trigger, class Evictor>
class TriggerWindowOperator final : public TypedOperator<typename Adapter::Out>,
                                    private TriggerContext {
 public:
  using Key = std::decay_t<std::invoke_result_t<KeySelector&, const T&>>;
  using Acc = typename Adapter::Acc;
  using Out = typename Adapter::Out;
  static constexpr bool kEvicting = !std::is_same_v<Evictor, NoEvictor>;
  static constexpr bool kMerging = Assigner::kMerging;
  static constexpr bool kGlobal = std::is_same_v<Assigner, GlobalWindowSpec>;

  TriggerWindowOperator(KeySelector selector, Adapter adapter, Assigner assigner, Trigger trigger,
                        Evictor evictor, Timestamp allowed_lateness,
                        std::optional<OutputTag<T>> late_tag)
      : selector_(std::move(selector)),
        adapter_(std::move(adapter)),
        assigner_(std::move(assigner)),
        trigger_(std::move(trigger)),
        evictor_(std::move(evictor)),
        lateness_(allowed_lateness),
        late_tag_(std::move(late_tag)) {}

  void open() override {
    OperatorContext& c = this->context();
    clock_ = c.processing_time;
    side_outputs_.bind(&c);
    states_ = std::make_unique<WindowStateBackends<Key>>(c.key_group_range, c.max_parallelism);
    context_ =
        std::make_unique<WindowContext<Key>>(side_outputs_, *states_, c.max_parallelism, kMerging);
    dropped_ = &c.metrics->user_counter("late_records_dropped");
    if constexpr (requires(Adapter & a, const RuntimeContext& r) { a.fn.open(r); }) {
      open_function(adapter_.fn, c);
    }
  }

  void close() override {
    if constexpr (requires(Adapter & a) { a.fn.close(); }) close_function(adapter_.fn);
  }

  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<T>&>(batch);
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    const Timestamp now = assigner_.event_time ? kNoTimestamp : processing_time();
    for (size_t i = 0; i < in.values.size(); ++i) {
      const T& value = in.values[i];
      Timestamp ts = now;
      if constexpr (kGlobal) {
        ts = in.timestamp(i);  // global windows ignore time; a trigger may still use it
      } else if (assigner_.event_time) {
        ts = in.timestamp(i);
        if (ts == kNoTimestamp) throw_window_record_without_timestamp();
      }
      key_ = std::invoke(selector_, value);
      auto key_it = keys_.find(key_);
      if (key_it == keys_.end()) key_it = keys_.emplace(key_, Windows{}).first;
      Windows& windows = key_it->second;
      bool accepted = false;
      assigner_.assign(value, ts, [&](const TimeWindow& assigned) {
        Entry* entry = nullptr;
        if constexpr (kMerging) {
          entry = merge(windows, assigned);
        } else {
          entry = find_or_add(windows, assigned);
        }
        if (entry == nullptr) return;  // late
        accepted = true;
        add(*entry, value, ts);
        window_ = entry->window;
        const TriggerResult result =
            trigger_.on_element(value, ts, entry->window, entry->trigger_state, *this);
        if (fires(result)) emit(*entry, out);
        if (purges(result)) purge(*entry);
        register_cleanup_timer(entry->window);
      });
      if (!accepted) {
        on_late_record(value, ts);
        if (windows.empty()) keys_.erase(key_it);
      }
    }
    out.flush();
    side_outputs_.flush();
  }

  void process_watermark(Timestamp watermark) override {
    if (watermark > watermark_) {
      watermark_ = watermark;
      fire_timers(event_timers_, watermark, TimeDomain::kEventTime);
    }
    this->output().emit_watermark(watermark);
  }

  void on_processing_time(Timestamp) override {
    wakeup_at_ = kMaxWatermark;
    fire_timers(processing_timers_, processing_time(), TimeDomain::kProcessingTime);
    schedule_wakeup();
  }

  // A bounded input ends: processing-time timers fire now rather than being lost (event-time ones
  // fired on the final maximum watermark); timers they set are not waited for. See
  // docs/SEMANTICS.md.
  void finish() override {
    draining_ = true;
    fire_timers(processing_timers_, kMaxWatermark, TimeDomain::kProcessingTime);
  }

 private:
  using Contents = std::conditional_t<kEvicting, std::vector<TimestampedValue<T>>, Acc>;
  struct Entry {
    TimeWindow window;
    int64_t count = 0;  // elements since the last purge: nothing to emit when 0
    Contents contents;
    typename Trigger::State trigger_state{};
  };
  using Windows = std::vector<Entry>;  // of one key; few (sessions) to size / slide (sliding)
  struct Timer {
    Timestamp time;
    Key key;
    TimeWindow window;
    bool operator<(const Timer& o) const {
      return std::tie(time, key, window) < std::tie(o.time, o.key, o.window);
    }
    bool operator==(const Timer& o) const {
      return time == o.time && key == o.key && window == o.window;
    }
  };
  using Timers = absl::btree_set<Timer>;

  Timestamp processing_time() const { return clock_->now(); }

  // ---- TriggerContext, for key_ and window_ ----
  Timestamp current_watermark() const override { return watermark_; }
  Timestamp current_processing_time() const override { return processing_time(); }
  void register_event_time_timer(Timestamp time) override {
    event_timers_.insert(Timer{time, key_, window_});
  }
  void delete_event_time_timer(Timestamp time) override {
    event_timers_.erase(Timer{time, key_, window_});
  }
  void register_processing_time_timer(Timestamp time) override {
    if (draining_) return;
    processing_timers_.insert(Timer{time, key_, window_});
    if (time < wakeup_at_) schedule_wakeup();
  }
  void delete_processing_time_timer(Timestamp time) override {
    processing_timers_.erase(Timer{time, key_, window_});
  }

  // One pending runtime timer, for the earliest processing-time timer.
  void schedule_wakeup() {
    if (processing_timers_.empty()) return;
    const Timestamp earliest = processing_timers_.begin()->time;
    if (earliest >= wakeup_at_) return;
    wakeup_at_ = earliest;
    this->context().processing_time->register_timer(earliest, this);
  }

  // ---- windows of one key ----
  static Entry* find(Windows& windows, const TimeWindow& w) {
    for (auto& e : windows) {
      if (e.window == w) return &e;
    }
    return nullptr;
  }

  Entry* find_or_add(Windows& windows, const TimeWindow& w) {
    if (is_late(w)) return nullptr;
    if (Entry* e = find(windows, w)) return e;
    windows.push_back(new_entry(w));
    return &windows.back();
  }

  Entry new_entry(const TimeWindow& w) {
    Entry e{w, 0, Contents{}, typename Trigger::State{}};
    if constexpr (!kEvicting) e.contents = adapter_.create();
    return e;
  }

  // Flink's MergingWindowSet: the new window and every window it intersects become one (the
  // key's windows never intersect each other). Returns null if the merged window is late.
  Entry* merge(Windows& windows, const TimeWindow& w) {
    TimeWindow merged = w;
    size_t overlapping = 0;
    Entry* target = nullptr;
    for (auto& e : windows) {
      if (!e.window.intersects(w)) continue;
      merged = merged.cover(e.window);
      if (target == nullptr) target = &e;
      ++overlapping;
    }
    if (is_late(merged)) return nullptr;
    if (target == nullptr) {
      windows.push_back(new_entry(merged));
      return &windows.back();
    }
    if (overlapping == 1 && target->window == merged) return target;  // inside an existing window
    // The merged window's contents and trigger state are the union of the old windows'; the old
    // windows' timers go (each cleared with its own trigger state, as Flink clears namespaces).
    typename Trigger::State merged_state{};
    for (auto& e : windows) {
      if (!e.window.intersects(w)) continue;
      trigger_.merge_state(e.trigger_state, merged_state);
      window_ = e.window;
      trigger_.clear(e.window, e.trigger_state, *this);
      delete_cleanup_timer(e.window);
      if (&e == target) continue;
      if constexpr (kEvicting) {
        target->contents.insert(target->contents.end(), e.contents.begin(), e.contents.end());
      } else {
        adapter_.merge(e.contents, target->contents);
      }
      target->count += e.count;
    }
    target->window = merged;
    target->trigger_state = merged_state;
    const size_t target_index = static_cast<size_t>(target - windows.data());
    for (size_t i = windows.size(); i-- > 0;) {
      if (i != target_index && windows[i].window.intersects(w)) {
        windows.erase(windows.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    // Erasing before the target shifted it: find it again by its (now unique) window.
    target = find(windows, merged);
    window_ = merged;
    trigger_.on_merge(merged, target->trigger_state, *this);
    return target;
  }

  void add(Entry& e, const T& value, Timestamp ts) {
    if constexpr (kEvicting) {
      e.contents.push_back(TimestampedValue<T>{value, ts});
    } else {
      adapter_.add(e.contents, value);
    }
    ++e.count;
  }

  void purge(Entry& e) {
    if constexpr (kEvicting) {
      e.contents.clear();
    } else {
      e.contents = adapter_.create();
    }
    e.count = 0;
  }

  void emit(Entry& e, Collector<Out>& out) {
    if (e.count == 0) return;
    out.set_timestamp(e.window.max_timestamp());
    context_->set(key_, e.window, watermark_);
    if constexpr (kEvicting) {
      evictor_.evict_before(e.contents, e.window);
      if (!e.contents.empty()) {
        Acc acc = adapter_.create();
        for (const auto& element : e.contents) adapter_.add(acc, element.value);
        adapter_.emit(key_, *context_, acc, out);
      }
      evictor_.evict_after(e.contents, e.window);
      e.count = static_cast<int64_t>(e.contents.size());
    } else {
      adapter_.emit(key_, *context_, e.contents, out);
    }
  }

  // ---- lateness and cleanup ----
  // When the window's state goes: end + lateness in event time, its end in processing time.
  Timestamp cleanup_time(const TimeWindow& w) const {
    if (!assigner_.event_time) return w.max_timestamp();
    return w.max_timestamp() > kMaxWatermark - lateness_ ? kMaxWatermark
                                                         : w.max_timestamp() + lateness_;
  }
  bool is_late(const TimeWindow& w) const {
    return assigner_.event_time && cleanup_time(w) <= watermark_;
  }
  void register_cleanup_timer(const TimeWindow& w) {
    if (w == kGlobalWindow) return;
    if (assigner_.event_time) {
      event_timers_.insert(Timer{cleanup_time(w), key_, w});
    } else {
      window_ = w;
      register_processing_time_timer(cleanup_time(w));
    }
  }
  void delete_cleanup_timer(const TimeWindow& w) {
    if (w == kGlobalWindow) return;
    auto& timers = assigner_.event_time ? event_timers_ : processing_timers_;
    timers.erase(Timer{cleanup_time(w), key_, w});
  }

  void on_late_record(const T& value, Timestamp ts) {
    if (late_tag_) {
      side_outputs_.emit(*late_tag_, value, ts);
    } else {
      dropped_->increment();
    }
  }

  // Fires, in time order, the timers due at `now`, including ones set while firing.
  void fire_timers(Timers& timers, Timestamp now, TimeDomain domain) {
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    while (!timers.empty() && timers.begin()->time <= now) {
      Timer timer = *timers.begin();
      timers.erase(timers.begin());
      on_timer(timer, domain, out);
    }
    out.flush();
    side_outputs_.flush();
  }

  void on_timer(const Timer& timer, TimeDomain domain, Collector<Out>& out) {
    auto key_it = keys_.find(timer.key);
    if (key_it == keys_.end()) return;
    Entry* e = find(key_it->second, timer.window);
    if (e == nullptr) return;  // merged away or already cleaned up
    key_ = timer.key;
    window_ = timer.window;
    const TriggerResult result =
        domain == TimeDomain::kEventTime
            ? trigger_.on_event_time(timer.time, e->window, e->trigger_state, *this)
            : trigger_.on_processing_time(timer.time, e->window, e->trigger_state, *this);
    if (fires(result)) emit(*e, out);
    if (purges(result)) purge(*e);
    const bool cleanup_domain = (domain == TimeDomain::kEventTime) == assigner_.event_time;
    if (cleanup_domain && e->window != kGlobalWindow && timer.time == cleanup_time(e->window)) {
      trigger_.clear(e->window, e->trigger_state, *this);
      if (!states_->window.empty()) {
        states_->window.set_current_key(WindowedKey<Key>{key_, e->window},
                                        key_group_for_key(key_, this->context().max_parallelism));
        states_->window.clear_current_key();
      }
      Windows& windows = key_it->second;
      windows.erase(windows.begin() + (e - windows.data()));
      if (windows.empty()) keys_.erase(key_it);
    }
  }

  KeySelector selector_;
  Adapter adapter_;
  Assigner assigner_;
  Trigger trigger_;
  Evictor evictor_;
  Timestamp lateness_;
  std::optional<OutputTag<T>> late_tag_;
  absl::flat_hash_map<Key, Windows> keys_;
  Timers event_timers_;
  Timers processing_timers_;
  Key key_{};            // the key being processed (for the TriggerContext)
  TimeWindow window_{};  // the window being processed (for the TriggerContext)
  Timestamp watermark_ = kMinWatermark;
  Timestamp wakeup_at_ = kMaxWatermark;
  bool draining_ = false;
  ProcessingTimeService* clock_ = nullptr;
  SideOutputs side_outputs_;
  std::unique_ptr<WindowStateBackends<Key>> states_;
  std::unique_ptr<WindowContext<Key>> context_;
  Counter* dropped_ = nullptr;
};

}  // namespace sluice::detail
