// CoMapOperator: two inputs of different types, one map function per input (ConnectedStreams::map).
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include "sluice/operators/typed_operator.h"

namespace sluice::operators {

template <class In1, class In2, class Out, class F1, class F2>
class CoMapOperator final : public TypedOperator<Out> {
 public:
  CoMapOperator(F1 f1, F2 f2) : f1_(std::move(f1)), f2_(std::move(f2)) {}
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of_two<In1, In2, Out>("co_map");
    d.add("functions", readable_type_name<F1>() + ", " + readable_type_name<F2>());
    return d;
  }
  void process_batch(Buffer& batch, int input) override {
    if (input == 0) {
      apply(static_cast<RecordBuffer<In1>&>(batch), f1_);
    } else {
      apply(static_cast<RecordBuffer<In2>&>(batch), f2_);
    }
    this->emit_output();
  }

 private:
  template <class In, class F>
  void apply(RecordBuffer<In>& in, F& fn) {
    for (const auto& value : in.values) this->out_.values.push_back(fn(value));
    this->out_.timestamps.assign(in.timestamps.begin(), in.timestamps.end());
  }
  F1 f1_;
  F2 f2_;
};

}  // namespace sluice::operators
