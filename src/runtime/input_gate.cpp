#include "runtime/input_gate.h"

#include <algorithm>

#include "sluice/core/time.h"

namespace sluice::runtime {

void InputGate::add_channel(ChannelReader* channel, int input) {
  channels_.push_back({channel, input});
}

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

void InputGate::start_checkpoint(int64_t checkpoint_id, Timestamp time, bool savepoint) {
  if (checkpointing_ != 0) {  // overtaken by a newer checkpoint: the older one cannot complete here
    ++abandoned_;
    last_completed_ = checkpointing_;
  }
  for (auto& c : channels_) {
    c.barrier_received = false;
    c.before_barrier = 0;
  }
  checkpointing_ = checkpoint_id;
  checkpoint_time_ = time;
  savepoint_ = savepoint;
  snapshot_taken_ = false;
}

void InputGate::on_barrier(ChannelState& channel, const StreamElement& barrier) {
  const int64_t checkpoint_id = barrier.a;
  if (checkpoint_id <= last_completed_ || checkpoint_id < checkpointing_) return;  // stale
  if (checkpoint_id > checkpointing_) start_checkpoint(checkpoint_id, barrier.b, barrier.savepoint);
  channel.barrier_received = true;
  channel.before_barrier = barrier.overtaken;
  if (!snapshot_taken_ && may_go_unaligned() &&
      (alignment_timeout_ms_ == 0 || wall_clock_millis() >= *alignment_deadline())) {
    take_unaligned_snapshot();
  }
  complete_checkpoint_if_done();
}

// Reports the barrier now; whatever is still before a barrier is recorded from here on.
void InputGate::take_unaligned_snapshot() {
  snapshot_taken_ = true;
  for (auto& c : channels_) {
    if (!c.ended && !c.barrier_received) c.channel->promote_barrier(checkpointing_);
  }
  Event event;
  event.kind = Event::Kind::kBarrier;
  event.checkpoint_id = checkpointing_;
  event.checkpoint_time = checkpoint_time_;
  event.unaligned = true;
  event.savepoint = savepoint_;
  pending_.push_back(std::move(event));
}

std::optional<Timestamp> InputGate::alignment_deadline() const {
  if (checkpointing_ == 0 || snapshot_taken_ || !may_go_unaligned()) return std::nullopt;
  return checkpoint_time_ + alignment_timeout_ms_;
}

void InputGate::check_alignment_timeout() {
  const std::optional<Timestamp> deadline = alignment_deadline();
  if (deadline && wall_clock_millis() >= *deadline) {
    take_unaligned_snapshot();
    complete_checkpoint_if_done();
  }
}

void InputGate::on_buffer_read(ChannelState& channel, Event& event) {
  if (checkpointing_ == 0) return;
  if (channel.barrier_received) {
    if (channel.before_barrier == 0) return;
    --channel.before_barrier;
    event.record = snapshot_taken_;
    if (channel.before_barrier == 0) complete_checkpoint_if_done();
  } else {
    event.record = snapshot_taken_;
  }
}

void InputGate::complete_checkpoint_if_done() {
  if (checkpointing_ == 0) return;
  for (const auto& c : channels_) {
    if (!c.barrier_effective()) return;
  }
  Event event;
  event.kind = snapshot_taken_ ? Event::Kind::kChannelStateComplete : Event::Kind::kBarrier;
  event.checkpoint_id = checkpointing_;
  event.checkpoint_time = checkpoint_time_;
  event.savepoint = savepoint_;
  pending_.push_back(std::move(event));
  last_completed_ = checkpointing_;
  checkpointing_ = 0;
  snapshot_taken_ = false;
  for (auto& c : channels_) {
    c.barrier_received = false;  // unblocks every channel
    c.before_barrier = 0;
  }
}

void InputGate::on_end(ChannelState& channel) {
  channel.ended = true;
  ++ended_;
  complete_checkpoint_if_done();  // an ended channel sends no barrier: it counts as delivered
  if (ended_ == channels_.size()) {
    end_reported_ = true;
    Event event;
    event.kind = Event::Kind::kEndOfInput;
    pending_.push_back(std::move(event));
    return;
  }
  all_idle_check();
}

InputGate::Event InputGate::next(bool barriers_only) {
  if (checkpointing_ != 0) check_alignment_timeout();
  const size_t n = channels_.size();
  for (size_t tried = 0; tried < n && pending_.empty();) {
    const size_t index = cursor_;
    ChannelState& state = channels_[index];
    std::optional<StreamElement> element;
    if (!state.ended && !blocked(state)) {
      element = barriers_only ? state.channel->pop_barrier() : state.channel->pop();
    }
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
        event.channel_index = index;
        event.input = state.input;
        on_buffer_read(state, event);
        if (pending_.empty()) return event;
        // The buffer completed a checkpoint's channel state: it goes first, the completion after.
        pending_.push_front(std::move(event));
        break;
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
        on_barrier(state, *element);
        break;
    }
    // A control element may have unblocked channels already passed over: poll them all again.
    tried = 0;
  }
  if (pending_.empty()) return Event{};
  Event event = std::move(pending_.front());
  pending_.pop_front();
  return event;
}

}  // namespace sluice::runtime
