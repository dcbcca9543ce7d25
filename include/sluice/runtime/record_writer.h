// Network outputs: how a task's records reach the channels of the next, non-chained operator.
//
// A RecordWriter<T, Router> appends each record to a pending buffer per target channel, chosen by
// the partitioner (forward, rebalance, hash by key group, broadcast), and pushes a buffer when it
// is full or when the task flushes (its input ran dry: see StreamTask). Buffers are recycled
// through the channel, so a steady-state job allocates nothing per record or per buffer.
//
// Backpressure: the task asks available() before it processes the next input; a full channel
// makes the task wait (without blocking a worker thread) until the consumer drains it. One input
// buffer may overshoot the capacity by what it expands into; that bounds memory per channel.
//
// Threading: owned and called by one task thread; ChannelWriter implementations are thread-safe.
#pragma once

#include <utility>

#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/core/key_groups.h"
#include "sluice/runtime/buffer.h"
#include "sluice/runtime/channel_endpoints.h"
#include "sluice/runtime/operator.h"

namespace sluice {

enum class Partitioning { kDefault, kForward, kRebalance, kHash, kBroadcast };
const char* to_string(Partitioning partitioning);

class NetworkOutput : public Output {
 public:
  explicit NetworkOutput(std::vector<ChannelWriter*> channels) : channels_(std::move(channels)) {}

  bool available() const {
    for (auto* c : channels_) {
      if (!c->has_capacity()) return false;
    }
    return true;
  }
  // Sends every pending partial buffer.
  virtual void flush() = 0;
  // Flushes, then sends `element` to every channel (watermarks, barriers, end of input).
  void broadcast_control(const StreamElement& element) {
    flush();
    for (auto* c : channels_) c->push(copy_control(element));
  }
  // Flushes, then puts the barrier at the head of every channel (an unaligned checkpoint).
  void broadcast_overtaking(const StreamElement& barrier) {
    flush();
    for (auto* c : channels_) c->push_overtaking(copy_control(barrier));
  }
  void promote_barrier(int64_t id) {
    for (auto* c : channels_) c->promote_barrier(id);
  }
  void emit_watermark(Timestamp watermark) override {
    broadcast_control(StreamElement::watermark(watermark));
  }
  void emit_watermark_status(bool idle) override {
    broadcast_control(StreamElement::control(StreamElement::Kind::kWatermarkStatus, idle ? 1 : 0));
  }
  // To one channel, round robin (Flink sends each marker to one random channel). Flushed first so
  // the marker does not overtake records emitted before it.
  void emit_latency_marker(const LatencyMarker& marker) override {
    flush();
    next_marker_channel_ = (next_marker_channel_ + 1) % channels_.size();
    channels_[next_marker_channel_]->push(StreamElement::control(
        StreamElement::Kind::kLatencyMarker, marker.created_ns, marker.source_subtask));
  }
  void set_metrics(OperatorMetrics* metrics) { metrics_ = metrics; }

 protected:
  static StreamElement copy_control(const StreamElement& element) {
    StreamElement copy = StreamElement::control(element.kind, element.a, element.b);
    copy.savepoint = element.savepoint;
    return copy;
  }

  std::vector<ChannelWriter*> channels_;
  OperatorMetrics* metrics_ = nullptr;
  size_t next_marker_channel_ = 0;
};

// Records per buffer: about `target_bytes` of values, within [16, 4096] records.
template <class T>
size_t records_per_buffer(size_t target_bytes) {
  size_t n = target_bytes / sizeof(T);
  return n < 16 ? 16 : (n > 4096 ? 4096 : n);
}

template <class T>
class TypedNetworkOutput : public NetworkOutput {
 public:
  TypedNetworkOutput(std::vector<ChannelWriter*> channels, size_t buffer_bytes)
      : NetworkOutput(std::move(channels)), capacity_(records_per_buffer<T>(buffer_bytes)) {
    pending_.resize(channels_.size());
    for (size_t i = 0; i < channels_.size(); ++i) pending_[i] = fresh_buffer(i);
  }

  void flush() override {
    for (size_t i = 0; i < channels_.size(); ++i) {
      if (!pending_[i]->values.empty()) send(i);
    }
  }

 protected:
  void append(size_t channel, const T& value, Timestamp ts) {
    auto& buffer = *pending_[channel];
    buffer.push(value, ts);
    if (buffer.values.size() >= capacity_) send(channel);
  }
  // Record i of `batch`, moved when no other consumer reads the batch (see Buffer::shared).
  void append_from(size_t channel, RecordBuffer<T>& batch, size_t i) {
    auto& buffer = *pending_[channel];
    if (batch.shared) {
      buffer.push(batch.values[i], batch.timestamp(i));
    } else {
      buffer.push(std::move(batch.values[i]), batch.timestamp(i));
    }
    if (buffer.values.size() >= capacity_) send(channel);
  }
  void append_all(size_t channel, const RecordBuffer<T>& batch) {
    for (size_t i = 0; i < batch.values.size(); ++i)
      append(channel, batch.values[i], batch.timestamp(i));
  }
  // Records are counted by the operator's output; the writer adds what crosses channels.
  void count_bytes(const RecordBuffer<T>& batch, size_t copies) {
    if (metrics_ != nullptr) metrics_->bytes_out.add(batch.byte_size() * copies);
  }

