// MapOperator: one output record per input record (DataStream::map).
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"

namespace sluice::operators {

template <class In, class Out, class F>
class MapOperator final : public TypedOperator<Out> {
 public:
  explicit MapOperator(F fn) : fn_(std::move(fn)) {}
  void open() override { detail::open_function(fn_, this->context()); }
  void close() override { detail::close_function(fn_); }
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of<In, Out>("map");
    d.add("function", readable_type_name<F>());
    return d;
  }
  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<In>&>(batch);
    auto& out = this->out_;
    const size_t n = in.values.size();
    if constexpr (std::is_trivially_copyable_v<Out> && std::is_default_constructible_v<Out>) {
      // Resize, then assign by index: no capacity check per record, so the loop vectorizes.
      out.values.resize(n);
      Out* dst = out.values.data();
      const In* src = in.values.data();
      for (size_t i = 0; i < n; ++i) dst[i] = std::invoke(fn_, src[i]);
    } else if constexpr (!std::is_invocable_v<F&, const In&>) {
      // fn takes the record by rvalue (to move parts of it out): it gets the record itself
      // unless another consumer still reads the buffer.
      out.values.reserve(n);
      for (auto& value : in.values) {
        out.values.push_back(in.shared ? std::invoke(fn_, In(value))
                                       : std::invoke(fn_, std::move(value)));
      }
    } else {
      out.values.reserve(n);
      for (const auto& value : in.values) out.values.push_back(std::invoke(fn_, value));
    }
    out.timestamps.assign(in.timestamps.begin(), in.timestamps.end());
    this->emit_output();
  }

 private:
  F fn_;
};

}  // namespace sluice::operators
