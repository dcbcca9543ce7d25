// KeyedProcessFunction: per-record processing on a keyed stream with keyed state and timers
// (Flink's KeyedProcessFunction and its TimerService).
//
//   struct Watchdog : sluice::KeyedProcessFunction<int64_t, Reading, Alert> {
//     sluice::ValueState<int64_t>* last = nullptr;
//     void open(sluice::KeyedRuntimeContext<int64_t>& ctx) {
//       last = &ctx.get_state(sluice::ValueStateDescriptor<int64_t>{"last"});
//     }
//     void process_element(const Reading& r, Context& ctx, sluice::Collector<Alert>& out) override
//     {
//       last->update(r.ts);
//       ctx.timer_service().register_event_time_timer(r.ts + 60'000);
//     }
//     void on_timer(sluice::Timestamp t, OnTimerContext& ctx, sluice::Collector<Alert>& out)
//     override {...}
//   };
//   keyed.process(Watchdog{});
//
// Timers are per key and timestamp: registering the same (key, time) twice gives one timer;
// deleting removes it. Event-time timers fire, in time order (those of one time in no particular
// order, as in Flink), when the watermark reaches them
// (all remaining ones at the end of a bounded input); processing-time timers when the wall
// clock does. In on_timer the current key is the timer's key and outputs carry the timer's time.
//
// Threading: one operator instance per subtask, one task thread.
#pragma once

#include <absl/container/btree_map.h>
#include <absl/container/inlined_vector.h>

#include <algorithm>
#include <vector>

#include "sluice/api/functions.h"
#include "sluice/api/operators.h"
#include "sluice/state/broadcast_state.h"
#include "sluice/state/keyed_state.h"

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

// What a keyed function's open() receives: the runtime context plus keyed state.
template <class K>
class KeyedRuntimeContext : public RuntimeContext, public KeyedStateStore<K> {
 public:
  KeyedRuntimeContext(const OperatorContext& context, KeyedStateBackend<K>& backend)
      : RuntimeContext(context), KeyedStateStore<K>(backend) {}
};

template <class K>
class KeyedContext {
 public:
  KeyedContext(SideOutputs& side_outputs, TimerService& timers, const K& key)
      : side_outputs_(side_outputs), timers_(timers), key_(key) {}
  Timestamp timestamp() const { return timestamp_; }
  const K& current_key() const { return key_; }
  TimerService& timer_service() { return timers_; }
  template <class X>
  void output(const OutputTag<X>& tag, const X& value) {
    side_outputs_.emit(tag, value, timestamp_);
  }
  // With a broadcast input (keyed.connect(rules.broadcast(...))): a read-only view of a
  // broadcast state.
  template <class BK, class BV>
  const BroadcastState<BK, BV>& broadcast_state(const MapStateDescriptor<BK, BV>& d) const {
    if (broadcast_ == nullptr) {
      throw Error(ErrorCategory::kInvalidJob,
                  "broadcast state '" + d.name + "' read by an operator without a broadcast input");
    }
    return broadcast_->get(d);
  }
  void set_timestamp(Timestamp ts) { timestamp_ = ts; }
  void set_broadcast_states(BroadcastStates* states) { broadcast_ = states; }

 private:
  SideOutputs& side_outputs_;
  TimerService& timers_;
  const K& key_;
  Timestamp timestamp_ = kNoTimestamp;
  BroadcastStates* broadcast_ = nullptr;
};

template <class K>
class OnTimerContext : public KeyedContext<K> {
 public:
  using KeyedContext<K>::KeyedContext;
  TimeDomain time_domain() const { return domain_; }
  void set_domain(TimeDomain domain) { domain_ = domain; }

 private:
  TimeDomain domain_ = TimeDomain::kEventTime;
};

template <class K, class In, class Out>
class KeyedProcessFunction {
 public:
  using key_type = K;
  using input_type = In;
  using output_type = Out;
  using Context = KeyedContext<K>;
  using OnTimerContext = sluice::OnTimerContext<K>;
  virtual ~KeyedProcessFunction() = default;
  virtual void process_element(const In& value, Context& ctx, Collector<Out>& out) = 0;
  virtual void on_timer(Timestamp /*time*/, OnTimerContext& /*ctx*/, Collector<Out>& /*out*/) {}
};