 private:
  void send(size_t channel) {
    channels_[channel]->push(StreamElement::data(std::move(pending_[channel])));
    pending_[channel] = fresh_buffer(channel);
  }
  std::unique_ptr<RecordBuffer<T>> fresh_buffer(size_t channel) {
    std::unique_ptr<Buffer> recycled = channels_[channel]->take_recycled();
    if (recycled) {
      recycled->clear();
      return std::unique_ptr<RecordBuffer<T>>(static_cast<RecordBuffer<T>*>(recycled.release()));
    }
    auto buffer = std::make_unique<RecordBuffer<T>>();
    buffer->values.reserve(capacity_);
    return buffer;
  }

  size_t capacity_;
  std::vector<std::unique_ptr<RecordBuffer<T>>> pending_;
};

// Forward: the producer subtask's one channel (equal parallelism on both sides).
template <class T>
class ForwardWriter final : public TypedNetworkOutput<T> {
 public:
  using TypedNetworkOutput<T>::TypedNetworkOutput;
  void emit(Buffer& batch) override {
    auto& records = static_cast<RecordBuffer<T>&>(batch);
    this->count_bytes(records, 1);
    for (size_t i = 0; i < records.values.size(); ++i) this->append_from(0, records, i);
  }
};

// Rebalance: round robin per record, starting at the producer's own index, as Flink's
// RebalancePartitioner does from a random channel.
template <class T>
class RebalanceWriter final : public TypedNetworkOutput<T> {
 public:
  RebalanceWriter(std::vector<ChannelWriter*> channels, size_t buffer_bytes, int producer_subtask)
      : TypedNetworkOutput<T>(std::move(channels), buffer_bytes),
        next_(static_cast<size_t>(producer_subtask) % this->channels_.size()) {}
  void emit(Buffer& batch) override {
    auto& records = static_cast<RecordBuffer<T>&>(batch);
    this->count_bytes(records, 1);
    const size_t n = this->channels_.size();
    for (size_t i = 0; i < records.values.size(); ++i) {
      this->append_from(next_, records, i);
      next_ = next_ + 1 == n ? 0 : next_ + 1;
    }
  }

 private:
  size_t next_;
};

template <class T>
class BroadcastWriter final : public TypedNetworkOutput<T> {
 public:
  using TypedNetworkOutput<T>::TypedNetworkOutput;
  void emit(Buffer& batch) override {
    auto& records = static_cast<RecordBuffer<T>&>(batch);
    this->count_bytes(records, this->channels_.size());
    for (size_t c = 0; c < this->channels_.size(); ++c) this->append_all(c, records);
  }
};

// x mod d without a division instruction (Lemire, "Faster remainder by direct computation"),
// exact for every 32-bit x and d.
class FastMod32 {
  __extension__ using Uint128 = unsigned __int128;

 public:
  explicit FastMod32(uint32_t d) : d_(d), m_(~uint64_t{0} / d + 1) {}
  uint32_t operator()(uint32_t x) const {
    uint64_t low = m_ * x;
    return static_cast<uint32_t>((static_cast<Uint128>(low) * d_) >> 64);
  }

 private:
  uint64_t d_;
  uint64_t m_;
};

// Hash: key -> key group -> the subtask owning that group's range (see key_groups.h).
template <class T, class KeySelector>
class HashWriter final : public TypedNetworkOutput<T> {
 public:
  HashWriter(std::vector<ChannelWriter*> channels, size_t buffer_bytes, int max_parallelism,
             KeySelector selector)
      : TypedNetworkOutput<T>(std::move(channels), buffer_bytes),
        selector_(std::move(selector)),
        mod_(static_cast<uint32_t>(max_parallelism)) {
    const int parallelism = static_cast<int>(this->channels_.size());
    channel_of_group_.resize(static_cast<size_t>(max_parallelism));
    for (int g = 0; g < max_parallelism; ++g) {
      channel_of_group_[static_cast<size_t>(g)] =
          static_cast<uint16_t>(subtask_for_key_group(g, parallelism, max_parallelism));
    }
  }
  void emit(Buffer& batch) override {
    auto& records = static_cast<RecordBuffer<T>&>(batch);
    this->count_bytes(records, 1);
    for (size_t i = 0; i < records.values.size(); ++i) {
      uint64_t h = 0;
      {
        const auto& key = std::invoke(selector_, std::as_const(records.values[i]));
        h = KeyHash<std::decay_t<decltype(key)>>{}(key);
      }  // the key may refer into the record, which moves next
      uint32_t group = mod_(static_cast<uint32_t>(h ^ (h >> 32)));
      this->append_from(channel_of_group_[group], records, i);
    }
  }

 private:
  KeySelector selector_;
  FastMod32 mod_;
  std::vector<uint16_t> channel_of_group_;
};

}  // namespace sluice
