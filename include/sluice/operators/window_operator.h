// WindowOperator: keyed tumbling and sliding windows with their default trigger and no evictor,
// the fast path of WindowedStream (everything else runs on TriggerWindowOperator).
//
// State is incremental. Time is cut into panes of gcd(size, slide); every record updates exactly
// one pane accumulator of its key, and a window is the merge of its size / pane panes when it
// fires. A tumbling sum keeps one accumulator per key and window; a 10 s / 1 s sliding sum keeps
// ten per key, not ten copies of every record. ProcessWindowFunction windows keep the records.
// With per-window accumulators (WindowedStream::accumulate_per_window()), a sliding window's
// record updates the accumulator of each of its size / slide windows instead, as Flink's
// WindowOperator does, and a window's end merges nothing: for accumulators that are costly to
// merge (maps, top-N lists) or that keep their result up to date as records arrive.
//
// Semantics follow Flink's WindowOperator with the default EventTimeTrigger:
// - a window fires when the watermark reaches its max_timestamp() (end - 1); the result carries
//   that timestamp;
// - with allowed lateness L, a record whose window already fired but whose max_timestamp() + L
//   is still above the watermark updates the window and fires it again at once (a late firing);
// - a record all of whose windows are past max_timestamp() + L is late: it goes to the late-data
//   side output if one is set, else it is dropped (and counted as "late_records_dropped");
// - a window's state is removed when the watermark passes max_timestamp() + L.
//
// Snapshots are asynchronous: a snapshot freezes the panes it will serialize (the asynchronous
// part reads them, shared, even if the task drops them meanwhile); until it is done, the task's
// changes to a frozen pane go to the pane's overlay (an accumulator copied on its first change),
// which reads look in first and which is merged back once the snapshot is done. A snapshot taken
// while the previous one still reads its panes, or of accumulators that cannot be copied, is
// serialized at once.
//
// Threading: as every operator, one task thread; the asynchronous part of a snapshot reads the
// frozen panes on the snapshot writer's thread.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <atomic>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <type_traits>
#include <vector>

#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"
#include "sluice/operators/window_adapters.h"
#include "sluice/state/keyed_snapshot.h"
#include "sluice/window/windows.h"

namespace sluice::operators {

template <class T, class KeySelector, class Adapter>
class WindowOperator final : public TypedOperator<typename Adapter::Out> {
 public:
  using Key = std::decay_t<std::invoke_result_t<KeySelector&, const T&>>;
  using Acc = typename Adapter::Acc;
  using Out = typename Adapter::Out;

  // `per_window`: an accumulator per window rather than per pane (see the top of this file).
  WindowOperator(KeySelector selector, Adapter adapter, TimeWindowSpec spec,
                 Timestamp allowed_lateness, std::optional<OutputTag<T>> late_tag,
                 bool per_window = false)
      : selector_(std::move(selector)),
        adapter_(std::move(adapter)),
        spec_(spec),
        per_window_(per_window && spec.slide < spec.size),
        pane_size_(per_window_ ? spec.size : std::gcd(spec.size, spec.slide)),
        lateness_(allowed_lateness),
        late_tag_(std::move(late_tag)) {}

  void open() override {
    OperatorContext& c = this->context();
    side_outputs_.bind(&c);
    states_ = std::make_unique<WindowStateBackends<Key>>(c);
    context_ = std::make_unique<WindowContext<Key>>(side_outputs_, *states_, c, false);
    dropped_ = &c.metrics->user_counter("late_records_dropped");
    restore(c);
    if constexpr (requires(Adapter & a, const RuntimeContext& c) { a.fn.open(c); }) {
      detail::open_function(adapter_.fn, this->context());
    }
    if (!spec_.event_time) schedule_processing_timer();
  }

