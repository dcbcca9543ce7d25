// BroadcastProcessOperator: the non-keyed broadcast state pattern. Input 0 is the main stream,
// input 1 the broadcast stream, whose records update the broadcast states every subtask holds.
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "sluice/functions/broadcast_process_function.h"
#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"

namespace sluice::operators {

template <class In, class B, class F>
class BroadcastProcessOperator final : public TypedOperator<typename F::output_type> {
 public:
  using Out = typename F::output_type;
  explicit BroadcastProcessOperator(F fn) : fn_(std::move(fn)) {}
  void open() override {
    side_outputs_.bind(&this->context());
    read_only_ =
        std::make_unique<ReadOnlyBroadcastContext>(side_outputs_, this->context(), states_);
    writable_ = std::make_unique<WritableBroadcastContext>(side_outputs_, this->context(), states_);
    // Every instance held the same broadcast state: any one restored copy will do.
    const auto& restored = this->context().restored_state;
    if (!restored.empty())
      states_.restore(from_bytes<std::map<std::string, std::string>>(restored[0]));
    detail::open_function(fn_, this->context());
  }
  StateSnapshot snapshot_state(const SnapshotRequest&) override {
    return to_bytes(states_.snapshot());
  }
  void close() override { detail::close_function(fn_); }
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of_two<In, B, Out>("broadcast_process");
    d.add("function", readable_type_name<F>());
    return d;
  }
  void process_batch(Buffer& batch, int input) override {
    if (input == 0) {
      for_each(static_cast<RecordBuffer<In>&>(batch), *read_only_,
               [this](const In& v, auto& ctx, auto& out) { fn_.process_element(v, ctx, out); });
    } else {
      for_each(
          static_cast<RecordBuffer<B>&>(batch), *writable_,
          [this](const B& v, auto& ctx, auto& out) { fn_.process_broadcast_element(v, ctx, out); });
    }
  }
  void process_watermark(Timestamp watermark) override {
    read_only_->set_watermark(watermark);
    writable_->set_watermark(watermark);
    this->output().emit_watermark(watermark);
  }

 private:
  template <class X, class Context, class Call>
  void for_each(RecordBuffer<X>& in, Context& ctx, Call&& call) {
    Collector<Out> out(this->out_, this->output(), this->batch_limit());
    for (size_t i = 0; i < in.values.size(); ++i) {
      ctx.set_timestamp(in.timestamp(i));
      out.set_timestamp(in.timestamp(i));
      call(in.values[i], ctx, out);
    }
    out.flush();
    side_outputs_.flush();
  }

  F fn_;
  BroadcastStates states_;
  SideOutputs side_outputs_;
  std::unique_ptr<ReadOnlyBroadcastContext> read_only_;
  std::unique_ptr<WritableBroadcastContext> writable_;
};

}  // namespace sluice::operators
