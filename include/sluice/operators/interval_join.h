// IntervalJoinOperator: each left record a joins the right records b of its key with
// a.ts + lower <= b.ts <= a.ts + upper (KeyedStream::interval_join). Each side buffers its records
// per key and timestamp until the watermark passes the last time a record of the other side could
// still join them (a cleanup timer per buffered timestamp, in the shared timer queue). A record
// older than the current watermark is late: dropped (counted as "late_records_dropped") or sent to
// the side's late-data output. Results carry the larger of the two timestamps.
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "sluice/functions/join_function.h"
#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"
#include "sluice/state/keyed_snapshot.h"
#include "sluice/time/timer_queue.h"

namespace sluice::operators {

struct IntervalBounds {
  Timestamp lower = 0;
  Timestamp upper = 0;
  bool lower_exclusive = false;
  bool upper_exclusive = false;
};

template <class A, class B, class KeyA, class KeyB, class F>
class IntervalJoinOperator final : public TypedOperator<typename F::output_type> {
 public:
  using Out = typename F::output_type;
  using Key = std::decay_t<std::invoke_result_t<KeyA&, const A&>>;

  IntervalJoinOperator(KeyA key_a, KeyB key_b, F fn, IntervalBounds bounds,
                       std::optional<OutputTag<A>> late_left,
                       std::optional<OutputTag<B>> late_right)
      : key_a_(std::move(key_a)),
        key_b_(std::move(key_b)),
        fn_(std::move(fn)),
        lower_(bounds.lower + (bounds.lower_exclusive ? 1 : 0)),
        upper_(bounds.upper - (bounds.upper_exclusive ? 1 : 0)),
        late_left_(std::move(late_left)),
        late_right_(std::move(late_right)) {}

  void open() override {
    side_outputs_.bind(&this->context());
    join_context_ = std::make_unique<JoinContext>(side_outputs_);
    dropped_ = &this->context().metrics->user_counter("late_records_dropped");
    timers_.open(this->context().processing_time, this);
    restore(this->context());
    detail::open_function(fn_, this->context());
  }
  void close() override { detail::close_function(fn_); }

  // Both sides' buffers per key, by key group, and the watermark. (The cleanup timers follow from
  // the buffers.)
  StateSnapshot snapshot_state(const SnapshotRequest&) override {
    if constexpr (kCheckpointable) {
      KeyGroupedItems items;
      for (const auto& [key, buffers] : keys_) {
        BufferWriter out = items.add(key_group_for_key(key, this->context().max_parallelism));
        serialize(key, out);
        serialize(buffers.left, out);
        serialize(buffers.right, out);
      }
      return to_bytes(KeyedOperatorSnapshot{watermark_, {}, items.finish(), {}});
    } else {
      throw_not_checkpointable("the key or record types of interval join '" +
                               this->context().operator_name + "' have no sluice::Serializer");
    }
  }

  OperatorDescription describe() const override {
    auto d = OperatorDescription::of_two<A, B, Out>("interval_join");
    d.add("key", readable_type_name<Key>());
    d.add("bounds",
          "[" + std::to_string(lower_) + " ms, " + std::to_string(upper_) + " ms], inclusive");
    d.add("function", readable_type_name<F>());
    if (late_left_) d.side_outputs.emplace_back(late_left_->id(), readable_type_name<A>());
    if (late_right_) d.side_outputs.emplace_back(late_right_->id(), readable_type_name<B>());
    return d;
  }

  void process_batch(Buffer& batch, int input) override {
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    if (input == 0) {
      auto& in = static_cast<RecordBuffer<A>&>(batch);
      for (size_t i = 0; i < in.values.size(); ++i) {
        const A& a = in.values[i];
        const Timestamp ts = checked_timestamp(in.timestamp(i));
        if (is_late(ts)) {
          on_late(late_left_, a, ts);
          continue;
        }
        const Key key = std::invoke(key_a_, a);
        Buffers& buffers = keys_[key];
        add_to_buffer(buffers.left, key, kLeft, ts, a);
        // b joins a when a.ts + lower <= b.ts <= a.ts + upper.
        for (auto it = buffers.right.lower_bound(ts + lower_);
             it != buffers.right.end() && it->first <= ts + upper_; ++it) {
          for (const B& b : it->second) emit(a, ts, b, it->first, out);
        }
      }
    } else {
      auto& in = static_cast<RecordBuffer<B>&>(batch);
      for (size_t i = 0; i < in.values.size(); ++i) {
        const B& b = in.values[i];
        const Timestamp ts = checked_timestamp(in.timestamp(i));
        if (is_late(ts)) {
          on_late(late_right_, b, ts);
          continue;
        }
        const Key key = std::invoke(key_b_, b);
        Buffers& buffers = keys_[key];
        add_to_buffer(buffers.right, key, kRight, ts, b);
        for (auto it = buffers.left.lower_bound(ts - upper_);
             it != buffers.left.end() && it->first <= ts - lower_; ++it) {
          for (const A& a : it->second) emit(a, it->first, b, ts, out);
        }
      }
    }
    out.flush();
    side_outputs_.flush();
  }

