// ProcessOperator: a ProcessFunction per record, with its context and side outputs
// (DataStream::process on a stream without keys). ProcessOperatorBase is shared with the
// two-input CoProcessOperator.
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include <memory>

#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"

namespace sluice::operators {

// Plumbing shared by the process-function operators: the user function, its ProcessContext and
// side outputs, and the loop that feeds one input batch to a per-record callback.
template <class Out, class F>
class ProcessOperatorBase : public TypedOperator<Out> {
 public:
  explicit ProcessOperatorBase(F fn) : fn_(std::move(fn)) {}
  void open() override {
    side_outputs_.bind(&this->context());
    context_ = std::make_unique<ProcessContext>(side_outputs_, this->context());
    detail::open_function(fn_, this->context());
  }
  void close() override { detail::close_function(fn_); }
  void process_watermark(Timestamp watermark) override {
    context_->set_watermark(watermark);
    this->output().emit_watermark(watermark);
  }

 protected:
  // Calls element(fn, value, context, collector) for every record of `in`, then flushes.
  template <class In, class Element>
  void for_each_record(RecordBuffer<In>& in, Element&& element) {
    Collector<Out> collector(this->out_, this->output(), this->batch_limit());
    for (size_t i = 0; i < in.values.size(); ++i) {
      const Timestamp ts = in.timestamp(i);
      collector.set_timestamp(ts);
      context_->set_timestamp(ts);
      element(fn_, in.values[i], *context_, collector);
    }
    collector.flush();
    side_outputs_.flush();
  }

 private:
  F fn_;
  SideOutputs side_outputs_;
  std::unique_ptr<ProcessContext> context_;
};

template <class In, class Out, class F>
class ProcessOperator final : public ProcessOperatorBase<Out, F> {
 public:
  using ProcessOperatorBase<Out, F>::ProcessOperatorBase;
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of<In, Out>("process");
    d.add("function", readable_type_name<F>());
    return d;
  }
  void process_batch(Buffer& batch, int) override {
    this->for_each_record(static_cast<RecordBuffer<In>&>(batch),
                          [](F& fn, const In& value, ProcessContext& ctx, Collector<Out>& out) {
                            fn.process_element(value, ctx, out);
                          });
  }
};

}  // namespace sluice::operators
