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
// elements. Each window lists its pending timers; the shared timer queue orders them
// (sluice/time/timer_queue.h): a deleted or merged-away timer the queue still holds is skipped
// when it comes due, as its window no longer lists it.
// The pane-based WindowOperator (window_operator.h) is the fast path for the common case of
// tumbling and sliding windows with their default trigger and no evictor.
//
// Snapshots are asynchronous as the heap backend's: the windows are kept per key group in a
// detail::KeyedTable, frozen by a snapshot until its asynchronous part has serialized the group
// (a key changed meanwhile is copied first). Session windows of a few hundred thousand keys took
// the task tens of milliseconds to serialize synchronously.
//
// Threading: as every operator, one task thread.
#pragma once

#include <absl/container/inlined_vector.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"
#include "sluice/operators/window_adapters.h"
#include "sluice/state/keyed_table.h"
#include "sluice/time/timer_queue.h"
#include "sluice/window/triggers.h"

namespace sluice::operators {

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

  ~TriggerWindowOperator() override {
    if (guard_.snapshot) guard_.snapshot->cancel();  // a pending asynchronous part reads *this
  }
  TriggerWindowOperator(const TriggerWindowOperator&) = delete;
  TriggerWindowOperator& operator=(const TriggerWindowOperator&) = delete;

  TriggerWindowOperator(KeySelector selector, Adapter adapter, Assigner assigner, Trigger trigger,
                        Evictor evictor, Timestamp allowed_lateness,
                        std::optional<OutputTag<T>> late_tag)
      : selector_(std::move(selector)),
        adapter_(std::move(adapter)),
        assigner_(std::move(assigner)),
        trigger_(std::move(trigger)),
        evictor_(std::move(evictor)),
        lateness_(allowed_lateness),
        late_tag_(std::move(late_tag)) {
    guard_.settle = [this](size_t local) { settle_group(local); };
  }

  void open() override {
    OperatorContext& c = this->context();
    clock_ = c.processing_time;
    timers_.open(clock_, this);
    side_outputs_.bind(&c);
    states_ = std::make_unique<WindowStateBackends<Key>>(c);
    max_parallelism_ = c.max_parallelism;
    range_ = c.key_group_range;
    keys_ = std::make_unique<Table>(range_, StateTtlConfig{}, nullptr, &guard_);
    context_ = std::make_unique<WindowContext<Key>>(side_outputs_, *states_, c, kMerging);
    dropped_ = &c.metrics->user_counter("late_records_dropped");
    restore(c);
    if constexpr (requires(Adapter & a, const RuntimeContext& r) { a.fn.open(r); }) {
      detail::open_function(adapter_.fn, c);
    }
  }

  // Per key group: each key's windows with their contents, trigger state and live timers; the
  // window function's state; the watermark. The key groups are serialized by the asynchronous
  // part (see the top of the file).
  StateSnapshot snapshot_state(const SnapshotRequest& request) override {
    if constexpr (kCheckpointable) {
      finish_snapshot_in_progress();
      keys_->merge_overlays();
      return frozen_keyed_operator_snapshot(
          guard_, range_, [this](size_t i) { return serialize_group(i); },
          KeyedOperatorSnapshot{watermark_, {}, {}, {}}, states_->snapshot_async(request.savepoint),
          "the window operator closed before its snapshot was written");
    } else {
      throw_not_checkpointable("the key, contents or trigger state type of window operator '" +
                               this->context().operator_name + "' has no sluice::Serializer");
    }
  }

  void close() override {
    if constexpr (requires(Adapter & a) { a.fn.close(); }) detail::close_function(adapter_.fn);
  }

