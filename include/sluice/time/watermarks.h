// Event time: where records get their timestamps and how watermarks are generated (Flink's
// WatermarkStrategy).
//
//   auto strategy = sluice::WatermarkStrategy<Txn>::for_bounded_out_of_orderness(5s)
//                       .with_timestamp_assigner([](const Txn& t, sluice::Timestamp) { return t.ts;
//                       }) .with_idleness(30s);
//   env.from_source(source, strategy, "transactions")        // or
//   stream.assign_timestamps_and_watermarks(strategy)
//
// Generators are called once per batch (on_batch), not per record; the built-in ones loop over the
// batch's timestamps in place. Periodic generators emit every `auto-watermark-interval` (200 ms, a
// job flag) of processing time. Bounded out-of-orderness emits max timestamp − bound − 1 ms, as
// Flink. Watermarks never go backwards; the end of a bounded input emits the maximum watermark.
//
// Idleness: with_idleness(t) marks the output idle when no record arrived for t, so it no longer
// holds back the watermark downstream, and active again with the next record.
//
// Per split: when the batches come straight from a source whose reader writes through per-split
// outputs (ReaderOutput::create_output_for_split), every split gets its own generator (and its own
// idleness); the watermark is the minimum over the splits that are not idle, and the output is
// idle when all of them are. A released (finished) split no longer counts. Otherwise there is one
// generator per subtask.
//
// Threading: a strategy is copied into every subtask; generators are per subtask.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>

#include "sluice/core/time.h"
#include "sluice/runtime/buffer.h"

namespace sluice {

class WatermarkOutput {
 public:
  virtual ~WatermarkOutput() = default;
  // Ignored unless it advances the watermark.
  virtual void emit_watermark(Timestamp watermark) = 0;
  virtual void mark_idle() = 0;
  virtual void mark_active() = 0;
};

template <class T>
class WatermarkGenerator {
 public:
  virtual ~WatermarkGenerator() = default;
  // Called for every record (for punctuated watermarks). Not called when on_batch is overridden.
  virtual void on_event(const T& /*value*/, Timestamp /*timestamp*/, WatermarkOutput& /*out*/) {}
  // Called once per batch of records, after their timestamps were assigned.
  virtual void on_batch(const RecordBuffer<T>& batch, WatermarkOutput& out) {
    for (size_t i = 0; i < batch.size(); ++i) on_event(batch.values[i], batch.timestamp(i), out);
  }
  // Called every auto-watermark interval of processing time.
  virtual void on_periodic_emit(WatermarkOutput& /*out*/) {}
};

template <class T>
class BoundedOutOfOrdernessWatermarks final : public WatermarkGenerator<T> {
 public:
  explicit BoundedOutOfOrdernessWatermarks(Duration bound)
      : bound_(bound.count()), max_timestamp_(kMinWatermark + bound_ + 1) {}
  void on_batch(const RecordBuffer<T>& batch, WatermarkOutput&) override {
    for (Timestamp ts : batch.timestamps) max_timestamp_ = std::max(max_timestamp_, ts);
  }
  void on_periodic_emit(WatermarkOutput& out) override {
    out.emit_watermark(max_timestamp_ - bound_ - 1);
  }

 private:
  int64_t bound_;
  Timestamp max_timestamp_;
};

// Wraps a generator: idle after `timeout` of processing time without records.
template <class T>
class IdlenessWatermarks final : public WatermarkGenerator<T> {
 public:
  IdlenessWatermarks(std::unique_ptr<WatermarkGenerator<T>> inner, Duration timeout)
      : inner_(std::move(inner)), timeout_(timeout.count()) {}
  void on_batch(const RecordBuffer<T>& batch, WatermarkOutput& out) override {
    last_activity_ = wall_clock_millis();
    if (idle_) {
      idle_ = false;
      out.mark_active();
    }
    inner_->on_batch(batch, out);
  }
  void on_periodic_emit(WatermarkOutput& out) override {
    if (idle_) return;
    const Timestamp now = wall_clock_millis();
    if (last_activity_ == kMinWatermark) last_activity_ = now;
    if (now - last_activity_ >= timeout_) {
      idle_ = true;
      out.mark_idle();
      return;
    }
    inner_->on_periodic_emit(out);
  }

