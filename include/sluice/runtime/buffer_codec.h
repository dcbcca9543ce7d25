// Turns the buffers of one exchange (a job-graph edge) into bytes and back: what an unaligned
// checkpoint stores of the records that were in flight in its channels, and what the network
// transport of cluster mode will send. The edge's typed side (the DataStream API) creates the
// codec; the runtime only sees this interface.
//
// A codec of a hash-partitioned edge also knows each record's key group, so that in-flight records
// restored at another parallelism go to the subtask that now owns their key.
//
// Threading: stateless; any thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "sluice/core/key_groups.h"
#include "sluice/core/serialization.h"
#include "sluice/runtime/buffer.h"

namespace sluice {

class BufferCodec {
 public:
  virtual ~BufferCodec() = default;
  virtual void write(const Buffer& buffer, BufferWriter& out) const = 0;
  virtual std::unique_ptr<Buffer> read(BufferReader& in) const = 0;
  // Whether records carry keys (the edge is hash-partitioned): retain_key_groups can filter.
  virtual bool keyed() const { return false; }
  // Drops the records whose key group is outside `range`.
  virtual void retain_key_groups(Buffer& /*buffer*/, KeyGroupRange /*range*/,
                                 int /*max_parallelism*/) const {}
};

// Values, then the timestamp column (empty when no record has one).
template <class T>
class RecordBufferCodec : public BufferCodec {
 public:
  void write(const Buffer& buffer, BufferWriter& out) const override {
    const auto& records = static_cast<const RecordBuffer<T>&>(buffer);
    Serializer<std::vector<T>>::serialize(records.values, out);
    Serializer<std::vector<Timestamp>>::serialize(records.timestamps, out);
  }
  std::unique_ptr<Buffer> read(BufferReader& in) const override {
    auto records = std::make_unique<RecordBuffer<T>>();
    records->values = Serializer<std::vector<T>>::deserialize(in);
    records->timestamps = Serializer<std::vector<Timestamp>>::deserialize(in);
    return records;
  }
};

template <class T, class KeySelector>
class KeyedRecordBufferCodec final : public RecordBufferCodec<T> {
 public:
  explicit KeyedRecordBufferCodec(KeySelector selector) : selector_(std::move(selector)) {}
  bool keyed() const override { return true; }
  void retain_key_groups(Buffer& buffer, KeyGroupRange range, int max_parallelism) const override {
    auto& records = static_cast<RecordBuffer<T>&>(buffer);
    size_t kept = 0;
    for (size_t i = 0; i < records.values.size(); ++i) {
      if (!range.contains(
              key_group_for_key(std::invoke(selector_, records.values[i]), max_parallelism))) {
        continue;
      }
      if (kept != i) {
        records.values[kept] = std::move(records.values[i]);
        if (records.has_timestamps()) records.timestamps[kept] = records.timestamps[i];
      }
      ++kept;
    }
    records.values.resize(kept);
    if (records.has_timestamps()) records.timestamps.resize(kept);
  }

 private:
  KeySelector selector_;
};

// Null when T has no Serializer: such an edge cannot take part in unaligned checkpoints.
template <class T>
std::shared_ptr<const BufferCodec> buffer_codec() {
  if constexpr (kSerializable<T>) {
    return std::make_shared<RecordBufferCodec<T>>();
  } else {
    return nullptr;
  }
}
template <class T, class KeySelector>
std::shared_ptr<const BufferCodec> keyed_buffer_codec(KeySelector selector) {
  if constexpr (kSerializable<T>) {
    return std::make_shared<KeyedRecordBufferCodec<T, KeySelector>>(std::move(selector));
  } else {
    return nullptr;
  }
}

}  // namespace sluice
