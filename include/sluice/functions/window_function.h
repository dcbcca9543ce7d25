// What window functions implement and receive: AggregateFunction (incremental aggregation),
// ProcessWindowFunction (all of a window's records at once) and its WindowContext, with the keyed
// state a window function may use (global per key, or per key and window).
//
// Threading: a function instance is used by one subtask's thread only.
#pragma once

#include <memory>
#include <vector>

#include "sluice/functions/collector.h"
#include "sluice/functions/keyed_runtime_context.h"
#include "sluice/window/windows.h"

namespace sluice {

// Incremental aggregation (Flink's AggregateFunction). Implementations are called without virtual
// dispatch: the operator stores the concrete type.
template <class In, class Acc, class Out>
class AggregateFunction {
 public:
  using input_type = In;
  using accumulator_type = Acc;
  using output_type = Out;
  virtual ~AggregateFunction() = default;
  virtual Acc create_accumulator() const = 0;
  virtual void add(const In& value, Acc& accumulator) const = 0;
  virtual Out get_result(const Acc& accumulator) const = 0;
  virtual void merge(const Acc& from, Acc& into) const = 0;
};

// The keyed state a window function may use: global (per key, shared by all its windows) and
// per window (per key and window, removed with the window).
// Created when a window function first asks for state, or restored: most window functions keep
// none, and a RocksDB backend is not free.
template <class K>
class WindowStateBackends {
 public:
  explicit WindowStateBackends(const OperatorContext& c) : context_(c) {}

  KeyedStateBackend<K>& global() {
    if (!global_) global_ = detail::make_operator_backend<K>(context_, "global");
    return *global_;
  }
  KeyedStateBackend<WindowedKey<K>>& window() {
    if (!window_) window_ = detail::make_operator_backend<WindowedKey<K>>(context_, "window");
    return *window_;
  }
  // Per-window state exists and has states registered.
  bool has_window_state() const { return window_ && !window_->empty(); }

  // The `backends` of a window operator's KeyedOperatorSnapshot: global first, then per window.
  std::vector<BackendMaterialize> snapshot_async(bool savepoint) {
    auto of = [&](auto& backend) -> BackendMaterialize {
      if (!backend) return [](SnapshotFiles&) { return KeyedBackendSnapshot{}; };
      return backend->snapshot_async(savepoint);
    };
    return {of(global_), of(window_)};
  }
  void restore(std::vector<KeyedOperatorSnapshot>& snapshots) {
    std::vector<KeyedBackendSnapshot> globals, windows;
    auto used = [](const KeyedBackendSnapshot& s) {
      return !s.groups.empty() || !s.native.empty();
    };
    for (auto& snapshot : snapshots) {
      if (used(snapshot.backends.at(0))) globals.push_back(std::move(snapshot.backends.at(0)));
      if (used(snapshot.backends.at(1))) windows.push_back(std::move(snapshot.backends.at(1)));
    }
    if (!globals.empty()) global().restore(std::move(globals));
    if (!windows.empty()) window().restore(std::move(windows));
  }

 private:
  const OperatorContext& context_;
  std::unique_ptr<KeyedStateBackend<K>> global_;
  std::unique_ptr<KeyedStateBackend<WindowedKey<K>>> window_;
};

// What a ProcessWindowFunction sees besides the key and the records.
template <class K>
class WindowContext {
 public:
  WindowContext(SideOutputs& side_outputs, WindowStateBackends<K>& states,
                const OperatorContext& context, bool merging)
      : side_outputs_(side_outputs),
        states_(states),
        max_parallelism_(context.max_parallelism),
        clock_(context.processing_time),
        merging_(merging) {}
  const TimeWindow& window() const { return window_; }
  Timestamp current_watermark() const { return watermark_; }
  Timestamp current_processing_time() const { return clock_->now(); }
  template <class X>
  void output(const OutputTag<X>& tag, const X& value) const {
    side_outputs_.emit(tag, value, window_.max_timestamp());
  }
  // State of the key, shared by all its windows (Flink's globalState()). Handles refer to the
  // key of the current call: get them inside process().
  KeyedStateStore<K> global_state() const {
    states_.global().set_current_key(*key_);
    return KeyedStateStore<K>(states_.global());
  }
  // State of the key and this window, removed when the window is (Flink's windowState()).
  KeyedStateStore<WindowedKey<K>> window_state() const {
    if (merging_) {
      throw Error(ErrorCategory::kInvalidJob,
                  "per-window state is not available with merging (session) windows: a merged "
                  "window has no single state to keep");
    }
    states_.window().set_current_key(WindowedKey<K>{*key_, window_},
                                     key_group_for_key(*key_, max_parallelism_));
    return KeyedStateStore<WindowedKey<K>>(states_.window());
  }

  // Internal: the key and window of the next call.
  void set(const K& key, const TimeWindow& window, Timestamp watermark) {
    key_ = &key;
    window_ = window;
    watermark_ = watermark;
  }

 private:
  SideOutputs& side_outputs_;
  WindowStateBackends<K>& states_;
  int max_parallelism_;
  const ProcessingTimeService* clock_;
  bool merging_;
  const K* key_ = nullptr;
  TimeWindow window_;
  Timestamp watermark_ = kMinWatermark;
};

template <class In, class Out, class Key>
class ProcessWindowFunction {
 public:
  using output_type = Out;
  using Context = WindowContext<Key>;
  virtual ~ProcessWindowFunction() = default;
  virtual void process(const Key& key, const Context& context, const std::vector<In>& elements,
                       Collector<Out>& out) = 0;
};

}  // namespace sluice
