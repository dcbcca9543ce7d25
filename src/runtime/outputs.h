// Outputs inside a task: to the next chained operator (a direct call, no queue), to several
// targets, and the counting wrapper every operator's main output goes through. Also
// OperatorFailure, which tags an exception with the operator it escaped from so the job's error
// can name it.
//
// Threading: used by the owning task's thread only.
#pragma once

#include <exception>
#include <memory>
#include <vector>

#include "sluice/runtime/operator.h"

namespace sluice::runtime {

struct OperatorFailure {
  int node_id;
  std::exception_ptr cause;
};

// Runs `fn`, converting any escaping exception that is not already an OperatorFailure into one
// attributed to `node_id`.
template <class F>
void attributed_to(int node_id, F&& fn) {
  try {
    fn();
  } catch (const OperatorFailure&) {
    throw;
  } catch (...) {
    throw OperatorFailure{node_id, std::current_exception()};
  }
}

class ChainedOutput final : public Output {
 public:
  ChainedOutput(Operator* next, int next_node_id, int next_input, OperatorMetrics* next_metrics)
      : next_(next),
        next_node_id_(next_node_id),
        next_input_(next_input),
        next_metrics_(next_metrics) {}
  void emit(Buffer& batch) override;
  void emit_watermark(Timestamp watermark) override;
  void emit_latency_marker(const LatencyMarker& marker) override;
  void emit_watermark_status(bool idle) override;

 private:
  Operator* next_;
  int next_node_id_;
  int next_input_;
  OperatorMetrics* next_metrics_;
};

class FanOutOutput final : public Output {
 public:
  explicit FanOutOutput(std::vector<Output*> targets) : targets_(std::move(targets)) {}
  void emit(Buffer& batch) override {
    const bool was_shared = batch.shared;
    batch.shared = true;
    for (auto* t : targets_) t->emit(batch);
    batch.shared = was_shared;
  }
  void emit_watermark(Timestamp watermark) override {
    for (auto* t : targets_) t->emit_watermark(watermark);
  }
  void emit_latency_marker(const LatencyMarker& marker) override {
    for (auto* t : targets_) t->emit_latency_marker(marker);
  }
  void emit_watermark_status(bool idle) override {
    for (auto* t : targets_) t->emit_watermark_status(idle);
  }

 private:
  std::vector<Output*> targets_;
};

class CountingOutput final : public Output {
 public:
  CountingOutput(Output* inner, OperatorMetrics* metrics) : inner_(inner), metrics_(metrics) {}
  void emit(Buffer& batch) override {
    metrics_->records_out.add(batch.size());
    inner_->emit(batch);
  }
  void emit_watermark(Timestamp watermark) override { inner_->emit_watermark(watermark); }
  void emit_latency_marker(const LatencyMarker& marker) override {
    inner_->emit_latency_marker(marker);
  }
  void emit_watermark_status(bool idle) override { inner_->emit_watermark_status(idle); }

 private:
  Output* inner_;
  OperatorMetrics* metrics_;
};

}  // namespace sluice::runtime