// What process_broadcast_element sees: read-write broadcast state, and every key's keyed state.
template <class K>
class BroadcastContext {
 public:
  BroadcastContext(SideOutputs& side_outputs, BroadcastStates& states,
                   KeyedStateBackend<K>* backend)
      : side_outputs_(side_outputs), states_(states), backend_(backend) {}
  Timestamp timestamp() const { return timestamp_; }
  Timestamp current_watermark() const { return watermark_; }
  Timestamp current_processing_time() const { return wall_clock_millis(); }
  template <class BK, class BV>
  BroadcastState<BK, BV>& broadcast_state(const MapStateDescriptor<BK, BV>& d) {
    return states_.get(d);
  }
  template <class X>
  void output(const OutputTag<X>& tag, const X& value) {
    side_outputs_.emit(tag, value, timestamp_);
  }
  // fn(const K& key, State& state) for every key of this subtask that has the state `d`
  // describes (a ValueStateDescriptor, ListStateDescriptor or MapStateDescriptor).
  template <class D, class F>
  void apply_to_keyed_state(const D& d, F&& fn) {
    if (backend_ == nullptr) {
      throw Error(ErrorCategory::kInvalidJob,
                  "apply_to_keyed_state needs a keyed main input (keyed.connect(broadcast))");
    }
    backend_->apply_to_all_keys(d, std::forward<F>(fn));
  }
  void set(Timestamp timestamp, Timestamp watermark) {
    timestamp_ = timestamp;
    watermark_ = watermark;
  }

 private:
  SideOutputs& side_outputs_;
  BroadcastStates& states_;
  KeyedStateBackend<K>* backend_;
  Timestamp timestamp_ = kNoTimestamp;
  Timestamp watermark_ = kMinWatermark;
};

// The keyed side of the broadcast state pattern: process_element and on_timer as in a
// KeyedProcessFunction (their context offers read-only broadcast_state()), plus
// process_broadcast_element for every record of the broadcast input.
template <class K, class In, class B, class Out>
class KeyedBroadcastProcessFunction {
 public:
  using key_type = K;
  using output_type = Out;
  using Context = KeyedContext<K>;
  using OnTimerContext = sluice::OnTimerContext<K>;
  using BroadcastContext = sluice::BroadcastContext<K>;
  virtual ~KeyedBroadcastProcessFunction() = default;
  virtual void process_element(const In& value, Context& ctx, Collector<Out>& out) = 0;
  virtual void process_broadcast_element(const B& value, BroadcastContext& ctx,
                                         Collector<Out>& out) = 0;
  virtual void on_timer(Timestamp /*time*/, OnTimerContext& /*ctx*/, Collector<Out>& /*out*/) {}
};

// The non-keyed broadcast state pattern (Flink's BroadcastProcessFunction): process_element sees a
// read-only view of the broadcast states, process_broadcast_element may change them.
class BroadcastProcessContext : public ProcessContext {
 public:
  BroadcastProcessContext(SideOutputs& side_outputs, const OperatorContext& operator_context,
                          BroadcastStates& states)
      : ProcessContext(side_outputs, operator_context), states_(states) {}

 protected:
  BroadcastStates& states_;
};
class ReadOnlyBroadcastContext : public BroadcastProcessContext {
 public:
  using BroadcastProcessContext::BroadcastProcessContext;
  template <class BK, class BV>
  const BroadcastState<BK, BV>& broadcast_state(const MapStateDescriptor<BK, BV>& d) const {
    return states_.get(d);
  }
};
class WritableBroadcastContext : public BroadcastProcessContext {
 public:
  using BroadcastProcessContext::BroadcastProcessContext;
  template <class BK, class BV>
  BroadcastState<BK, BV>& broadcast_state(const MapStateDescriptor<BK, BV>& d) {
    return states_.get(d);
  }
};

template <class In, class B, class Out>
class BroadcastProcessFunction {
 public:
  using output_type = Out;
  using ReadOnlyContext = ReadOnlyBroadcastContext;
  using Context = WritableBroadcastContext;
  virtual ~BroadcastProcessFunction() = default;
  virtual void process_element(const In& value, ReadOnlyContext& ctx, Collector<Out>& out) = 0;
  virtual void process_broadcast_element(const B& value, Context& ctx, Collector<Out>& out) = 0;
};