  OperatorDescription describe() const override {
    auto d = OperatorDescription::of<T, Out>("window");
    d.add("key", readable_type_name<Key>());
    d.add("assigner", assigner_.description());
    d.add("trigger", describe_part(trigger_));
    if constexpr (kEvicting) d.add("evictor", describe_part(evictor_));
    d.add("allowed lateness", std::to_string(lateness_) + " ms");
    d.add("function", adapter_.description());
    if (late_tag_) d.side_outputs.emplace_back(late_tag_->id(), readable_type_name<T>());
    return d;
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
      const int key_group = key_group_for_key(key_, max_parallelism_);
      Windows& windows = keys_->find_or_create(key_, key_group, [] { return Windows{}; }).value;
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
        entry_ = entry;
        window_ = entry->window;
        const TriggerResult result =
            trigger_.on_element(value, ts, entry->window, entry->trigger_state, *this);
        if (fires(result)) emit(*entry, out);
        if (purges(result)) purge(*entry);
        register_cleanup_timer(entry->window);
      });
      if (!accepted) {
        on_late_record(value, ts);
        if (windows.empty()) keys_->erase(key_, key_group);
      }
    }
    out.flush();
    side_outputs_.flush();
  }

  void process_watermark(Timestamp watermark) override {
    if (watermark > watermark_) {
      watermark_ = watermark;
      fire_timers(TimeDomain::kEventTime, watermark);
    }
    this->output().emit_watermark(watermark);
  }

  void on_processing_time(Timestamp) override {
    timers_.on_wakeup();
    fire_timers(TimeDomain::kProcessingTime, processing_time());
    timers_.schedule_wakeup();
  }

  // A bounded input ends: processing-time timers fire now rather than being lost (event-time ones
  // fired on the final maximum watermark); timers they set are not waited for. See
  // docs/SEMANTICS.md.
  void finish() override {
    draining_ = true;
    fire_timers(TimeDomain::kProcessingTime, kMaxWatermark);
  }

 private:
  using Contents = std::conditional_t<kEvicting, std::vector<TimestampedValue<T>>, Acc>;
  static constexpr bool kCheckpointable =
      kSerializable<Key> && kSerializable<Contents> && kSerializable<typename Trigger::State>;

  void restore(const OperatorContext& c) {
    if constexpr (kCheckpointable) {
      auto snapshots = restored_keyed_snapshots(c.restored_state, &watermark_);
      states_->restore(snapshots);
      for (auto& snapshot : snapshots) {
        read_key_grouped_items(snapshot.internal, c.key_group_range, [&](BufferReader& in) {
          key_ = deserialize<Key>(in);
          Windows& windows = keys_
                                 ->find_or_create(key_, key_group_for_key(key_, max_parallelism_),
                                                  [] { return Windows{}; })
                                 .value;
          for (size_t n = in.read_length(); n > 0; --n) {
            Entry e = new_entry(deserialize<TimeWindow>(in));
            e.count = deserialize<int64_t>(in);
            e.contents = deserialize<Contents>(in);
            e.trigger_state = deserialize<typename Trigger::State>(in);
            for (auto domain : {TimeDomain::kEventTime, TimeDomain::kProcessingTime}) {
              for (Timestamp time : deserialize<std::vector<Timestamp>>(in)) {
                timers_of(e, domain).push_back(time);
                timers_.add(domain, time, Timer{key_, e.window}, all_live);
              }
            }
            windows.push_back(std::move(e));
          }
        });
      }
      timers_.schedule_wakeup();
    }
  }

  using TimerTimes = absl::InlinedVector<Timestamp, 2>;
  // In std::vector<Timestamp>'s format (restore reads one), without building one per window.
  static void write_timer_times(const TimerTimes& times, BufferWriter& out) {
    out.write_length(times.size());
    out.write_bytes(times.data(), times.size() * sizeof(Timestamp));
  }
  struct Entry {
    TimeWindow window;
    int64_t count = 0;  // elements since the last purge: nothing to emit when 0
    Contents contents;
    typename Trigger::State trigger_state{};
    TimerTimes event_timers;  // the live timers of this key and window
    TimerTimes processing_timers;
  };
  // The windows of one key: usually one (tumbling, sessions), stored inline in the key map.
  using Windows = absl::InlinedVector<Entry, 1>;
  using Table = detail::KeyedTable<Key, Windows>;

  // One key group of the windows, as KeyGroupedItems writes it (empty if it has no key). By the
  // asynchronous part, or by the task before it changes the group as a whole.
  std::string serialize_group(size_t local) const {
    if constexpr (kCheckpointable) {
      const auto& group = keys_->group(range_.start + static_cast<int>(local));
      if (group.empty()) return {};
      std::string bytes;
      BufferWriter out(bytes);
      out.write_fixed(static_cast<uint32_t>(group.size()));
      for (const auto& [key, slot] : group) {
        serialize(key, out);
        out.write_length(slot.value.size());
        for (const Entry& e : slot.value) {
          serialize(e.window, out);
          serialize(e.count, out);
          serialize(e.contents, out);
          serialize(e.trigger_state, out);
          write_timer_times(e.event_timers, out);
          write_timer_times(e.processing_timers, out);
        }
      }
      out.finish();
      return bytes;
    } else {
      return {};
    }
  }
  void settle_group(size_t local) {
    guard_.serialize_or_wait(local, [this](size_t i) { return serialize_group(i); });
  }
  void finish_snapshot_in_progress() {
    guard_.finish_previous([this](size_t i) { return serialize_group(i); });
  }
  // A timer's owner: the key and window whose entry lists its time.
  struct Timer {
    Key key;
    TimeWindow window;
    bool operator==(const Timer&) const = default;
  };
  static TimerTimes& timers_of(Entry& e, TimeDomain domain) {
    return domain == TimeDomain::kEventTime ? e.event_timers : e.processing_timers;
  }
  static constexpr auto all_live = [](TimeDomain, Timestamp, const Timer&) { return true; };

  Timestamp processing_time() const { return clock_->now(); }

  // ---- TriggerContext, for key_, window_ and its entry_ ----
  Timestamp current_watermark() const override { return watermark_; }
  Timestamp current_processing_time() const override { return processing_time(); }
  void register_event_time_timer(Timestamp time) override {
    add_timer(TimeDomain::kEventTime, time);
  }
  void delete_event_time_timer(Timestamp time) override {
    delete_timer(TimeDomain::kEventTime, time);
  }
  void register_processing_time_timer(Timestamp time) override {
    if (!draining_) add_timer(TimeDomain::kProcessingTime, time);
  }
  void delete_processing_time_timer(Timestamp time) override {
    delete_timer(TimeDomain::kProcessingTime, time);
  }
  void add_timer(TimeDomain domain, Timestamp time) {
    if (!list_timer(timers_of(*entry_, domain), time)) return;
    timers_.add(domain, time, Timer{key_, window_},
                [this](TimeDomain d, Timestamp t, const Timer& timer) {
                  return timer_is_live(d, t, timer, key_group_for_key(timer.key, max_parallelism_));
                });
  }
  void delete_timer(TimeDomain domain, Timestamp time) {
    if (unlist_timer(timers_of(*entry_, domain), time))
      timers_.remove(domain, time, Timer{key_, window_});
  }
  // An entry of the current key stops having timers (merged away or cleaned up).
  void forget_timers(Entry& e) {
    for (auto domain : {TimeDomain::kEventTime, TimeDomain::kProcessingTime}) {
      for (Timestamp time : timers_of(e, domain))
        timers_.remove(domain, time, Timer{key_, e.window});
      timers_of(e, domain).clear();
    }
  }

  // False if the window already has a timer at `time` (timers are de-duplicated).
  static bool list_timer(TimerTimes& times, Timestamp time) {
    if (std::find(times.begin(), times.end(), time) != times.end()) return false;
    times.push_back(time);
    return true;
  }
  static bool unlist_timer(TimerTimes& times, Timestamp time) {
    auto it = std::find(times.begin(), times.end(), time);
    if (it == times.end()) return false;
    *it = times.back();
    times.pop_back();
    return true;
  }

  // ---- windows of one key ----
  // Newest windows last: in-order input finds its window at the back.
  static Entry* find(Windows& windows, const TimeWindow& w) {
    return const_cast<Entry*>(find(std::as_const(windows), w));
  }
  static const Entry* find(const Windows& windows, const TimeWindow& w) {
    for (size_t i = windows.size(); i-- > 0;) {
      if (windows[i].window == w) return &windows[i];
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
    Entry e{w, 0, Contents{}, typename Trigger::State{}, {}, {}};
    if constexpr (!kEvicting) e.contents = adapter_.create();
    return e;
  }

  // Flink's MergingWindowSet: the new window and every window it intersects become one. A key's
  // session windows are kept sorted by start and never intersect each other, so the ones `w`
  // intersects are a contiguous run, found from the back (in-order input touches the newest).
  // Returns null if the merged window is late.
  Entry* merge(Windows& windows, const TimeWindow& w) {
    size_t last = windows.size();  // one past the run
    while (last > 0 && windows[last - 1].window.start > w.end) --last;
    size_t first = last;
    while (first > 0 && windows[first - 1].window.end >= w.start) --first;
    TimeWindow merged = w;
    for (size_t i = first; i < last; ++i) merged = merged.cover(windows[i].window);
    if (is_late(merged)) return nullptr;
    const auto at = [&](size_t i) { return windows.begin() + static_cast<std::ptrdiff_t>(i); };
    if (first == last) return &*windows.insert(at(last), new_entry(merged));
    Entry& target = windows[first];
    if (last - first == 1 && target.window == merged) return &target;  // inside an existing window
    // The merged window's contents and trigger state are the union of the old windows'; the old
    // windows' timers go (each cleared with its own trigger state, as Flink clears namespaces).
    typename Trigger::State merged_state{};
    for (size_t i = first; i < last; ++i) {
      Entry& e = windows[i];
      trigger_.merge_state(e.trigger_state, merged_state);
      entry_ = &e;
      window_ = e.window;
      trigger_.clear(e.window, e.trigger_state, *this);
      // Timers the trigger left behind (cleanup ones too) belong to a window that is gone.
      forget_timers(e);
      if (i == first) continue;
      if constexpr (kEvicting) {
        target.contents.insert(target.contents.end(), e.contents.begin(), e.contents.end());
      } else {
        adapter_.merge(e.contents, target.contents);
      }
      target.count += e.count;
    }
    target.window = merged;
    target.trigger_state = merged_state;
    windows.erase(at(first + 1), at(last));
    entry_ = &windows[first];
    window_ = merged;
    trigger_.on_merge(merged, entry_->trigger_state, *this);
    return entry_;
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
  // For entry_.
  void register_cleanup_timer(const TimeWindow& w) {
    if (w == kGlobalWindow) return;
    if (assigner_.event_time) {
      register_event_time_timer(cleanup_time(w));
    } else {
      register_processing_time_timer(cleanup_time(w));
    }
  }

  void on_late_record(const T& value, Timestamp ts) {
    if (late_tag_) {
      side_outputs_.emit(*late_tag_, value, ts);
    } else {
      dropped_->increment();
    }
  }

  // Fires, in time order, the timers due at `now`, including ones set while firing.
  void fire_timers(TimeDomain domain, Timestamp now) {
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    timers_.fire_due(domain, now, [&](Timestamp time, const Timer& timer) {
      return on_timer(time, timer, domain, out);
    });
    out.flush();
    side_outputs_.flush();
  }

  // Whether the timer is still listed by its window (not merged away, moved or cleaned up). Reads
  // without merging overlays: the caller may hold an entry of the same key group.
  bool timer_is_live(TimeDomain domain, Timestamp time, const Timer& t, int key_group) const {
    const auto* slot = keys_->peek(t.key, key_group);
    if (slot == nullptr) return false;
    const Entry* e = find(slot->value, t.window);
    if (e == nullptr) return false;
    const TimerTimes& times =
        domain == TimeDomain::kEventTime ? e->event_timers : e->processing_timers;
    return std::find(times.begin(), times.end(), time) != times.end();
  }

  // False if the timer was stale.
  bool on_timer(Timestamp time, const Timer& timer, TimeDomain domain, Collector<Out>& out) {
    const bool event_time = domain == TimeDomain::kEventTime;
    // Checked first so that a stale timer does not copy its key's windows during a snapshot.
    const int key_group = key_group_for_key(timer.key, max_parallelism_);
    if (!timer_is_live(domain, time, timer, key_group)) return false;
    Windows& windows = keys_->find_for_change(timer.key, key_group)->value;
    Entry* e = find(windows, timer.window);
    unlist_timer(timers_of(*e, domain), time);
    key_ = timer.key;
    window_ = timer.window;
    entry_ = e;
    const TriggerResult result =
        event_time ? trigger_.on_event_time(time, e->window, e->trigger_state, *this)
                   : trigger_.on_processing_time(time, e->window, e->trigger_state, *this);
    if (fires(result)) emit(*e, out);
    if (purges(result)) purge(*e);
    if (event_time == assigner_.event_time && e->window != kGlobalWindow &&
        time == cleanup_time(e->window)) {
      trigger_.clear(e->window, e->trigger_state, *this);
      if (states_->has_window_state()) {
        states_->window().set_current_key(WindowedKey<Key>{key_, e->window}, key_group);
        states_->window().clear_current_key();
      }
      forget_timers(*e);
      windows.erase(windows.begin() + (e - windows.data()));
      if (windows.empty()) keys_->erase(timer.key, key_group);
    }
    return true;
  }

  KeySelector selector_;
  Adapter adapter_;
  Assigner assigner_;
  Trigger trigger_;
  Evictor evictor_;
  Timestamp lateness_;
  std::optional<OutputTag<T>> late_tag_;
  int max_parallelism_ = kDefaultMaxParallelism;
  KeyGroupRange range_;
  std::unique_ptr<Table> keys_;  // each key's windows
  detail::WriteGuard guard_;     // and the latest snapshot
  TimerQueues<Timer> timers_;
  // The key, window and window entry being processed: what the TriggerContext acts on.
  Key key_{};
  TimeWindow window_{};
  Entry* entry_ = nullptr;
  Timestamp watermark_ = kMinWatermark;
  bool draining_ = false;
  ProcessingTimeService* clock_ = nullptr;
  SideOutputs side_outputs_;
  std::unique_ptr<WindowStateBackends<Key>> states_;
  std::unique_ptr<WindowContext<Key>> context_;
  Counter* dropped_ = nullptr;
};

}  // namespace sluice::operators
