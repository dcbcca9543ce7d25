// The sink interface: a Sink<T> creates one SinkWriter per parallel subtask, which receives whole
// batches. Connectors (files, Kafka) implement it like any user would. The checkpoint work will add
// the two-phase-commit hooks (pre-commit on barrier, commit on checkpoint completion).
//
// Threading: a writer is called only by its task's thread.
#pragma once

#include <memory>

#include "sluice/runtime/buffer.h"
#include "sluice/runtime/operator.h"

namespace sluice {

template <class T>
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  virtual void write(const RecordBuffer<T>& batch) = 0;
  // Make written data durable/visible; end_of_input is true once, when the input is exhausted.
  virtual void flush(bool /*end_of_input*/) {}
  virtual void close() {}
};

template <class T>
class Sink {
 public:
  using value_type = T;
  virtual ~Sink() = default;
  virtual std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext& context) = 0;
};

template <class T>
class SinkOperator final : public Operator {
 public:
  explicit SinkOperator(std::shared_ptr<Sink<T>> sink) : sink_(std::move(sink)) {}
  void open() override {
    RuntimeContext runtime(context());
    writer_ = sink_->create_writer(runtime);
  }
  void process_batch(Buffer& batch, int) override {
    writer_->write(static_cast<RecordBuffer<T>&>(batch));
  }
  void process_watermark(Timestamp) override {}
  void process_watermark_status(bool) override {}
  void process_latency_marker(const LatencyMarker& marker) override {
    context().metrics->latency.record(monotonic_nanos() - marker.created_ns);
  }
  void finish() override { writer_->flush(true); }
  void close() override {
    if (writer_) writer_->close();
  }

 private:
  std::shared_ptr<Sink<T>> sink_;
  std::unique_ptr<SinkWriter<T>> writer_;
};

}  // namespace sluice
