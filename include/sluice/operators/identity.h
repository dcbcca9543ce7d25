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
  void process_batch(Buffer& batch, int) override { output().emit(batch); }
};

}  // namespace sluice::operators
