// The input side of a task: all channels feeding it, polled round robin, with the per-channel
// watermark bookkeeping. The combined watermark is the minimum over channels that have not ended
// and never goes backwards (Flink's StatusWatermarkValve, without idleness yet).
//
// Threading: used only by the owning task's thread.
#pragma once

#include <memory>
#include <vector>

#include "runtime/channel.h"

namespace sluice::runtime {

class InputGate {
 public:
  struct Event {
    enum class Kind { kNothing, kBuffer, kWatermark, kLatencyMarker, kEndOfInput };
    Kind kind = Kind::kNothing;
    std::unique_ptr<Buffer> buffer;
    Channel* channel = nullptr;
    int input = 0;
    Timestamp watermark = kMinWatermark;
    LatencyMarker marker{};
  };

  void add_channel(Channel* channel, int input);
  bool empty() const { return channels_.empty(); }
  // The next buffer or watermark advance; kNothing when no channel has data right now;
  // kEndOfInput once, after every channel ended.
  Event next();

 private:
  struct ChannelState {
    Channel* channel;
    int input;
    Timestamp watermark = kMinWatermark;
    bool ended = false;
  };
  Timestamp combined_watermark() const;

  std::vector<ChannelState> channels_;
  size_t cursor_ = 0;
  size_t ended_ = 0;
  bool end_reported_ = false;
  Timestamp last_watermark_ = kMinWatermark;
};

}  // namespace sluice::runtime
