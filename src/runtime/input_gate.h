// The input side of a task: all channels feeding it, polled round robin, with the watermark
// bookkeeping of Flink's StatusWatermarkValve:
// - the combined watermark is the minimum over channels that are active, not ended, and aligned
//   (caught up with the last combined watermark); it never goes backwards;
// - an idle channel does not hold the watermark back, and its watermarks are ignored;
// - a channel that becomes active again counts only once its watermark reaches the combined one;
// - when every open channel is idle the task's output becomes idle (after emitting the largest
//   channel watermark, if it advances); the first channel to become active makes it active again.
//
// Checkpoint barriers (Flink's barrier handlers). A channel's barrier takes effect once the
// `overtaken` data buffers that follow it (an unaligned barrier jumped ahead of them) are read.
// - exactly once, aligned: once a channel's barrier of checkpoint n took effect the channel is
//   blocked — not read, its data waits in the channel (and backpressures its producer) — until
//   it took effect on every open channel; then the gate reports the barrier once and unblocks
//   them all. So the task snapshots exactly the records before the barrier on every channel.
// - exactly once, unaligned: the first barrier of checkpoint n is reported at once (the task
//   snapshots and forwards it ahead of its queued output) and no channel is blocked; until the
//   barrier took effect on a channel, that channel's buffers are flagged `record`: they came
//   before the barrier, so the task keeps them as in-flight state as well as processing them.
//   kChannelStateComplete follows when every open channel's barrier took effect.
//   With an alignment timeout, a checkpoint starts aligned and turns unaligned once it is older
//   than the timeout (measured from its trigger time, as Flink's aligned-checkpoint-timeout);
//   barriers still queued behind data are then moved ahead of it. A savepoint's barrier
//   (`savepoint`) is always aligned.
// - at least once: no channel is blocked; the barrier is reported when the last open channel
//   delivered it, so records after it on faster channels may be in the snapshot and are replayed
//   after a failure (duplicates, no loss).
// A barrier of a newer checkpoint abandons an older one still in progress; older barriers are
// ignored; a channel that ends counts as having delivered the barrier.
//
// Threading: used only by the owning task's thread.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "sluice/core/time.h"
#include "sluice/runtime/channel_endpoints.h"

namespace sluice::runtime {

class InputGate {
 public:
  struct Event {
    enum class Kind {
      kNothing,
      kBuffer,
      kWatermark,
      kWatermarkStatus,
      kLatencyMarker,
      kBarrier,  // snapshot now for checkpoint `checkpoint_id` (`unaligned`: see above)
      kChannelStateComplete,  // every buffer before checkpoint `checkpoint_id` was recorded
      kEndOfInput
    };
    Kind kind = Kind::kNothing;
    std::unique_ptr<Buffer> buffer;
    ChannelReader* channel = nullptr;
    size_t channel_index = 0;  // in the order of add_channel
    int input = 0;
    bool record = false;     // kBuffer: in flight before an unaligned barrier
    bool unaligned = false;  // kBarrier
    bool savepoint = false;  // kBarrier
    Timestamp watermark = kMinWatermark;
    bool idle = false;  // kWatermarkStatus
    LatencyMarker marker{};
    int64_t checkpoint_id = 0;  // kBarrier
    Timestamp checkpoint_time = 0;
  };

  enum class BarrierMode { kExactlyOnce, kAtLeastOnce };

  void add_channel(ChannelReader* channel, int input);
  void set_barrier_mode(BarrierMode mode) { barrier_mode_ = mode; }
  // Exactly-once checkpoints may go unaligned, after `alignment_timeout_ms` (0: at once).
  void set_unaligned(bool enabled, int64_t alignment_timeout_ms) {
    unaligned_enabled_ = enabled;
    alignment_timeout_ms_ = alignment_timeout_ms;
  }
  // While an aligned checkpoint may still time out into an unaligned one: the wall-clock time at
  // which it does (the task asks to be woken then).
  std::optional<Timestamp> alignment_deadline() const;
  // Checkpoints abandoned because a newer barrier overtook their alignment.
  int64_t abandoned_checkpoints() const { return abandoned_; }
  bool empty() const { return channels_.empty(); }
  // The next buffer, watermark advance or status change; kNothing when no channel has data right
  // now; kEndOfInput once, after every channel ended. `barriers_only`: for a task whose outputs
  // are full, only barriers at the head of a channel are taken (never a buffer).
  Event next(bool barriers_only = false);

 private:
  struct ChannelState {
    ChannelReader* channel;
    int input;
    Timestamp watermark = kMinWatermark;
    bool idle = false;
    bool aligned = true;
    bool ended = false;
    bool barrier_received = false;  // for the checkpoint in progress
    uint32_t before_barrier = 0;    // buffers still to read before the received barrier
    bool barrier_effective() const { return ended || (barrier_received && before_barrier == 0); }
  };

  void on_watermark(ChannelState& channel, Timestamp watermark);
  void on_status(ChannelState& channel, bool idle);
  void on_end(ChannelState& channel);
  void advance_watermark();
  void all_idle_check();
  void push_watermark(Timestamp watermark);
  void push_status(bool idle);
  void on_barrier(ChannelState& channel, const StreamElement& barrier);
  void start_checkpoint(int64_t checkpoint_id, Timestamp time, bool savepoint);
  void take_unaligned_snapshot();
  void check_alignment_timeout();
  void on_buffer_read(ChannelState& channel, Event& event);
  void complete_checkpoint_if_done();
  bool may_go_unaligned() const {
    return unaligned_enabled_ && barrier_mode_ == BarrierMode::kExactlyOnce && !savepoint_;
  }
  bool blocked(const ChannelState& channel) const {
    return barrier_mode_ == BarrierMode::kExactlyOnce && checkpointing_ != 0 && !snapshot_taken_ &&
           channel.barrier_effective();
  }

  std::vector<ChannelState> channels_;
  std::deque<Event> pending_;  // control events derived from one channel element
  size_t cursor_ = 0;
  size_t ended_ = 0;
  bool end_reported_ = false;
  bool output_idle_ = false;
  Timestamp last_watermark_ = kMinWatermark;
  BarrierMode barrier_mode_ = BarrierMode::kExactlyOnce;
  bool unaligned_enabled_ = false;
  int64_t alignment_timeout_ms_ = 0;
  int64_t checkpointing_ = 0;  // the checkpoint whose barriers are arriving, 0 if none
  Timestamp checkpoint_time_ = 0;
  bool savepoint_ = false;
  bool snapshot_taken_ = false;  // kBarrier reported (unaligned: before every barrier arrived)
  int64_t last_completed_ = 0;   // the last checkpoint completed here, or abandoned
  int64_t abandoned_ = 0;
};

}  // namespace sluice::runtime
