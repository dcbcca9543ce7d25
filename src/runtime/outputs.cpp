#include "runtime/outputs.h"

namespace sluice::runtime {

void ChainedOutput::emit(Buffer& batch) {
  next_metrics_->records_in.add(batch.size());
  attributed_to(next_node_id_, [&] { next_->process_batch(batch, next_input_); });
}

void ChainedOutput::emit_watermark(Timestamp watermark) {
  attributed_to(next_node_id_, [&] { next_->process_watermark(watermark); });
}

void ChainedOutput::emit_watermark_status(bool idle) {
  attributed_to(next_node_id_, [&] { next_->process_watermark_status(idle); });
}

void ChainedOutput::emit_latency_marker(const LatencyMarker& marker) {
  attributed_to(next_node_id_, [&] { next_->process_latency_marker(marker); });
}

}  // namespace sluice::runtime
