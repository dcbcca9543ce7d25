// What flows through channels: buffers of records and, in order with them, control elements
// (watermarks, checkpoint barriers, end of input, latency markers).
//
// The channel layer only knows the abstract Buffer: RecordBuffer<T> (a batch of T values with
// optional event timestamps, struct-of-arrays) is one kind; the SQL engine's columnar batches will
// be another. Operators downcast to the buffer type of their input, which the job graph guarantees.
//
// Threading: a buffer is owned by one thread at a time; ownership moves through channels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/core/time.h"

namespace sluice {

class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual size_t size() const = 0;
  // Approximate in-memory size, for metrics and memory accounting.
  virtual size_t byte_size() const = 0;
  // Empties the buffer, keeping its capacity so it can be reused without allocating.
  virtual void clear() = 0;
  virtual std::unique_ptr<Buffer> clone() const = 0;

  // Set while an output hands this buffer to several consumers in turn. A consumer is otherwise
  // the buffer's last reader (its producer clears or recycles it next), so it may move records
  // out instead of copying them.
  bool shared = false;
};

// A batch of records of type T. `timestamps` is either empty (no record carries an event
// timestamp) or exactly as long as `values`; keeping it empty saves a store per record on jobs
// that do not use event time.
// Records [previous run's end, end) of a batch came from the reader's split number `split` (a
// small number the reader output gives each split id). A run with `released` set carries no
// records: the split is finished and no longer holds back the watermark.
struct SplitRun {
  int32_t split = 0;
  uint32_t end = 0;
  bool released = false;
};

template <class T>
class RecordBuffer final : public Buffer {
 public:
  std::vector<T> values;
  std::vector<Timestamp> timestamps;
  // Set only by sources whose readers write through per-split outputs: which split each run of
  // records came from, so that watermarks can be generated per split. Empty otherwise.
  std::vector<SplitRun> split_runs;

  size_t size() const override { return values.size(); }
  size_t byte_size() const override {
    return values.size() * (sizeof(T) + (timestamps.empty() ? 0 : sizeof(Timestamp)));
  }
  void clear() override {
    values.clear();
    timestamps.clear();
    split_runs.clear();
  }
  std::unique_ptr<Buffer> clone() const override {
    return std::make_unique<RecordBuffer<T>>(*this);
  }

  bool has_timestamps() const { return !timestamps.empty(); }
  Timestamp timestamp(size_t i) const { return timestamps.empty() ? kNoTimestamp : timestamps[i]; }

  template <class V>
  void push(V&& value, Timestamp ts) {
    if (ts != kNoTimestamp && timestamps.size() < values.size()) {
      timestamps.resize(values.size(), kNoTimestamp);
    }
    values.push_back(std::forward<V>(value));
    if (!timestamps.empty() || ts != kNoTimestamp) timestamps.push_back(ts);
  }
  template <class V>
  void push(V&& value) {
    values.push_back(std::forward<V>(value));
    if (!timestamps.empty()) timestamps.push_back(kNoTimestamp);
  }
};

// Travels in band from a source to the sinks to measure end-to-end latency (Flink's
// LatencyMarker): created at a source at a fixed interval, forwarded by every operator without
// touching records, and recorded by the sinks.
struct LatencyMarker {
  int64_t created_ns;  // monotonic clock of the process
  int64_t source_subtask;
};

// One entry of a channel. A data element owns a buffer; control elements carry two integers whose
// meaning depends on the kind (see the factory functions).
struct StreamElement {
  enum class Kind : uint8_t {
    kBuffer,
    kWatermark,        // a: watermark timestamp
    kBarrier,          // a: checkpoint id, b: trigger time (ms); see overtaken, savepoint
    kEndOfInput,       // the producer will send nothing more on this channel
    kLatencyMarker,    // a: creation time (monotonic ns), b: source subtask
    kWatermarkStatus,  // a: 1 = idle, 0 = active
  };

  Kind kind = Kind::kBuffer;
  // Barriers only. An unaligned barrier is put at the head of the channel, ahead of `overtaken`
  // data buffers that its producer sent before it: those still belong before the barrier (the
  // consumer records them as in-flight state, or processes them before an aligned snapshot).
  // `savepoint`: a savepoint's barrier, never unaligned (and its state canonical).
  bool savepoint = false;
  uint32_t overtaken = 0;
  int64_t a = 0;
  int64_t b = 0;
  std::unique_ptr<Buffer> buffer;

  static StreamElement data(std::unique_ptr<Buffer> buffer) {
    StreamElement e;
    e.buffer = std::move(buffer);
    return e;
  }
  static StreamElement control(Kind kind, int64_t a = 0, int64_t b = 0) {
    StreamElement e;
    e.kind = kind;
    e.a = a;
    e.b = b;
    return e;
  }
  static StreamElement watermark(Timestamp ts) { return control(Kind::kWatermark, ts); }
  static StreamElement end_of_input() { return control(Kind::kEndOfInput); }
  static StreamElement barrier(int64_t checkpoint_id, int64_t trigger_time, bool savepoint) {
    StreamElement e = control(Kind::kBarrier, checkpoint_id, trigger_time);
    e.savepoint = savepoint;
    return e;
  }

  bool is_data() const { return kind == Kind::kBuffer; }
};

}  // namespace sluice