  // Window contents (pane, key, accumulator) and window-function state by key group, and the
  // watermark (processing time, for processing-time windows) already handled.
  StateSnapshot snapshot_state(const SnapshotRequest& request) override {
    if constexpr (kSerializable<Key> && kSerializable<Acc>) {
      thaw_if_done();
      const int max_parallelism = this->context().max_parallelism;
      std::vector<BackendMaterialize> backends = states_->snapshot_async(request.savepoint);
      if constexpr (std::is_copy_constructible_v<Acc>) {
        if (!snapshot_done_) {
          struct Materializer {
            std::vector<std::pair<Timestamp, std::shared_ptr<const Pane>>> panes;
            std::shared_ptr<std::atomic<bool>> done;
            std::vector<BackendMaterialize> backends;
            Timestamp watermark;
            int max_parallelism;
            std::map<std::string, std::string> layout;
            // Run or dropped, it no longer reads the panes: the task may change them again.
            ~Materializer() { done->store(true, std::memory_order_release); }
          };
          auto m = std::make_shared<Materializer>();
          for (auto& [start, pane] : panes_) {
            pane->frozen = true;
            m->panes.emplace_back(start, pane);
          }
          m->done = snapshot_done_ = std::make_shared<std::atomic<bool>>(false);
          m->backends = std::move(backends);
          m->watermark = watermark_;
          m->max_parallelism = max_parallelism;
          m->layout = layout_marker();
          return StateSnapshot::streamed([m](SnapshotFiles& files, SnapshotOutput& out) {
            KeyGroupedItems items;
            for (const auto& [start, pane] : m->panes) {
              for (const auto& [key, acc] : pane->map)
                add_item(items, m->max_parallelism, start, key, acc);
            }
            KeyedOperatorSnapshot snapshot{m->watermark, {}, items.finish(), m->layout};
            for (auto& materialize : m->backends) snapshot.backends.push_back(materialize(files));
            write_keyed_operator_snapshot(snapshot, out);
          });
        }
      }
      KeyGroupedItems items;
      for (const auto& [start, pane] : panes_) {
        for_each_acc(*pane, [&](const Key& key, const Acc& acc) {
          add_item(items, max_parallelism, start, key, acc);
        });
      }
      return keyed_operator_snapshot(
          KeyedOperatorSnapshot{watermark_, {}, items.finish(), layout_marker()},
          std::move(backends));
    } else {
      throw_not_checkpointable("the key or accumulator type of window operator '" +
                               this->context().operator_name + "' has no sluice::Serializer");
    }
  }

  OperatorDescription describe() const override {
    auto d = OperatorDescription::of<T, Out>("window");
    d.add("key", readable_type_name<Key>());
    d.add("assigner", spec_.description());
    d.add("trigger", spec_.event_time ? "event time (default)" : "processing time (default)");
    d.add("allowed lateness", std::to_string(lateness_) + " ms");
    d.add("function", adapter_.description());
    d.add("state", per_window_ ? "an accumulator per window" : "an accumulator per pane");
    if (late_tag_) d.side_outputs.emplace_back(late_tag_->id(), readable_type_name<T>());
    return d;
  }

  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<T>&>(batch);
    thaw_if_done();
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    // Processing-time windows: every record of the batch belongs to "now"; nothing is ever late.
    // "Now" is never before time already handled: a timer may have read a later clock than ours,
    // and a record must not land in a window that already fired.
    const Timestamp now = spec_.event_time
                              ? kNoTimestamp
                              : std::max(this->context().processing_time->now(), watermark_ + 1);
    for (size_t i = 0; i < in.values.size(); ++i) {
      const Timestamp ts = spec_.event_time ? in.timestamp(i) : now;
      if (ts == kNoTimestamp) throw_window_record_without_timestamp();
      const T& value = in.values[i];
      // The latest window containing ts is the last to expire: if it is late, all are.
      const Timestamp latest_end = window_start(ts, spec_.offset, spec_.slide) + spec_.size;
      if (latest_end - 1 + lateness_ <= watermark_) {
        on_late_record(value, ts);
        continue;
      }
      const Key key = std::invoke(selector_, value);
      if (per_window_) {
        // Every window of the record that still takes records (a window past its lateness is
        // gone, and must not come back as an empty pane).
        spec_.for_each_window(ts, [&](const TimeWindow& w) {
          if (w.max_timestamp() + lateness_ > watermark_) {
            adapter_.add(acc_for_change(pane_at(w.start), key), value);
          }
        });
      } else {
        Pane& pane = pane_at(window_start(ts, spec_.offset, pane_size_));
        adapter_.add(acc_for_change(pane, key), value);
      }
      if (spec_.event_time && ts <= watermark_) {
        // Some windows of this record already fired: fire those still within the lateness again.
        spec_.for_each_window(ts, [&](const TimeWindow& w) {
          if (w.max_timestamp() <= watermark_ && w.max_timestamp() + lateness_ > watermark_) {
            fire(key, w, out);
          }
        });
      }
    }
    out.flush();
    side_outputs_.flush();
    if (!spec_.event_time) schedule_processing_timer();
  }

