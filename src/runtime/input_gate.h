// The input side of a task: all channels feeding it, polled round robin, with the watermark
// bookkeeping of Flink's StatusWatermarkValve:
// - the combined watermark is the minimum over channels that are active, not ended, and aligned
//   (caught up with the last combined watermark); it never goes backwards;
// - an idle channel does not hold the watermark back, and its watermarks are ignored;
// - a channel that becomes active again counts only once its watermark reaches the combined one;
// - when every open channel is idle the task's output becomes idle (after emitting the largest
//   channel watermark, if it advances); the first channel to become active makes it active again.
//
// Checkpoint barriers (Flink's barrier handlers):
// - exactly once (aligned): once a channel delivered the barrier of checkpoint n it is blocked —
//   not read, its data waits in the channel (and backpressures its producer) — until every open
//   channel delivered barrier n; then the gate reports the barrier once and unblocks them all. So
//   the task snapshots exactly the records before the barrier on every channel. A barrier of a
//   newer checkpoint during an alignment abandons the older checkpoint; older barriers are
//   ignored; a channel that ends counts as having delivered the barrier.
// - at least once (unaligned delivery): no channel is blocked; the barrier is reported when the
//   last open channel delivered it, so records after it on faster channels may be in the snapshot
//   and are replayed after a failure (duplicates, no loss).
//
// Threading: used only by the owning task's thread.
#pragma once

#include <deque>
#include <memory>
#include <vector>

#include "runtime/channel.h"

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
      kBarrier,  // every open channel delivered checkpoint `checkpoint_id`'s barrier
      kEndOfInput
    };
    Kind kind = Kind::kNothing;
    std::unique_ptr<Buffer> buffer;
    Channel* channel = nullptr;
    int input = 0;
    Timestamp watermark = kMinWatermark;
    bool idle = false;  // kWatermarkStatus
    LatencyMarker marker{};
    int64_t checkpoint_id = 0;  // kBarrier
    Timestamp checkpoint_time = 0;
  };

  enum class BarrierMode { kExactlyOnce, kAtLeastOnce };

  void add_channel(Channel* channel, int input);
  void set_barrier_mode(BarrierMode mode) { barrier_mode_ = mode; }
  // Checkpoints abandoned because a newer barrier overtook their alignment.
  int64_t abandoned_checkpoints() const { return abandoned_; }
  bool empty() const { return channels_.empty(); }
  // The next buffer, watermark advance or status change; kNothing when no channel has data right
  // now; kEndOfInput once, after every channel ended.
  Event next();

 private:
  struct ChannelState {
    Channel* channel;
    int input;
    Timestamp watermark = kMinWatermark;
    bool idle = false;
    bool aligned = true;
    bool ended = false;
    bool barrier_received = false;  // for the checkpoint being aligned
  };

  void on_watermark(ChannelState& channel, Timestamp watermark);
  void on_status(ChannelState& channel, bool idle);
  void on_end(ChannelState& channel);
  void advance_watermark();
  void all_idle_check();
  void push_watermark(Timestamp watermark);
  void push_status(bool idle);
  void on_barrier(ChannelState& channel, int64_t checkpoint_id, Timestamp time);
  void start_alignment(int64_t checkpoint_id, Timestamp time);
  void complete_alignment_if_done();
  bool blocked(const ChannelState& channel) const {
    return barrier_mode_ == BarrierMode::kExactlyOnce && channel.barrier_received;
  }

  std::vector<ChannelState> channels_;
  std::deque<Event> pending_;  // control events derived from one channel element
  size_t cursor_ = 0;
  size_t ended_ = 0;
  bool end_reported_ = false;
  bool output_idle_ = false;
  Timestamp last_watermark_ = kMinWatermark;
  BarrierMode barrier_mode_ = BarrierMode::kExactlyOnce;
  int64_t aligning_ = 0;  // the checkpoint whose barriers are arriving, 0 if none
  Timestamp aligning_time_ = 0;
  int64_t last_completed_ = 0;  // the last checkpoint reported, or abandoned
  int64_t abandoned_ = 0;
};

}  // namespace sluice::runtime
