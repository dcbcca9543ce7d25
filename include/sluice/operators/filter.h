// FilterOperator: keeps the records a predicate accepts (DataStream::filter).
//
// Threading: as every Operator, owned and called by one task thread.
#pragma once

#include <type_traits>
#include <utility>

#include "sluice/functions/process_function.h"
#include "sluice/operators/typed_operator.h"

namespace sluice::operators {

template <class T, class F>
class FilterOperator final : public TypedOperator<T> {
 public:
  explicit FilterOperator(F fn) : fn_(std::move(fn)) {}
  void open() override { detail::open_function(fn_, this->context()); }
  void close() override { detail::close_function(fn_); }
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of<T, T>("filter");
    d.add("function", readable_type_name<F>());
    return d;
  }
  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<T>&>(batch);
    auto& out = this->out_;
    const size_t n = in.values.size();
    if (in.timestamps.empty() && std::is_trivially_copyable_v<T> &&
        std::is_default_constructible_v<T>) {
      // Branch-free compaction: always copy, advance only when kept. The predicate's outcome is
      // often unpredictable; a mispredicted branch per record costs more than the copy.
      out.values.resize(n);
      T* dst = out.values.data();
      size_t kept = 0;
      for (size_t i = 0; i < n; ++i) {
        dst[kept] = in.values[i];
        kept += static_cast<bool>(fn_(in.values[i]));
      }
      out.values.resize(kept);
    } else if (in.shared) {
      for (size_t i = 0; i < n; ++i) {
        if (!fn_(in.values[i])) continue;
        out.values.push_back(in.values[i]);
        if (!in.timestamps.empty()) out.timestamps.push_back(in.timestamps[i]);
      }
    } else {
      // This consumer is the buffer's last reader: kept records move.
      for (size_t i = 0; i < n; ++i) {
        if (!fn_(std::as_const(in.values[i]))) continue;
        out.values.push_back(std::move(in.values[i]));
        if (!in.timestamps.empty()) out.timestamps.push_back(in.timestamps[i]);
      }
    }
    this->emit_output();
  }

 private:
  F fn_;
};

}  // namespace sluice::operators