  void process_watermark(Timestamp watermark) override {
    if (spec_.event_time) advance_to(watermark);
    this->output().emit_watermark(watermark);
  }

  // Processing-time windows: the wall clock reached a window's end.
  void on_processing_time(Timestamp) override {
    timer_pending_ = false;
    advance_to(this->context().processing_time->now());
    schedule_processing_timer();
  }

  // A bounded input ends: processing-time windows still open fire now rather than being lost
  // (event-time ones already fired on the final maximum watermark). See docs/SEMANTICS.md.
  void finish() override {
    if (!spec_.event_time) advance_to(kMaxWatermark);
  }

  void close() override {
    if constexpr (requires(Adapter & a) { a.fn.close(); }) detail::close_function(adapter_.fn);
  }

 private:
  using PaneMap = absl::flat_hash_map<Key, Acc>;
  struct Pane {
    PaneMap map;  // read by a snapshot's asynchronous part while frozen
    // While frozen: the accumulators changed since the snapshot, each copied on its first change.
    PaneMap overlay;
    bool frozen = false;
  };

  static void add_item(KeyGroupedItems& items, int max_parallelism, Timestamp pane, const Key& key,
                       const Acc& acc) {
    BufferWriter out = items.add(key_group_for_key(key, max_parallelism));
    serialize(pane, out);
    serialize(key, out);
    serialize(acc, out);
  }

  // Once the asynchronous part is done with the frozen panes, their overlays are merged back.
  void thaw_if_done() {
    if (!snapshot_done_ || !snapshot_done_->load(std::memory_order_acquire)) return;
    snapshot_done_.reset();
    for (auto& [start, pane] : panes_) {
      if (!pane->frozen) continue;
      for (auto& [key, acc] : pane->overlay) pane->map.insert_or_assign(key, std::move(acc));
      pane->overlay.clear();
      pane->frozen = false;
    }
  }
  Acc& acc_for_change(Pane& pane, const Key& key) {
    if (!pane.frozen) {
      auto it = pane.map.find(key);
      if (it == pane.map.end()) it = pane.map.emplace(key, adapter_.create()).first;
      return it->second;
    }
    if constexpr (std::is_copy_constructible_v<Acc>) {
      if (auto it = pane.overlay.find(key); it != pane.overlay.end()) return it->second;
      auto base = pane.map.find(key);
      return pane.overlay.emplace(key, base == pane.map.end() ? adapter_.create() : base->second)
          .first->second;
    } else {
      throw Error(ErrorCategory::kInternal, "a window pane of uncopyable accumulators was frozen");
    }
  }
  const Acc* find_acc(const Pane& pane, const Key& key) const {
    if (!pane.overlay.empty()) {
      if (auto it = pane.overlay.find(key); it != pane.overlay.end()) return &it->second;
    }
    auto it = pane.map.find(key);
    return it == pane.map.end() ? nullptr : &it->second;
  }
  // Every key's accumulator in the pane as the task sees it (overlay over map).
  template <class F>
  static void for_each_acc(const Pane& pane, F&& f) {
    if (pane.overlay.empty()) {
      for (const auto& [key, acc] : pane.map) f(key, acc);
      return;
    }
    for (const auto& [key, acc] : pane.map) {
      if (!pane.overlay.contains(key)) f(key, acc);
    }
    for (const auto& [key, acc] : pane.overlay) f(key, acc);
  }

