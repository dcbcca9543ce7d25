// A bounded, in-order channel between one producer subtask and one consumer subtask, carrying
// buffers and control elements. One channel per (producer, consumer) pair, as Flink's
// subpartition/input-channel pairs, so watermarks and (later) barriers are tracked per channel.
//
// The lock is taken once per buffer, never per record. Emptied buffers travel back to the
// producer through the recycle list so steady state allocates nothing.
//
// Threading: push/take_recycled from the producer task, pop/recycle from the consumer task; every
// method is thread-safe. The channel wakes the consumer on push and the producer when a full
// channel regains capacity.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "runtime/scheduler.h"
#include "sluice/runtime/channel_endpoints.h"

namespace sluice::runtime {

class Channel final : public ChannelWriter, public ChannelReader {
 public:
  Channel(Scheduler& scheduler, size_t capacity) : scheduler_(scheduler), capacity_(capacity) {}
  void connect(Schedulable* producer, Schedulable* consumer) {
    producer_ = producer;
    consumer_ = consumer;
  }

  bool has_capacity() const override {
    return buffered_.load(std::memory_order_acquire) < capacity_;
  }
  void push(StreamElement element) override;
  void push_overtaking(StreamElement barrier) override;
  std::unique_ptr<Buffer> take_recycled() override;

  std::optional<StreamElement> pop() override;
  std::optional<StreamElement> pop_barrier() override;
  // Moves checkpoint `id`'s barrier, if queued, ahead of the data before it (counted in its
  // `overtaken`), though never ahead of an older barrier: an aligned checkpoint that timed out and
  // turns unaligned. False if the barrier is not in the channel.
  bool promote_barrier(int64_t id) override;
  void recycle(std::unique_ptr<Buffer> buffer) override;

 private:
  Scheduler& scheduler_;
  const size_t capacity_;
  Schedulable* producer_ = nullptr;
  Schedulable* consumer_ = nullptr;

  std::mutex mutex_;
  // With mutex_ held.
  size_t overtaking_position(size_t end) const;
  size_t data_elements_between(size_t from, size_t to) const;

  std::deque<StreamElement> queue_;
  std::vector<std::unique_ptr<Buffer>> recycled_;
  std::atomic<size_t> buffered_{0};  // data elements in queue_
};

}  // namespace sluice::runtime
