// TypedOperator<Out>: the base of the typed operators. Each processes a whole input batch in a
// loop with the user function inlined (no virtual call, no allocation per record: output batches
// keep their capacity), and emits one output batch per input batch.
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include "sluice/runtime/buffer.h"
#include "sluice/runtime/operator.h"
#include "sluice/runtime/record_writer.h"

namespace sluice::operators {

// Common plumbing: the output batch and its flush.
template <class Out>
class TypedOperator : public Operator {
 protected:
  void emit_output() {
    if (out_.values.empty()) return;
    output().emit(out_);
    out_.clear();
  }
  size_t batch_limit() { return records_per_buffer<Out>(this->context().buffer_bytes); }

  RecordBuffer<Out> out_;
};

}  // namespace sluice::operators
