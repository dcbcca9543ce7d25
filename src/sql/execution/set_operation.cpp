// INTERSECT and EXCEPT, with or without ALL: the right input is counted by row key, then left
// rows stream through. Distinct forms emit each qualifying row once; ALL forms emit
// min(left count, right count) (INTERSECT ALL) or left count - right count (EXCEPT ALL) copies.
#include <absl/container/flat_hash_map.h>

#include "physical_operator.h"
#include "row_key.h"

namespace sluice::sql {

namespace {

class SetOperationOperator : public PhysicalOperator {
 public:
  SetOperationOperator(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right)
      : PhysicalOperator(plan.types()),
        intersect_(plan.set_op == QueryNode::SetOp::kIntersect),
        all_(plan.all),
        left_(std::move(left)),
        right_(std::move(right)),
        input_(left_->types()) {}

  bool next(DataChunk& out) override {
    if (!built_) build();
    while (true) {
      if (!left_->next(input_)) {
        out.reset();
        return false;
      }
      size_t n = input_.size();
      std::vector<const Vector*> columns;
      for (size_t c = 0; c < input_.column_count(); ++c) columns.push_back(&input_.column(c));
      encoder_.encode(columns, n);
      size_t kept = 0;
      for (size_t r = 0; r < n; ++r) {
        std::string key(encoder_.key(r));
        auto it = right_counts_.find(key);
        int64_t in_right = it == right_counts_.end() ? 0 : it->second;
        int64_t& seen = left_seen_[key];
        ++seen;
        bool emit;
        if (intersect_) {
          emit = all_ ? seen <= in_right : (seen == 1 && in_right > 0);
        } else {
          emit = all_ ? seen > in_right : (seen == 1 && in_right == 0);
        }
        if (emit) sel_.data()[kept++] = static_cast<uint32_t>(r);
      }
      if (kept == 0) continue;
      out.slice(input_, sel_.data(), kept);
      return true;
    }
  }

 private:
  void build() {
    built_ = true;
    DataChunk chunk(right_->types());
    while (right_->next(chunk)) {
      std::vector<const Vector*> columns;
      for (size_t c = 0; c < chunk.column_count(); ++c) columns.push_back(&chunk.column(c));
      encoder_.encode(columns, chunk.size());
      for (size_t r = 0; r < chunk.size(); ++r) ++right_counts_[std::string(encoder_.key(r))];
    }
  }

  bool intersect_;
  bool all_;
  PhysicalPlan left_;
  PhysicalPlan right_;
  DataChunk input_;
  RowKeyEncoder encoder_;
  absl::flat_hash_map<std::string, int64_t> right_counts_;
  absl::flat_hash_map<std::string, int64_t> left_seen_;
  SelectionVector sel_;
  bool built_ = false;
};

}  // namespace

PhysicalPlan make_set_operation(const LogicalOperator& plan, PhysicalPlan left,
                                PhysicalPlan right) {
  return std::make_unique<SetOperationOperator>(plan, std::move(left), std::move(right));
}

}  // namespace sluice::sql
