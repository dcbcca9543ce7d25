// TimestampsAndWatermarksOperator (Flink's): assigns event timestamps to a whole batch in a loop,
// calls the strategy's generator once per batch, and emits watermarks after the batch's records.
// Per split: when the batches come straight from a reader writing through per-split outputs
// (RecordBuffer::split_runs), every split gets its own generator and idleness, and the watermark
// is the minimum over the splits that are not idle (see sluice/time/watermarks.h).
//
// Threading: as every operator, owned and called by one task thread.
#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "sluice/operators/typed_operator.h"
#include "sluice/runtime/source.h"
#include "sluice/time/watermarks.h"

namespace sluice::operators {

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
  OperatorDescription describe() const override {
    auto d = OperatorDescription::of<T, T>("timestamps_and_watermarks");
    d.add("watermarks", strategy_.description());
    if constexpr (std::is_same_v<Assigner, RecordTimestamp>) {
      d.add("timestamps", "the source's");
    } else {
      d.add("timestamps", readable_type_name<Assigner>());
    }
    const auto idleness = strategy_.idleness().count();
    d.add("idleness", idleness > 0 ? std::to_string(idleness) + " ms" : "off");
    return d;
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

}  // namespace sluice::operators
