// The two ends of a channel between a producer subtask and a consumer subtask: the writer its
// producer's network output pushes into, and the reader its consumer's input gate takes from. In
// one process both are one in-memory queue (src/runtime/channel.h); across machines a network
// transport implements them, and the tasks on either side do not change.
//
// Threading: each end is used by its own task's thread; implementations are thread-safe between
// the two ends.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "sluice/runtime/buffer.h"

namespace sluice {

// The producer end of one channel.
class ChannelWriter {
 public:
  virtual ~ChannelWriter() = default;
  // False while the channel holds its capacity of buffers or more.
  virtual bool has_capacity() const = 0;
  // Always accepted: the capacity is checked by the task before it processes more input.
  virtual void push(StreamElement element) = 0;
  // An unaligned checkpoint barrier: goes ahead of the data queued in the channel (not of an older
  // barrier), and records in its `overtaken` how many data buffers it passed.
  virtual void push_overtaking(StreamElement barrier) = 0;
  // Moves checkpoint `id`'s barrier, if still queued, to the head in the same way.
  virtual bool promote_barrier(int64_t id) = 0;
  // A buffer the consumer has finished with, or null.
  virtual std::unique_ptr<Buffer> take_recycled() = 0;
};

// The consumer end of one channel.
class ChannelReader {
 public:
  virtual ~ChannelReader() = default;
  // The next element, or nullopt when none is queued right now.
  virtual std::optional<StreamElement> pop() = 0;
  // The head element only if it is a checkpoint barrier: what a backpressured task still takes,
  // so that barriers are not held up by full outputs.
  virtual std::optional<StreamElement> pop_barrier() = 0;
  // A buffer the consumer has finished with, back to its producer to be filled again.
  virtual void recycle(std::unique_ptr<Buffer> buffer) = 0;
  // Checkpoint `id`'s barrier, if still queued, moves ahead of the data before it (counted in its
  // `overtaken`): the consumer's aligned checkpoint turned unaligned. False if it is not queued.
  virtual bool promote_barrier(int64_t id) = 0;
};

}  // namespace sluice