 private:
  std::unique_ptr<WatermarkGenerator<T>> inner_;
  int64_t timeout_;
  Timestamp last_activity_ = kMinWatermark;
  bool idle_ = false;
};

// Keeps the timestamp a record already has (from its source).
struct RecordTimestamp {
  template <class T>
  Timestamp operator()(const T&, Timestamp existing) const {
    return existing;
  }
};

template <class T, class Assigner = RecordTimestamp>
class WatermarkStrategy {
 public:
  using GeneratorFactory = std::function<std::unique_ptr<WatermarkGenerator<T>>()>;

  static WatermarkStrategy for_monotonous_timestamps() {
    WatermarkStrategy strategy = for_bounded_out_of_orderness(Duration(0));
    strategy.description_ = "monotonous timestamps";
    return strategy;
  }
  template <class Rep, class Period>
  static WatermarkStrategy for_bounded_out_of_orderness(std::chrono::duration<Rep, Period> bound) {
    auto millis = std::chrono::duration_cast<Duration>(bound);
    WatermarkStrategy strategy(
        [millis] { return std::make_unique<BoundedOutOfOrdernessWatermarks<T>>(millis); });
    strategy.description_ = "bounded out-of-orderness " + std::to_string(millis.count()) + " ms";
    return strategy;
  }
  // A custom generator (periodic, punctuated, or both).
  static WatermarkStrategy for_generator(GeneratorFactory factory) {
    WatermarkStrategy strategy(std::move(factory));
    strategy.description_ = "custom generator";
    return strategy;
  }
  // Timestamps only: no watermark until the end of the input.
  static WatermarkStrategy no_watermarks() {
    WatermarkStrategy strategy([] { return std::make_unique<WatermarkGenerator<T>>(); });
    strategy.description_ = "no watermarks";
    return strategy;
  }

  // fn(const T&, Timestamp existing) -> Timestamp, or fn(const T&) -> Timestamp.
  template <class F>
  auto with_timestamp_assigner(F fn) const {
    if constexpr (std::is_invocable_v<F&, const T&, Timestamp>) {
      return WatermarkStrategy<T, F>(factory_, idleness_, std::move(fn), description_);
    } else {
      auto adapted = [fn](const T& value, Timestamp) { return fn(value); };
      return WatermarkStrategy<T, decltype(adapted)>(factory_, idleness_, std::move(adapted),
                                                     description_);
    }
  }
  template <class Rep, class Period>
  WatermarkStrategy with_idleness(std::chrono::duration<Rep, Period> timeout) const {
    WatermarkStrategy copy = *this;
    copy.idleness_ = std::chrono::duration_cast<Duration>(timeout);
    return copy;
  }

  std::unique_ptr<WatermarkGenerator<T>> create_generator() const {
    auto generator = factory_();
    if (idleness_.count() > 0) {
      generator = std::make_unique<IdlenessWatermarks<T>>(std::move(generator), idleness_);
    }
    return generator;
  }
  Assigner& assigner() { return assigner_; }
  // For EXPLAIN: how watermarks are made ("bounded out-of-orderness 2000 ms", ...).
  const std::string& description() const { return description_; }
  Duration idleness() const { return idleness_; }

  WatermarkStrategy(GeneratorFactory factory, Duration idleness, Assigner assigner,
                    std::string description)
      : factory_(std::move(factory)),
        idleness_(idleness),
        assigner_(std::move(assigner)),
        description_(std::move(description)) {}

 private:
  explicit WatermarkStrategy(GeneratorFactory factory) : factory_(std::move(factory)) {}

  GeneratorFactory factory_;
  Duration idleness_{0};
  Assigner assigner_{};
  std::string description_;
};

}  // namespace sluice
