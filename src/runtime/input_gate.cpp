#include "runtime/input_gate.h"

#include <algorithm>

namespace sluice::runtime {

void InputGate::add_channel(Channel* channel, int input) { channels_.push_back({channel, input}); }

void InputGate::push_watermark(Timestamp watermark) {
  last_watermark_ = watermark;
  Event event;
  event.kind = Event::Kind::kWatermark;
  event.watermark = watermark;
  pending_.push_back(std::move(event));
}

void InputGate::push_status(bool idle) {
  output_idle_ = idle;
  Event event;
  event.kind = Event::Kind::kWatermarkStatus;
  event.idle = idle;
  pending_.push_back(std::move(event));
}

void InputGate::advance_watermark() {
  bool any = false;
  Timestamp min = kMaxWatermark;
  for (const auto& c : channels_) {
    if (c.aligned && !c.idle && !c.ended) {
      any = true;
      min = std::min(min, c.watermark);
    }
  }
  if (any && min > last_watermark_) push_watermark(min);
}

void InputGate::all_idle_check() {
  bool any_open = false;
  Timestamp max = kMinWatermark;
  for (const auto& c : channels_) {
    if (c.ended) continue;
    if (!c.idle) return advance_watermark();
    any_open = true;
    max = std::max(max, c.watermark);
  }
  if (!any_open || output_idle_) return;
  // Every open input is idle: what they reached is final until one of them resumes.
  if (max > last_watermark_) push_watermark(max);
  push_status(true);
}

void InputGate::on_watermark(ChannelState& channel, Timestamp watermark) {
  if (channel.idle) return;  // as Flink: an idle channel's watermarks are ignored
  if (watermark <= channel.watermark) return;
  channel.watermark = watermark;
  if (!channel.aligned && watermark >= last_watermark_) channel.aligned = true;
  advance_watermark();
}

void InputGate::on_status(ChannelState& channel, bool idle) {
  if (idle == channel.idle) return;
  channel.idle = idle;
  if (idle) {
    channel.aligned = false;
    all_idle_check();
  } else {
    channel.aligned = channel.watermark >= last_watermark_;
    if (output_idle_) push_status(false);
  }
}

void InputGate::start_alignment(int64_t checkpoint_id, Timestamp time) {
  if (aligning_ != 0) {  // overtaken by a newer checkpoint: the older one cannot complete here
    ++abandoned_;
    last_completed_ = aligning_;
  }
  for (auto& c : channels_) c.barrier_received = false;
  aligning_ = checkpoint_id;
  aligning_time_ = time;
}

void InputGate::on_barrier(ChannelState& channel, int64_t checkpoint_id, Timestamp time) {
  if (checkpoint_id <= last_completed_ || checkpoint_id < aligning_) return;  // stale
  if (checkpoint_id > aligning_) start_alignment(checkpoint_id, time);
  channel.barrier_received = true;
  complete_alignment_if_done();
}

void InputGate::complete_alignment_if_done() {
  if (aligning_ == 0) return;
  for (const auto& c : channels_) {
    if (!c.ended && !c.barrier_received) return;
  }
  Event event;
  event.kind = Event::Kind::kBarrier;
  event.checkpoint_id = aligning_;
  event.checkpoint_time = aligning_time_;
  pending_.push_back(std::move(event));
  last_completed_ = aligning_;
  aligning_ = 0;
  for (auto& c : channels_) c.barrier_received = false;  // unblocks every channel
}

void InputGate::on_end(ChannelState& channel) {
  channel.ended = true;
  ++ended_;
  complete_alignment_if_done();  // an ended channel sends no barrier: it counts as delivered
  if (ended_ == channels_.size()) {
    end_reported_ = true;
    Event event;
    event.kind = Event::Kind::kEndOfInput;
    pending_.push_back(std::move(event));
    return;
  }
  all_idle_check();
}

InputGate::Event InputGate::next() {
  const size_t n = channels_.size();
  for (size_t tried = 0; tried < n && pending_.empty();) {
    ChannelState& state = channels_[cursor_];
    auto element = state.ended || blocked(state) ? std::nullopt : state.channel->pop();
    if (!element) {
      cursor_ = cursor_ + 1 == n ? 0 : cursor_ + 1;
      ++tried;
      continue;
    }
    Event event;
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
        on_watermark(state, element->a);
        break;
      case StreamElement::Kind::kWatermarkStatus:
        on_status(state, element->a != 0);
        break;
      case StreamElement::Kind::kEndOfInput:
        on_end(state);
        break;
      case StreamElement::Kind::kLatencyMarker:
        event.kind = Event::Kind::kLatencyMarker;
        event.marker = LatencyMarker{element->a, element->b};
        return event;
      case StreamElement::Kind::kBarrier:
        on_barrier(state, element->a, element->b);
        break;
    }
  }
  if (pending_.empty()) return Event{};
  Event event = std::move(pending_.front());
  pending_.pop_front();
  return event;
}

}  // namespace sluice::runtime
