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

#include "sluice/api/operators.h"
#include "sluice/core/time.h"
#include "sluice/runtime/buffer.h"
#include "sluice/runtime/source.h"

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
    return for_bounded_out_of_orderness(Duration(0));
  }
  template <class Rep, class Period>
  static WatermarkStrategy for_bounded_out_of_orderness(std::chrono::duration<Rep, Period> bound) {
    auto millis = std::chrono::duration_cast<Duration>(bound);
    return WatermarkStrategy(
        [millis] { return std::make_unique<BoundedOutOfOrdernessWatermarks<T>>(millis); });
  }
  // A custom generator (periodic, punctuated, or both).
  static WatermarkStrategy for_generator(GeneratorFactory factory) {
    return WatermarkStrategy(std::move(factory));
  }
  // Timestamps only: no watermark until the end of the input.
  static WatermarkStrategy no_watermarks() {
    return WatermarkStrategy([] { return std::make_unique<WatermarkGenerator<T>>(); });
  }

  // fn(const T&, Timestamp existing) -> Timestamp, or fn(const T&) -> Timestamp.
  template <class F>
  auto with_timestamp_assigner(F fn) const {
    if constexpr (std::is_invocable_v<F&, const T&, Timestamp>) {
      return WatermarkStrategy<T, F>(factory_, idleness_, std::move(fn));
    } else {
      auto adapted = [fn](const T& value, Timestamp) { return fn(value); };
      return WatermarkStrategy<T, decltype(adapted)>(factory_, idleness_, std::move(adapted));
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

  WatermarkStrategy(GeneratorFactory factory, Duration idleness, Assigner assigner)
      : factory_(std::move(factory)), idleness_(idleness), assigner_(std::move(assigner)) {}

 private:
  explicit WatermarkStrategy(GeneratorFactory factory) : factory_(std::move(factory)) {}

  GeneratorFactory factory_;
  Duration idleness_{0};
  Assigner assigner_{};
};

namespace detail {

// Assigns timestamps and generates watermarks (Flink's TimestampsAndWatermarksOperator).
// Watermarks and idleness from upstream are replaced by this operator's own, except the final
// maximum watermark of a bounded input.
template <class T, class Assigner>
class TimestampsAndWatermarksOperator final : public TypedOperator<T>, private WatermarkOutput {
 public:
  explicit TimestampsAndWatermarksOperator(WatermarkStrategy<T, Assigner> strategy)
      : strategy_(std::move(strategy)) {}

  void open() override {
    generator_ = strategy_.create_generator();
    const Configuration& config = *this->context().config;
    interval_ =
        config.get_duration("auto-watermark-interval", std::chrono::milliseconds(200)).count();
    if (interval_ > 0) schedule_next(this->context().processing_time->now());
  }
  void process_batch(Buffer& batch, int) override {
    auto& in = static_cast<RecordBuffer<T>&>(batch);
    auto& out = this->out_;
    const size_t n = in.values.size();
    if (in.shared) {
      out.values.assign(in.values.begin(), in.values.end());
    } else {
      out.values.swap(in.values);  // the records stay where they are; only timestamps change
    }
    out.timestamps.resize(n);
    Assigner& assign = strategy_.assigner();
    for (size_t i = 0; i < n; ++i) out.timestamps[i] = assign(out.values[i], in.timestamp(i));
    if (in.split_runs.empty()) {
      generator_->on_batch(out, *this);
    } else {
      on_split_runs(in.split_runs, out);
    }
    this->emit_output();
    flush_pending_watermark();
  }
  void process_watermark(Timestamp watermark) override {
    if (watermark == kMaxWatermark) {
      if (idle_) mark_active();
      emit_watermark(kMaxWatermark);
      flush_pending_watermark();
    }
  }
  void process_watermark_status(bool) override {}
  void on_processing_time(Timestamp time) override {
    if (per_split_) {
      for (auto& [number, split] : splits_) split->generator->on_periodic_emit(*split);
      combine_splits();
    } else {
      generator_->on_periodic_emit(*this);
    }
    flush_pending_watermark();
    schedule_next(time);
  }

 private:
  // The watermark state of one source split.
  struct SplitWatermarks final : WatermarkOutput {
    std::unique_ptr<WatermarkGenerator<T>> generator;
    Timestamp watermark = kMinWatermark;
    bool idle = false;
    void emit_watermark(Timestamp w) override { watermark = std::max(watermark, w); }
    void mark_idle() override { idle = true; }
    void mark_active() override { idle = false; }
  };

  void on_split_runs(const std::vector<SplitRun>& runs, const RecordBuffer<T>& out) {
    per_split_ = true;
    uint32_t begin = 0;
    for (const SplitRun& run : runs) {
      if (run.split == ReaderOutput<T>::kIdleReader) {  // a reader without splits
        if (splits_.empty()) mark_idle();
        continue;
      }
      if (run.released) {
        splits_.erase(run.split);
        continue;
      }
      auto& split = splits_[run.split];
      if (!split) {
        split = std::make_unique<SplitWatermarks>();
        split->generator = strategy_.create_generator();
      }
      if (begin == 0 && run.end == out.size()) {
        split->generator->on_batch(out, *split);
      } else {
        scratch_.values.assign(out.values.begin() + begin, out.values.begin() + run.end);
        scratch_.timestamps.assign(out.timestamps.begin() + begin,
                                   out.timestamps.begin() + run.end);
        split->generator->on_batch(scratch_, *split);
      }
      begin = run.end;
    }
    combine_splits();
  }

  // The minimum over splits that are not idle; idle when every split is.
  void combine_splits() {
    if (splits_.empty()) return;  // between splits: keep the last watermark
    Timestamp combined = kMaxWatermark;
    bool any_active = false;
    for (const auto& [number, split] : splits_) {
      if (split->idle) continue;
      any_active = true;
      combined = std::min(combined, split->watermark);
    }
    if (!any_active) {
      mark_idle();
      return;
    }
    mark_active();
    emit_watermark(combined);
  }

  // WatermarkOutput. A watermark found while processing a batch goes out after the batch's records.
  void emit_watermark(Timestamp watermark) override {
    if (watermark > emitted_ && watermark > pending_) pending_ = watermark;
  }
  void mark_idle() override {
    if (idle_) return;
    flush_pending_watermark();
    idle_ = true;
    this->output().emit_watermark_status(true);
  }
  void mark_active() override {
    if (!idle_) return;
    idle_ = false;
    this->output().emit_watermark_status(false);
  }
  void flush_pending_watermark() {
    if (pending_ <= emitted_) return;
    emitted_ = pending_;
    this->output().emit_watermark(emitted_);
  }
  void schedule_next(Timestamp now) {
    this->context().processing_time->register_timer(now + interval_, this);
  }

  WatermarkStrategy<T, Assigner> strategy_;
  std::unique_ptr<WatermarkGenerator<T>> generator_;
  int64_t interval_ = 200;
  Timestamp emitted_ = kMinWatermark;
  Timestamp pending_ = kMinWatermark;
  bool idle_ = false;
  bool per_split_ = false;  // the input carries split runs
  std::map<int32_t, std::unique_ptr<SplitWatermarks>> splits_;
  RecordBuffer<T> scratch_;
};

}  // namespace detail
}  // namespace sluice
