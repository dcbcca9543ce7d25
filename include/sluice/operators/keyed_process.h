// KeyedProcessOperator: a KeyedProcessFunction per record with keyed state and timers
// (KeyedStream::process), and the keyed side of the broadcast state pattern. Its timers are kept
// per key group in a KeyedTable (each key's event- and processing-time timer times), which a
// snapshot freezes and serializes asynchronously like the heap backend's state, and are ordered by
// the shared timer queue (sluice/time/timer_queue.h).
//
// Threading: as every Operator, owned and called by one task thread; a snapshot's asynchronous
// part reads the frozen timer table on another.
#pragma once

#include <absl/container/inlined_vector.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <type_traits>
#include <vector>

#include "sluice/functions/keyed_process_function.h"
#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"
#include "sluice/state/keyed_table.h"
#include "sluice/time/timer_queue.h"

namespace sluice::operators {

// Also the keyed side of the broadcast state pattern when `BroadcastT` is not void: input 1
// carries the broadcast records.
template <class T, class KeySelector, class F, class BroadcastT = void>
class KeyedProcessOperator final : public TypedOperator<typename F::output_type>,
                                   private TimerService {
 public:
  using Key = std::decay_t<std::invoke_result_t<KeySelector&, const T&>>;
  using Out = typename F::output_type;

  KeyedProcessOperator(KeySelector selector, F fn)
      : selector_(std::move(selector)), fn_(std::move(fn)) {
    guard_.settle = [this](size_t local) {
      guard_.serialize_or_wait(local, [this](size_t i) { return serialize_timer_group(i); });
    };
  }
  ~KeyedProcessOperator() override {
    if (guard_.snapshot) guard_.snapshot->cancel();  // a pending asynchronous part reads *this
  }
  KeyedProcessOperator(const KeyedProcessOperator&) = delete;
  KeyedProcessOperator& operator=(const KeyedProcessOperator&) = delete;

  void open() override {
    OperatorContext& c = this->context();
    backend_ = detail::make_operator_backend<Key>(c, "keyed");
    range_ = c.key_group_range;
    max_parallelism_ = c.max_parallelism;
    timer_table_ = std::make_unique<TimerTable>(range_, StateTtlConfig{}, nullptr, &guard_);
    timers_.open(c.processing_time, this);
    restore(c);
    side_outputs_.bind(&c);
    TimerService& timers = *this;  // a private base: convert here, where it is accessible
    context_ =
        std::make_unique<OnTimerContext<Key>>(side_outputs_, timers, backend_->current_key());
    if constexpr (!std::is_void_v<BroadcastT>) {
      context_->set_broadcast_states(&broadcast_states_);
      broadcast_context_ = std::make_unique<BroadcastContext<Key>>(
          side_outputs_, broadcast_states_, backend_.get(), c.processing_time);
    }
    if constexpr (requires(F & f, KeyedRuntimeContext<Key> & r) { f.open(r); }) {
      KeyedRuntimeContext<Key> runtime(c, *backend_);
      fn_.open(runtime);
    } else {
      detail::open_function(fn_, c);
    }
    // A background sweep of expired TTL state, every few seconds of processing time.
    if (backend_->has_ttl())
      c.processing_time->register_timer(c.processing_time->now() + kTtlSweepMs, &ttl_sweeper_);
    timers_.schedule_wakeup();  // restored processing-time timers
  }
  void close() override { detail::close_function(fn_); }

  OperatorDescription describe() const override {
    OperatorDescription d;
    if constexpr (std::is_void_v<BroadcastT>) {
      d = OperatorDescription::of<T, Out>("keyed_process");
    } else {
      d = OperatorDescription::of_two<T, BroadcastT, Out>("keyed_broadcast_process");
    }
    d.add("key", readable_type_name<Key>());
    d.add("function", readable_type_name<F>());
    return d;
  }
  void process_batch(Buffer& batch, int input) override {
    if constexpr (!std::is_void_v<BroadcastT>) {
      if (input == 1) return process_broadcast(static_cast<RecordBuffer<BroadcastT>&>(batch));
    }
    auto& in = static_cast<RecordBuffer<T>&>(batch);
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    for (size_t i = 0; i < in.values.size(); ++i) {
      const Timestamp ts = in.timestamp(i);
      backend_->set_current_key(std::invoke(selector_, in.values[i]));
      context_->set_timestamp(ts);
      out.set_timestamp(ts);
      fn_.process_element(in.values[i], *context_, out);
    }
    out.flush();
    side_outputs_.flush();
  }

  void process_watermark(Timestamp watermark) override {
    if (watermark <= watermark_) return;  // after a restore, until the input catches up
    watermark_ = watermark;
    fire(TimeDomain::kEventTime, watermark);
    this->output().emit_watermark(watermark);
  }

  // Keyed state and timers by key group, the watermark, and the broadcast state. The timers are
  // serialized by the asynchronous part, as the heap backend's state (see timer_table_).
  StateSnapshot snapshot_state(const SnapshotRequest& request) override {
    if constexpr (kSerializable<Key>) {
      guard_.finish_previous([this](size_t i) { return serialize_timer_group(i); });
      timer_table_->merge_overlays();
      return frozen_keyed_operator_snapshot(
          guard_, range_, [this](size_t i) { return serialize_timer_group(i); },
          KeyedOperatorSnapshot{watermark_, {}, {}, broadcast_states_.snapshot()},
          {backend_->snapshot_async(request.savepoint)},
          "the operator '" + this->context().operator_name +
              "' closed before its snapshot was written");
    } else {
      throw_not_checkpointable("the key type of '" + this->context().operator_name +
                               "' has no sluice::Serializer");
    }
  }

  void on_processing_time(Timestamp) override {
    timers_.on_wakeup();
    fire(TimeDomain::kProcessingTime, timers_.now());
    timers_.schedule_wakeup();
  }

 private:
  static constexpr Timestamp kTtlSweepMs = 5'000;
  // One key's timers, as snapshots store them.
  struct KeyTimers {
    absl::InlinedVector<Timestamp, 2> event;
    absl::InlinedVector<Timestamp, 2> processing;
    auto& of(TimeDomain domain) { return domain == TimeDomain::kEventTime ? event : processing; }
    const auto& of(TimeDomain domain) const {
      return domain == TimeDomain::kEventTime ? event : processing;
    }
    bool has(TimeDomain domain, Timestamp time) const {
      return std::find(of(domain).begin(), of(domain).end(), time) != of(domain).end();
    }
  };
  using TimerTable = detail::KeyedTable<Key, KeyTimers>;

  // A timer for the current key (nothing if it has one at that time already).
  void add_timer(TimeDomain domain, Timestamp time) {
    const Key& key = backend_->current_key();
    const int key_group = backend_->current_key_group();
    const auto* slot = timer_table_->find(key, key_group);
    if (slot != nullptr && slot->value.has(domain, time)) return;
    static const std::function<KeyTimers()> kNone = [] { return KeyTimers{}; };
    timer_table_->find_or_create(key, key_group, kNone).value.of(domain).push_back(time);
    timers_.add(domain, time, key,
                [this](TimeDomain d, Timestamp t, const Key& k) { return timer_is_live(d, t, k); });
  }
  void remove_timer(TimeDomain domain, Timestamp time) {
    if (forget_timer(domain, time)) timers_.remove(domain, time, backend_->current_key());
  }
  // Whether the table still lists the timer. Reads without merging overlays (peek): the
  // compaction that asks runs while the caller holds a slot of the table.
  bool timer_is_live(TimeDomain domain, Timestamp time, const Key& key) const {
    const auto* slot = timer_table_->peek(key, key_group_for_key(key, max_parallelism_));
    return slot != nullptr && slot->value.has(domain, time);
  }
  // Removes the current key's timer from the table; false if it had none (deleted before).
  bool forget_timer(TimeDomain domain, Timestamp time) {
    const Key& key = backend_->current_key();
    const int key_group = backend_->current_key_group();
    const auto* live = timer_table_->find(key, key_group);
    if (live == nullptr || !live->value.has(domain, time)) return false;
    auto& slot = *timer_table_->find_for_change(key, key_group);
    auto& times = slot.value.of(domain);
    times.erase(std::find(times.begin(), times.end(), time));
    if (slot.value.event.empty() && slot.value.processing.empty())
      timer_table_->erase(key, key_group);
    return true;
  }
  // One key group of the timer table, in KeyGroupedItems' format (empty if it has no timer). By
  // the asynchronous part, or by the task before it changes the group as a whole.
  std::string serialize_timer_group(size_t local) const {
    if constexpr (kSerializable<Key>) {
      const auto& group = timer_table_->group(range_.start + static_cast<int>(local));
      if (group.empty()) return {};
      uint32_t count = 0;
      for (const auto& [key, slot] : group)
        count += static_cast<uint32_t>(slot.value.event.size() + slot.value.processing.size());
      std::string bytes;
      BufferWriter out(bytes);
      out.write_fixed(count);
      for (const auto& [key, slot] : group) {
        for (auto domain : {TimeDomain::kEventTime, TimeDomain::kProcessingTime}) {
          for (Timestamp time : slot.value.of(domain)) {
            serialize(static_cast<uint8_t>(domain), out);
            serialize(time, out);
            serialize(key, out);
          }
        }
      }
      out.finish();
      return bytes;
    } else {
      return {};
    }
  }

  void restore(const OperatorContext& c) {
    if constexpr (kSerializable<Key>) {
      std::vector<KeyedBackendSnapshot> keyed;
      for (auto& snapshot : restored_keyed_snapshots(c.restored_state, &watermark_)) {
        keyed.push_back(std::move(snapshot.backends.at(0)));
        read_key_grouped_items(snapshot.internal, c.key_group_range, [&](BufferReader& in) {
          const auto domain = static_cast<TimeDomain>(deserialize<uint8_t>(in));
          const auto time = deserialize<Timestamp>(in);
          backend_->set_current_key(deserialize<Key>(in));
          add_timer(domain, time);
        });
        if (!snapshot.broadcast.empty()) broadcast_states_.restore(std::move(snapshot.broadcast));
      }
      if (!keyed.empty()) backend_->restore(std::move(keyed));
    }
  }

  template <class B>
  void process_broadcast(RecordBuffer<B>& in) {
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    for (size_t i = 0; i < in.values.size(); ++i) {
      const Timestamp ts = in.timestamp(i);
      broadcast_context_->set(ts, watermark_);
      out.set_timestamp(ts);
      fn_.process_broadcast_element(in.values[i], *broadcast_context_, out);
    }
    out.flush();
    side_outputs_.flush();
  }

  // TimerService, for the current key.
  Timestamp current_watermark() const override { return watermark_; }
  Timestamp current_processing_time() const override { return timers_.now(); }
  void register_event_time_timer(Timestamp time) override {
    add_timer(TimeDomain::kEventTime, time);
  }
  void delete_event_time_timer(Timestamp time) override {
    remove_timer(TimeDomain::kEventTime, time);
  }
  void register_processing_time_timer(Timestamp time) override {
    add_timer(TimeDomain::kProcessingTime, time);
  }
  void delete_processing_time_timer(Timestamp time) override {
    remove_timer(TimeDomain::kProcessingTime, time);
  }

  // Fires the timers of `domain` due at `until` in time order; a timer registered while firing
  // fires too if due.
  void fire(TimeDomain domain, Timestamp until) {
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    context_->set_domain(domain);
    const bool event_time = domain == TimeDomain::kEventTime;
    timers_.fire_due(domain, until, [&](Timestamp time, const Key& key) {
      backend_->set_current_key(key);
      if (!forget_timer(domain, time)) return false;  // deleted
      context_->set_timestamp(event_time ? time : kNoTimestamp);
      out.set_timestamp(event_time ? time : kNoTimestamp);
      fn_.on_timer(time, *context_, out);
      return true;
    });
    out.flush();
    side_outputs_.flush();
  }

  struct TtlSweeper final : TimerTarget {
    KeyedProcessOperator* op;
    explicit TtlSweeper(KeyedProcessOperator* o) : op(o) {}
    void on_processing_time(Timestamp time) override {
      op->backend_->remove_expired(op->timers_.now());
      op->context().processing_time->register_timer(time + kTtlSweepMs, this);
    }
  };

  KeySelector selector_;
  F fn_;
  std::unique_ptr<KeyedStateBackend<Key>> backend_;
  SideOutputs side_outputs_;
  std::unique_ptr<OnTimerContext<Key>> context_;
  BroadcastStates broadcast_states_;
  std::unique_ptr<BroadcastContext<Key>> broadcast_context_;
  TimerQueues<Key> timers_;
  // The live timers per key group, frozen by a snapshot until its asynchronous part serialized
  // them (the task's changes meanwhile go to overlays): a synchronous copy of a million timers
  // took the task tens of milliseconds.
  std::unique_ptr<TimerTable> timer_table_;
  detail::WriteGuard guard_;
  KeyGroupRange range_;
  int max_parallelism_ = kDefaultMaxParallelism;
  Timestamp watermark_ = kMinWatermark;
  TtlSweeper ttl_sweeper_{this};
};

}  // namespace sluice::operators