  // Written into the snapshot's name -> bytes map: a pane's accumulators cannot be read as a
  // window's, nor the other way round. Panes write nothing, as before per-window accumulators.
  std::map<std::string, std::string> layout_marker() const {
    if (!per_window_) return {};
    return {{"window_layout", "per_window"}};
  }
  [[noreturn]] static void throw_layout_mismatch(const std::string& name) {
    throw Error(ErrorCategory::kInvalidJob,
                "window operator '" + name +
                    "' is restored from a snapshot taken with the other accumulator layout (per "
                    "pane vs. per window, WindowedStream::accumulate_per_window()): its state "
                    "cannot be read; restore with the layout the job had when it was taken");
  }

  void restore(const OperatorContext& c) {
    if constexpr (kSerializable<Key> && kSerializable<Acc>) {
      auto snapshots = restored_keyed_snapshots(c.restored_state, &watermark_);
      for (auto& snapshot : snapshots) {
        if (snapshot.broadcast != layout_marker()) throw_layout_mismatch(c.operator_name);
        read_key_grouped_items(snapshot.internal, c.key_group_range, [&](BufferReader& in) {
          const auto pane = deserialize<Timestamp>(in);
          Key key = deserialize<Key>(in);
          pane_at(pane).map.insert_or_assign(std::move(key), deserialize<Acc>(in));
        });
      }
      states_->restore(snapshots);
    }
  }

  // Event time (the watermark) or processing time (the wall clock) moved to `time`.
  void advance_to(Timestamp time) {
    if (time <= watermark_) return;
    thaw_if_done();
    const Timestamp previous = watermark_;
    watermark_ = time;
    fire_windows_between(previous, time);
    cleanup_up_to(time);
  }

  // The start of the earliest window containing the first pane: at most size - slide before the
  // latest window starting at or before that pane. Requires panes_ not empty.
  Timestamp first_window_with_data() const {
    const Timestamp first_pane = panes_.begin()->first;
    if (per_window_) return first_pane;  // panes are windows
    Timestamp start = window_start(first_pane, spec_.offset, spec_.slide);
    while (start - spec_.slide > first_pane - spec_.size) start -= spec_.slide;
    return start;
  }

  // One pending processing-time timer, for the first window end still to come.
  void schedule_processing_timer() {
    if (timer_pending_ || panes_.empty()) return;
    Timestamp due = first_window_with_data() + spec_.size - 1;
    while (due <= watermark_) due += spec_.slide;
    timer_pending_ = true;
    this->context().processing_time->register_timer(due, this);
  }

  // Records mostly arrive in time order, so consecutive records hit the same pane: remembering
  // it saves the ordered-map lookup.
  Pane& pane_at(Timestamp start) {
    if (cached_map_ == nullptr || start != cached_pane_) {
      std::shared_ptr<Pane>& pane = panes_[start];
      if (!pane) pane = std::make_shared<Pane>();
      cached_map_ = pane.get();
      cached_pane_ = start;
    }
    return *cached_map_;
  }

  void on_late_record(const T& value, Timestamp ts) {
    if (late_tag_) {
      side_outputs_.emit(*late_tag_, value, ts);
    } else {
      dropped_->increment();
    }
  }

  // Emits key's result for window w (merging its panes, unless per window): a late firing.
  void fire(const Key& key, const TimeWindow& w, Collector<Out>& out) {
    out.set_timestamp(w.max_timestamp());
    if (per_window_) {
      auto pane = panes_.find(w.start);
      const Acc* acc = pane == panes_.end() ? nullptr : find_acc(*pane->second, key);
      if (acc != nullptr) emit(key, w, *acc, out);
      return;
    }
    Acc merged = adapter_.create();
    bool any = false;
    for (auto pane = panes_.lower_bound(w.start); pane != panes_.end() && pane->first < w.end;
         ++pane) {
      const Acc* acc = find_acc(*pane->second, key);
      if (acc == nullptr) continue;
      adapter_.merge(*acc, merged);
      any = true;
    }
    if (!any) return;
    context_->set(key, w, watermark_);
    adapter_.emit(key, *context_, merged, out);
  }

