// Where user functions put their results: Collector (zero or more records of the main output)
// and SideOutputs (records for OutputTags), both buffering into batches that the operator emits.
//
// Threading: owned by one operator instance, one task thread.
#pragma once

#include <memory>
#include <vector>

#include "sluice/functions/output_tag.h"
#include "sluice/runtime/buffer.h"
#include "sluice/runtime/operator.h"

namespace sluice {

template <class T>
class Collector {
 public:
  Collector(RecordBuffer<T>& batch, Output& output, size_t limit)
      : batch_(batch), output_(output), limit_(limit) {}

  void collect(const T& value) {
    batch_.push(value, timestamp_);
    if (batch_.values.size() >= limit_) flush();
  }
  void collect(T&& value) {
    batch_.push(std::move(value), timestamp_);
    if (batch_.values.size() >= limit_) flush();
  }
  void collect_with_timestamp(const T& value, Timestamp timestamp) {
    batch_.push(value, timestamp);
    if (batch_.values.size() >= limit_) flush();
  }

  // Internal: the timestamp outputs inherit from the input record being processed.
  void set_timestamp(Timestamp timestamp) { timestamp_ = timestamp; }
  void flush() {
    if (batch_.values.empty()) return;
    output_.emit(batch_);
    batch_.clear();
  }

 private:
  RecordBuffer<T>& batch_;
  Output& output_;
  size_t limit_;
  Timestamp timestamp_ = kNoTimestamp;
};

// Per-operator buffers for side outputs, flushed after every input batch.
class SideOutputs {
 public:
  void bind(OperatorContext* context) { context_ = context; }

  template <class X>
  void emit(const OutputTag<X>& tag, const X& value, Timestamp timestamp) {
    Slot& slot = slot_for<X>(tag.tag());
    static_cast<RecordBuffer<X>&>(*slot.buffer).push(value, timestamp);
  }
  void flush() {
    for (auto& slot : slots_) {
      if (slot.buffer->size() == 0) continue;
      slot.output->emit(*slot.buffer);
      slot.buffer->clear();
    }
  }

 private:
  struct Slot {
    int tag;
    std::unique_ptr<Buffer> buffer;
    Output* output;
  };
  template <class X>
  Slot& slot_for(int tag) {
    for (auto& slot : slots_) {
      if (slot.tag == tag) return slot;
    }
    slots_.push_back({tag, std::make_unique<RecordBuffer<X>>(), context_->side_output(tag)});
    return slots_.back();
  }

  OperatorContext* context_ = nullptr;
  std::vector<Slot> slots_;
};

}  // namespace sluice
