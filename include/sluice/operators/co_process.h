// CoProcessOperator: a CoProcessFunction over two inputs of different types
// (ConnectedStreams::process).
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include "sluice/operators/process.h"

namespace sluice::operators {

template <class In1, class In2, class Out, class F>
class CoProcessOperator final : public ProcessOperatorBase<Out, F> {
 public:
  using ProcessOperatorBase<Out, F>::ProcessOperatorBase;
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of_two<In1, In2, Out>("co_process");
    d.add("function", readable_type_name<F>());
    return d;
  }
  void process_batch(Buffer& batch, int input) override {
    if (input == 0) {
      this->for_each_record(static_cast<RecordBuffer<In1>&>(batch),
                            [](F& fn, const In1& value, ProcessContext& ctx, Collector<Out>& out) {
                              fn.process_element1(value, ctx, out);
                            });
    } else {
      this->for_each_record(static_cast<RecordBuffer<In2>&>(batch),
                            [](F& fn, const In2& value, ProcessContext& ctx, Collector<Out>& out) {
                              fn.process_element2(value, ctx, out);
                            });
    }
  }
};

}  // namespace sluice::operators