  // Fires, in order of their end, every window with data whose max_timestamp() is in (from, to].
  void fire_windows_between(Timestamp from, Timestamp to) {
    if (panes_.empty()) return;
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    const Timestamp last_pane = panes_.rbegin()->first;
    Timestamp start = first_window_with_data();
    if (from != kMinWatermark) {
      // Skip windows that fired before: the first that can fire ends after `from`.
      Timestamp after = window_start(from - spec_.size + 1, spec_.offset, spec_.slide);
      if (after + spec_.size - 1 <= from) after += spec_.slide;
      start = std::max(start, after);
    }
    for (; start <= last_pane; start += spec_.slide) {
      const TimeWindow w{start, start + spec_.size};
      if (w.max_timestamp() <= from) continue;
      if (w.max_timestamp() > to) break;
      fire_all_keys(w, out);
    }
    out.flush();
    side_outputs_.flush();
  }

  void fire_all_keys(const TimeWindow& w, Collector<Out>& out) {
    out.set_timestamp(w.max_timestamp());
    if (pane_size_ == spec_.size) {  // one pane per window (or per-window): emit straight from it
      auto pane = panes_.find(w.start);
      if (pane == panes_.end()) return;
      for_each_acc(*pane->second, [&](const Key& key, const Acc& acc) { emit(key, w, acc, out); });
      return;
    }
    merged_.clear();
    for (auto pane = panes_.lower_bound(w.start); pane != panes_.end() && pane->first < w.end;
         ++pane) {
      for_each_acc(*pane->second, [&](const Key& key, const Acc& acc) {
        auto it = merged_.find(key);
        if (it == merged_.end()) it = merged_.emplace(key, adapter_.create()).first;
        adapter_.merge(acc, it->second);
      });
    }
    for (const auto& [key, acc] : merged_) emit(key, w, acc, out);
  }

  void emit(const Key& key, const TimeWindow& w, const Acc& acc, Collector<Out>& out) {
    context_->set(key, w, watermark_);
    adapter_.emit(key, *context_, acc, out);
  }

  // Drops panes whose every window is past max_timestamp() + lateness.
  void cleanup_up_to(Timestamp watermark) {
    while (!panes_.empty()) {
      auto first = panes_.begin();
      const Timestamp last_window_end =
          window_start(first->first, spec_.offset, spec_.slide) + spec_.size;
      if (last_window_end - 1 + lateness_ > watermark) break;
      if (first->second.get() == cached_map_) cached_map_ = nullptr;
      panes_.erase(first);
    }
    // Per-window state of windows past their lateness goes with them.
    if (states_->has_window_state()) {
      states_->window().remove_keys_if([&](const WindowedKey<Key>& k) {
        return k.window.max_timestamp() + lateness_ <= watermark;
      });
    }
  }

  KeySelector selector_;
  Adapter adapter_;
  TimeWindowSpec spec_;
  bool per_window_;      // panes_ holds windows (keyed by start), not panes
  Timestamp pane_size_;  // the window size when per_window_
  Timestamp lateness_;
  std::optional<OutputTag<T>> late_tag_;
  Timestamp watermark_ = kMinWatermark;  // event time, or processing time already handled
  bool timer_pending_ = false;
  // Pane start -> accumulator per key; shared with a snapshot's asynchronous part while frozen.
  std::map<Timestamp, std::shared_ptr<Pane>> panes_;
  Pane* cached_map_ = nullptr;
  // Set while the panes' frozen flags belong to a snapshot whose asynchronous part may still read
  // them; true once it no longer does.
  std::shared_ptr<std::atomic<bool>> snapshot_done_;
  Timestamp cached_pane_ = kMinWatermark;
  PaneMap merged_;  // scratch for merging a sliding window's panes
  SideOutputs side_outputs_;
  std::unique_ptr<WindowStateBackends<Key>> states_;
  std::unique_ptr<WindowContext<Key>> context_;
  Counter* dropped_ = nullptr;
};

}  // namespace sluice::operators
