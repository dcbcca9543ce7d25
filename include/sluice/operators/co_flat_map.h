// CoFlatMapOperator: two inputs of different types, one flat-map function per input
// (ConnectedStreams::flat_map).
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include "sluice/functions/collector.h"
#include "sluice/operators/typed_operator.h"

namespace sluice::operators {

template <class In1, class In2, class Out, class F1, class F2>
class CoFlatMapOperator final : public TypedOperator<Out> {
 public:
  CoFlatMapOperator(F1 f1, F2 f2) : f1_(std::move(f1)), f2_(std::move(f2)) {}
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of_two<In1, In2, Out>("co_flat_map");
    d.add("functions", readable_type_name<F1>() + ", " + readable_type_name<F2>());
    return d;
  }
  void process_batch(Buffer& batch, int input) override {
    Collector<Out> collector(this->out_, this->output(), this->batch_limit());
    if (input == 0) {
      apply(static_cast<RecordBuffer<In1>&>(batch), f1_, collector);
    } else {
      apply(static_cast<RecordBuffer<In2>&>(batch), f2_, collector);
    }
    collector.flush();
  }

 private:
  template <class In, class F>
  void apply(RecordBuffer<In>& in, F& fn, Collector<Out>& collector) {
    for (size_t i = 0; i < in.values.size(); ++i) {
      collector.set_timestamp(in.timestamp(i));
      fn(in.values[i], collector);
    }
  }
  F1 f1_;
  F2 f2_;
};

}  // namespace sluice::operators
