// FlatMapOperator: any number of output records per input record, through a Collector
// (DataStream::flat_map).
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"

namespace sluice::operators {

template <class In, class Out, class F>
class FlatMapOperator final : public TypedOperator<Out> {
 public:
  explicit FlatMapOperator(F fn) : fn_(std::move(fn)) {}
  void open() override { detail::open_function(fn_, this->context()); }
  void close() override { detail::close_function(fn_); }
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of<In, Out>("flat_map");
    d.add("function", readable_type_name<F>());
    return d;
  }
  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<In>&>(batch);
    Collector<Out> collector(this->out_, this->output(), this->batch_limit());
    for (size_t i = 0; i < in.values.size(); ++i) {
      collector.set_timestamp(in.timestamp(i));
      fn_(in.values[i], collector);
    }
    collector.flush();
  }

 private:
  F fn_;
};

}  // namespace sluice::operators
