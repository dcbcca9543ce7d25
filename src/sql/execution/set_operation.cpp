// INTERSECT and EXCEPT, with or without ALL: the right input is counted by row key, then the
// left rows go through in order. Distinct forms emit each qualifying row once; ALL forms emit
// min(left count, right count) (INTERSECT ALL) or left count - right count (EXCEPT ALL) copies.
// In parallel, every instance collects its parts of both inputs; the last to arrive computes the
// result, which instance 0 emits.
#include <absl/container/flat_hash_map.h>

#include "physical_operator.h"
#include "row_key.h"

namespace sluice::sql {

namespace {

struct SetOperationShared {
  InstanceBarrier barrier;
  ChunkCollection left;
  ChunkCollection right;
  ChunkCollection result;
};

class SetOperationOperator : public PhysicalOperator {
 public:
  SetOperationOperator(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right,
                       ExecutionContext& context, size_t instance)
      : PhysicalOperator(plan.types()),
        intersect_(plan.set_op == QueryNode::SetOp::kIntersect),
        all_(plan.all),
        left_(std::move(left)),
        right_(std::move(right)),
        context_(context),
        shared_(context.shared<SetOperationShared>(&plan)),
        instance_(instance) {}

  bool next(DataChunk& out) override {
    if (!done_) {
      done_ = true;
      ChunkCollection left;
      ChunkCollection right;
      left.consume(*left_);
      right.consume(*right_);
      shared_.barrier.arrive(
          context_,
          [&] {
            shared_.left.append(std::move(left));
            shared_.right.append(std::move(right));
          },
          [&] { compute(); });
    }
    out.reset();
    if (instance_ != 0 || emitted_ >= shared_.result.chunks.size()) return false;
    const DataChunk& chunk = *shared_.result.chunks[emitted_++];
    for (size_t c = 0; c < out.column_count(); ++c)
      out.column(c).copy_from(chunk.column(c), chunk.size());
    out.set_size(chunk.size());
    return true;
  }

 private:
  static void encode_chunk(RowKeyEncoder& encoder, const DataChunk& chunk) {
    std::vector<const Vector*> columns;
    for (size_t c = 0; c < chunk.column_count(); ++c) columns.push_back(&chunk.column(c));
    encoder.encode(columns, chunk.size());
  }

  void compute() {
    absl::flat_hash_map<std::string, int64_t> right_counts;
    absl::flat_hash_map<std::string, int64_t> left_seen;
    RowKeyEncoder encoder;
    for (const auto& chunk : shared_.right.chunks) {
      encode_chunk(encoder, *chunk);
      for (size_t r = 0; r < chunk->size(); ++r) ++right_counts[std::string(encoder.key(r))];
    }
    SelectionVector sel;
    for (const auto& chunk : shared_.left.chunks) {
      encode_chunk(encoder, *chunk);
      size_t kept = 0;
      for (size_t r = 0; r < chunk->size(); ++r) {
        std::string key(encoder.key(r));
        auto it = right_counts.find(key);
        int64_t in_right = it == right_counts.end() ? 0 : it->second;
        int64_t seen = ++left_seen[key];
        bool emit = intersect_ ? (all_ ? seen <= in_right : (seen == 1 && in_right > 0))
                               : (all_ ? seen > in_right : (seen == 1 && in_right == 0));
        if (emit) sel.data()[kept++] = static_cast<uint32_t>(r);
      }
      if (kept == 0) continue;
      auto out = std::make_unique<DataChunk>(types_);
      out->slice(*chunk, sel.data(), kept);
      shared_.result.rows += kept;
      shared_.result.chunks.push_back(std::move(out));
    }
  }

  bool intersect_;
  bool all_;
  PhysicalPlan left_;
  PhysicalPlan right_;
  ExecutionContext& context_;
  SetOperationShared& shared_;
  size_t instance_;
  bool done_ = false;
  size_t emitted_ = 0;
};

}  // namespace

PhysicalPlan make_set_operation(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right,
                                ExecutionContext& context, size_t instance) {
  return std::make_unique<SetOperationOperator>(plan, std::move(left), std::move(right), context,
                                                instance);
}

}  // namespace sluice::sql
