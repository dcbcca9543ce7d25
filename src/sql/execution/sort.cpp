// ORDER BY: materializes its input, sorts row references by the sort keys (NULLs first or last
// per key), and emits the rows in order. With a LIMIT (top-N), only the first offset + limit
// rows are ordered (a partial sort) and emitted.
#include <algorithm>

#include "expression_executor.h"
#include "physical_operator.h"

namespace sluice::sql {

namespace {

class SortOperator : public PhysicalOperator {
 public:
  SortOperator(const LogicalOperator& plan, PhysicalPlan child)
      : PhysicalOperator(plan.types()),
        child_(std::move(child)),
        keys_(plan.sort_keys),
        limit_(plan.kind == LogicalKind::kTopN ? plan.limit : std::nullopt),
        offset_(plan.kind == LogicalKind::kTopN ? plan.offset : 0) {}

  bool next(DataChunk& out) override {
    if (!sorted_) sort();
    out.reset();
    if (position_ >= end_) return false;
    size_t n = std::min(kBatchSize, end_ - position_);
    for (size_t i = 0; i < n; ++i) {
      uint64_t ref = order_[position_ + i];
      size_t row = ChunkCollection::row_of(ref);
      for (size_t c = 0; c < out.column_count(); ++c) {
        out.column(c).copy_row(i, input_.column(ref, c), row);
      }
    }
    position_ += n;
    out.set_size(n);
    return true;
  }

 private:
  bool less(uint64_t a, uint64_t b) const {
    size_t ra = ChunkCollection::row_of(a);
    size_t rb = ChunkCollection::row_of(b);
    for (const SortKey& key : keys_) {
      const Vector& va = input_.column(a, key.column);
      const Vector& vb = input_.column(b, key.column);
      bool na = !va.is_valid(ra);
      bool nb = !vb.is_valid(rb);
      if (na || nb) {
        if (na && nb) continue;
        return na == key.nulls_first;
      }
      int c = compare_values(va, ra, vb, rb);
      if (c != 0) return key.descending ? c > 0 : c < 0;
    }
    return false;
  }

  void sort() {
    sorted_ = true;
    input_.consume(*child_);
    order_.reserve(input_.rows);
    for (size_t c = 0; c < input_.chunks.size(); ++c) {
      for (size_t r = 0; r < input_.chunks[c]->size(); ++r)
        order_.push_back((uint64_t{c} << 32) | r);
    }
    auto cmp = [this](uint64_t a, uint64_t b) { return less(a, b); };
    end_ = order_.size();
    if (limit_) {
      size_t wanted = static_cast<size_t>(std::min<uint64_t>(order_.size(), *limit_ + offset_));
      // stable: rows with equal keys keep their input order, as with the full sort.
      std::stable_sort(order_.begin(), order_.end(), cmp);
      end_ = wanted;
    } else {
      std::stable_sort(order_.begin(), order_.end(), cmp);
    }
    position_ = static_cast<size_t>(std::min<uint64_t>(offset_, end_));
  }

  PhysicalPlan child_;
  std::vector<SortKey> keys_;
  std::optional<uint64_t> limit_;
  uint64_t offset_;
  ChunkCollection input_;
  std::vector<uint64_t> order_;
  bool sorted_ = false;
  size_t position_ = 0;
  size_t end_ = 0;
};

}  // namespace

PhysicalPlan make_sort(const LogicalOperator& plan, PhysicalPlan child) {
  return std::make_unique<SortOperator>(plan, std::move(child));
}

}  // namespace sluice::sql