  void process_watermark(Timestamp watermark) override {
    if (watermark <= watermark_) return;  // after a restore, until the input catches up
    watermark_ = watermark;
    // Records no later record of the other side can join any more leave their buffer.
    timers_.fire_due(TimeDomain::kEventTime, watermark, [this](Timestamp, const Cleanup& c) {
      auto it = keys_.find(c.key);
      if (it == keys_.end()) return true;
      if (c.side == kLeft) {
        it->second.left.erase(c.ts);
      } else {
        it->second.right.erase(c.ts);
      }
      if (it->second.left.empty() && it->second.right.empty()) keys_.erase(it);
      return true;
    });
    this->output().emit_watermark(watermark);
  }

 private:
  static constexpr int kLeft = 0;
  static constexpr int kRight = 1;
  struct Buffers {
    std::map<Timestamp, std::vector<A>> left;
    std::map<Timestamp, std::vector<B>> right;
  };

  static constexpr bool kCheckpointable =
      kSerializable<Key> && kSerializable<A> && kSerializable<B>;

  void restore(const OperatorContext& c) {
    if constexpr (kCheckpointable) {
      for (auto& snapshot : restored_keyed_snapshots(c.restored_state, &watermark_)) {
        read_key_grouped_items(snapshot.internal, c.key_group_range, [&](BufferReader& in) {
          Key key = deserialize<Key>(in);
          Buffers& buffers = keys_[key];
          buffers.left = deserialize<std::map<Timestamp, std::vector<A>>>(in);
          buffers.right = deserialize<std::map<Timestamp, std::vector<B>>>(in);
          for (const auto& [ts, values] : buffers.left) add_cleanup(key, kLeft, ts);
          for (const auto& [ts, values] : buffers.right) add_cleanup(key, kRight, ts);
        });
      }
    }
  }
  // The cleanup of one buffered timestamp of one side of a key: when the watermark passes the
  // last time a record of the other side could still join it.
  struct Cleanup {
    Key key;
    int side;
    Timestamp ts;
    bool operator==(const Cleanup&) const = default;
  };
  void add_cleanup(const Key& key, int side, Timestamp ts) {
    const Timestamp time =
        side == kLeft ? (upper_ > 0 ? ts + upper_ : ts) : (-lower_ > 0 ? ts - lower_ : ts);
    timers_.add(TimeDomain::kEventTime, time, Cleanup{key, side, ts},
                [](TimeDomain, Timestamp, const Cleanup&) { return true; });  // none is deleted
  }
  // One cleanup per buffered timestamp, registered with its first record.
  template <class X>
  void add_to_buffer(std::map<Timestamp, std::vector<X>>& buffer, const Key& key, int side,
                     Timestamp ts, const X& value) {
    std::vector<X>& records = buffer[ts];
    if (records.empty()) add_cleanup(key, side, ts);
    records.push_back(value);
  }

  static Timestamp checked_timestamp(Timestamp ts) {
    if (ts == kNoTimestamp) {
      throw Error(ErrorCategory::kInvalidJob,
                  "an interval join received a record without a timestamp: assign timestamps with "
                  "a WatermarkStrategy");
    }
    return ts;
  }
  bool is_late(Timestamp ts) const { return watermark_ != kMinWatermark && ts < watermark_; }

  template <class X>
  void on_late(const std::optional<OutputTag<X>>& tag, const X& value, Timestamp ts) {
    if (tag) {
      side_outputs_.emit(*tag, value, ts);
    } else {
      dropped_->increment();
    }
  }

  void emit(const A& a, Timestamp ta, const B& b, Timestamp tb, Collector<Out>& out) {
    join_context_->set(ta, tb);
    out.set_timestamp(std::max(ta, tb));
    fn_.process_element(a, b, *join_context_, out);
  }

  KeyA key_a_;
  KeyB key_b_;
  F fn_;
  Timestamp lower_;  // inclusive
  Timestamp upper_;  // inclusive
  std::optional<OutputTag<A>> late_left_;
  std::optional<OutputTag<B>> late_right_;
  absl::flat_hash_map<Key, Buffers> keys_;
  TimerQueues<Cleanup> timers_;
  Timestamp watermark_ = kMinWatermark;
  SideOutputs side_outputs_;
  std::unique_ptr<JoinContext> join_context_;
  Counter* dropped_ = nullptr;
};

}  // namespace sluice::operators