namespace detail {

template <class In, class B, class F>
class BroadcastProcessOperator final : public TypedOperator<typename F::output_type> {
 public:
  using Out = typename F::output_type;
  explicit BroadcastProcessOperator(F fn) : fn_(std::move(fn)) {}
  void open() override {
    side_outputs_.bind(&this->context());
    read_only_ =
        std::make_unique<ReadOnlyBroadcastContext>(side_outputs_, this->context(), states_);
    writable_ = std::make_unique<WritableBroadcastContext>(side_outputs_, this->context(), states_);
    // Every instance held the same broadcast state: any one restored copy will do.
    const auto& restored = this->context().restored_state;
    if (!restored.empty())
      states_.restore(from_bytes<std::map<std::string, std::string>>(restored[0]));
    open_function(fn_, this->context());
  }
  StateSnapshot snapshot_state(const SnapshotRequest&) override {
    return to_bytes(states_.snapshot());
  }
  void close() override { close_function(fn_); }
  void process_batch(Buffer& batch, int input) override {
    if (input == 0) {
      for_each(static_cast<RecordBuffer<In>&>(batch), *read_only_,
               [this](const In& v, auto& ctx, auto& out) { fn_.process_element(v, ctx, out); });
    } else {
      for_each(
          static_cast<RecordBuffer<B>&>(batch), *writable_,
          [this](const B& v, auto& ctx, auto& out) { fn_.process_broadcast_element(v, ctx, out); });
    }
  }
  void process_watermark(Timestamp watermark) override {
    read_only_->set_watermark(watermark);
    writable_->set_watermark(watermark);
    this->output().emit_watermark(watermark);
  }

 private:
  template <class X, class Context, class Call>
  void for_each(RecordBuffer<X>& in, Context& ctx, Call&& call) {
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    for (size_t i = 0; i < in.values.size(); ++i) {
      ctx.set_timestamp(in.timestamp(i));
      out.set_timestamp(in.timestamp(i));
      call(in.values[i], ctx, out);
    }
    out.flush();
    side_outputs_.flush();
  }

