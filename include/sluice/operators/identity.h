// IdentityOperator: passes batches through unchanged (the operator behind union).
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include "sluice/runtime/operator.h"

namespace sluice::operators {

// Passes batches through unchanged: the operator behind union.
template <class T>
class IdentityOperator final : public Operator {
 public:
  OperatorDescription describe() const override { return OperatorDescription::of<T, T>("union"); }
  void process_batch(Buffer& batch, int) override { output().emit(batch); }
};

}  // namespace sluice::operators
