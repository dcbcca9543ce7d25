#include "runtime/input_gate.h"

#include <algorithm>

namespace sluice::runtime {

void InputGate::add_channel(Channel* channel, int input) { channels_.push_back({channel, input}); }

Timestamp InputGate::combined_watermark() const {
  Timestamp result = kMaxWatermark;
  for (const auto& c : channels_) {
    if (!c.ended) result = std::min(result, c.watermark);
  }
  return result;
}

InputGate::Event InputGate::next() {
  Event event;
  if (end_reported_) return event;
  const size_t n = channels_.size();
  for (size_t tried = 0; tried < n; ++tried) {
    ChannelState& state = channels_[cursor_];
    auto element = state.ended ? std::nullopt : state.channel->pop();
    if (!element) {
      cursor_ = cursor_ + 1 == n ? 0 : cursor_ + 1;
      continue;
    }
    switch (element->kind) {
      case StreamElement::Kind::kBuffer:
        // Move on after every buffer: a channel whose producer is always ahead must not starve
        // the others (their producers would stay backpressured and their watermarks stuck).
        cursor_ = cursor_ + 1 == n ? 0 : cursor_ + 1;
        event.kind = Event::Kind::kBuffer;
        event.buffer = std::move(element->buffer);
        event.channel = state.channel;
        event.input = state.input;
        return event;
      case StreamElement::Kind::kWatermark:
      case StreamElement::Kind::kEndOfInput: {
        if (element->kind == StreamElement::Kind::kWatermark) {
          state.watermark = std::max(state.watermark, element->a);
        } else {
          state.ended = true;
          ++ended_;
        }
        Timestamp combined = combined_watermark();
        if (combined > last_watermark_ && ended_ < n) {
          last_watermark_ = combined;
          event.kind = Event::Kind::kWatermark;
          event.watermark = combined;
          return event;
        }
        if (ended_ == n) {
          end_reported_ = true;
          event.kind = Event::Kind::kEndOfInput;
          return event;
        }
        --tried;  // consumed a control element: look again
        break;
      }
      case StreamElement::Kind::kLatencyMarker:
        event.kind = Event::Kind::kLatencyMarker;
        event.marker = LatencyMarker{element->a, element->b};
        return event;
      default:
        --tried;  // barriers and watermark statuses: not used yet
        break;
    }
  }
  return event;
}

}  // namespace sluice::runtime