  F fn_;
  BroadcastStates states_;
  SideOutputs side_outputs_;
  std::unique_ptr<ReadOnlyBroadcastContext> read_only_;
  std::unique_ptr<WritableBroadcastContext> writable_;
};

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
    backend_ = make_operator_backend<Key>(c, "keyed");
    range_ = c.key_group_range;
    timer_table_ = std::make_unique<TimerTable>(range_, StateTtlConfig{}, nullptr, &guard_);
    restore(c);
    side_outputs_.bind(&c);
    TimerService& timers = *this;  // a private base: convert here, where it is accessible
    context_ =
        std::make_unique<OnTimerContext<Key>>(side_outputs_, timers, backend_->current_key());
    if constexpr (!std::is_void_v<BroadcastT>) {
      context_->set_broadcast_states(&broadcast_states_);
      broadcast_context_ =
          std::make_unique<BroadcastContext<Key>>(side_outputs_, broadcast_states_, backend_.get());
    }
    if constexpr (requires(F & f, KeyedRuntimeContext<Key> & r) { f.open(r); }) {
      KeyedRuntimeContext<Key> runtime(c, *backend_);
      fn_.open(runtime);
    } else {
      open_function(fn_, c);
    }
    // A background sweep of expired TTL state, every few seconds of processing time.
    if (backend_->has_ttl())
      c.processing_time->register_timer(c.processing_time->now() + kTtlSweepMs, &ttl_sweeper_);
    schedule_processing_wakeup();  // restored processing-time timers
  }
  void close() override { close_function(fn_); }

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
    fire(event_timers_, watermark, TimeDomain::kEventTime);
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
    fire(processing_timers_, wall_clock_millis(), TimeDomain::kProcessingTime);
    schedule_processing_wakeup();
  }

 private:
  static constexpr Timestamp kTtlSweepMs = 5'000;
  // Timers by time: the keys with a timer at each timestamp (timers cluster on few timestamps,
  // so a registration is a table lookup and an append, not an ordered-set insertion). The table
  // decides which are live: a deleted timer leaves its bucket only if the bucket is small, and is
  // skipped when it comes due.
  using TimerQueue = absl::btree_map<Timestamp, std::vector<Key>>;
  static constexpr size_t kSmallBucket = 64;
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
  using TimerTable = KeyedTable<Key, KeyTimers>;

  TimerQueue& queue_of(TimeDomain domain) {
    return domain == TimeDomain::kEventTime ? event_timers_ : processing_timers_;
  }
  // A timer for the current key (nothing if it has one at that time already).
  void add_timer(TimeDomain domain, Timestamp time) {
    const Key& key = backend_->current_key();
    const int key_group = backend_->current_key_group();
    const auto* slot = timer_table_->find(key, key_group);
    if (slot != nullptr && slot->value.has(domain, time)) return;
    static const std::function<KeyTimers()> kNone = [] { return KeyTimers{}; };
    timer_table_->find_or_create(key, key_group, kNone).value.of(domain).push_back(time);
    queue_of(domain)[time].push_back(key);
  }
  void remove_timer(TimeDomain domain, Timestamp time) {
    if (!forget_timer(domain, time)) return;
    TimerQueue& queue = queue_of(domain);
    auto bucket = queue.find(time);
    if (bucket == queue.end() || bucket->second.size() > kSmallBucket) return;
    std::vector<Key>& keys = bucket->second;
    // From the back: the latest registrations are there.
    auto it = std::find(keys.rbegin(), keys.rend(), backend_->current_key());
    if (it != keys.rend()) keys.erase(std::next(it).base());
    if (keys.empty()) queue.erase(bucket);
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
  Timestamp current_processing_time() const override { return wall_clock_millis(); }
  void register_event_time_timer(Timestamp time) override {
    add_timer(TimeDomain::kEventTime, time);
  }
  void delete_event_time_timer(Timestamp time) override {
    remove_timer(TimeDomain::kEventTime, time);
  }
  void register_processing_time_timer(Timestamp time) override {
    add_timer(TimeDomain::kProcessingTime, time);
    schedule_processing_wakeup();
  }
  void delete_processing_time_timer(Timestamp time) override {
    remove_timer(TimeDomain::kProcessingTime, time);
  }

  void schedule_processing_wakeup() {
    if (processing_timers_.empty()) return;  // (the earliest bucket may hold only deleted ones)
    const Timestamp earliest = processing_timers_.begin()->first;
    if (earliest >= wakeup_at_ && wakeup_at_ > wall_clock_millis()) return;  // one already pending
    wakeup_at_ = earliest;
    this->context().processing_time->register_timer(earliest, this);
  }

  // Fires timers due at `now` in time order; a timer registered while firing fires too if due.
  void fire(TimerQueue& timers, Timestamp now, TimeDomain domain) {
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    context_->set_domain(domain);
    const bool event_time = domain == TimeDomain::kEventTime;
    while (!timers.empty() && timers.begin()->first <= now) {
      const Timestamp time = timers.begin()->first;
      std::vector<Key> keys = std::move(timers.begin()->second);
      timers.erase(timers.begin());
      context_->set_timestamp(event_time ? time : kNoTimestamp);
      out.set_timestamp(event_time ? time : kNoTimestamp);
      for (const Key& key : keys) {
        backend_->set_current_key(key);
        if (forget_timer(domain, time)) fn_.on_timer(time, *context_, out);
      }
    }
    out.flush();
    side_outputs_.flush();
  }

  struct TtlSweeper final : TimerTarget {
    KeyedProcessOperator* op;
    explicit TtlSweeper(KeyedProcessOperator* o) : op(o) {}
    void on_processing_time(Timestamp time) override {
      op->backend_->remove_expired(wall_clock_millis());
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
  TimerQueue event_timers_;
  TimerQueue processing_timers_;
  // The live timers per key group, frozen by a snapshot until its asynchronous part serialized
  // them (the task's changes meanwhile go to overlays): a synchronous copy of a million timers
  // took the task tens of milliseconds.
  std::unique_ptr<TimerTable> timer_table_;
  WriteGuard guard_;
  KeyGroupRange range_;
  Timestamp watermark_ = kMinWatermark;
  Timestamp wakeup_at_ = kMinWatermark;
  TtlSweeper ttl_sweeper_{this};
};

}  // namespace detail
}  // namespace sluice
