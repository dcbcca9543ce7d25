// The input side of a task: all channels feeding it, polled round robin, with the watermark
// bookkeeping of Flink's StatusWatermarkValve:
// - the combined watermark is the minimum over channels that are active, not ended, and aligned
//   (caught up with the last combined watermark); it never goes backwards;
// - an idle channel does not hold the watermark back, and its watermarks are ignored;
// - a channel that becomes active again counts only once its watermark reaches the combined one;
// - when every open channel is idle the task's output becomes idle (after emitting the largest
//   channel watermark, if it advances); the first channel to become active makes it active again.
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
      kEndOfInput
    };
    Kind kind = Kind::kNothing;
    std::unique_ptr<Buffer> buffer;
    Channel* channel = nullptr;
    int input = 0;
    Timestamp watermark = kMinWatermark;
    bool idle = false;  // kWatermarkStatus
    LatencyMarker marker{};
  };

  void add_channel(Channel* channel, int input);
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
  };

  void on_watermark(ChannelState& channel, Timestamp watermark);
  void on_status(ChannelState& channel, bool idle);
  void on_end(ChannelState& channel);
  void advance_watermark();
  void all_idle_check();
  void push_watermark(Timestamp watermark);
  void push_status(bool idle);

  std::vector<ChannelState> channels_;
  std::deque<Event> pending_;  // control events derived from one channel element
  size_t cursor_ = 0;
  size_t ended_ = 0;
  bool end_reported_ = false;
  bool output_idle_ = false;
  Timestamp last_watermark_ = kMinWatermark;
};

}  // namespace sluice::runtime
