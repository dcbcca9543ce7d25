// ORDER BY: materializes its input, sorts row references by the sort keys (NULLs first or last
// per key), and emits the rows in order. With a LIMIT (top-N), only the first offset + limit
// rows are emitted. In parallel, every instance collects its part, the last to arrive sorts them
// all, and instance 0 emits the result (the order is one sequence).
#include <algorithm>

#include "expression_executor.h"
#include "physical_operator.h"

namespace sluice::sql {

namespace {

struct SortShared {
  InstanceBarrier barrier;
  ChunkCollection input;
  std::vector<uint64_t> order;
  size_t begin = 0;
  size_t end = 0;
};

class SortOperator : public PhysicalOperator {
 public:
  SortOperator(const LogicalOperator& plan, PhysicalPlan child, ExecutionContext& context,
               size_t instance)
      : PhysicalOperator(plan.types()),
        context_(context),
        shared_(context.shared<SortShared>(&plan)),
        instance_(instance),
        child_(std::move(child)),
        keys_(plan.sort_keys),
        limit_(plan.kind == LogicalKind::kTopN ? plan.limit : std::nullopt),
        offset_(plan.kind == LogicalKind::kTopN ? plan.offset : 0) {}

  bool next(DataChunk& out) override {
    if (!sorted_) sort();
    out.reset();
    if (instance_ != 0 || position_ >= shared_.end) return false;
    size_t n = std::min(kBatchSize, shared_.end - position_);
    for (size_t i = 0; i < n; ++i) {
      uint64_t ref = shared_.order[position_ + i];
      size_t row = ChunkCollection::row_of(ref);
      for (size_t c = 0; c < out.column_count(); ++c) {
        out.column(c).copy_row(i, shared_.input.column(ref, c), row);
      }
    }
    position_ += n;
    out.set_size(n);
    return true;
  }

 private:
  bool less(const ChunkCollection& input, uint64_t a, uint64_t b) const {
    size_t ra = ChunkCollection::row_of(a);
    size_t rb = ChunkCollection::row_of(b);
    for (const SortKey& key : keys_) {
      int c = compare_for_order(input.column(a, key.column), ra, input.column(b, key.column), rb,
                                key.descending, key.nulls_first);
      if (c != 0) return c < 0;
    }
    return false;
  }

  void sort() {
    sorted_ = true;
    ChunkCollection local;
    local.consume(*child_);
    shared_.barrier.arrive(
        context_, [&] { shared_.input.append(std::move(local)); }, [&] { sort_all(); });
    position_ = shared_.begin;
  }

  // The last instance: orders every row.
  void sort_all() {
    const ChunkCollection& input = shared_.input;
    std::vector<uint64_t>& order = shared_.order;
    order.reserve(input.rows);
    for (size_t c = 0; c < input.chunks.size(); ++c) {
      for (size_t r = 0; r < input.chunks[c]->size(); ++r) order.push_back((uint64_t{c} << 32) | r);
    }
    auto cmp = [&](uint64_t a, uint64_t b) { return less(input, a, b); };
    size_t end = order.size();
    if (limit_) {
      end = static_cast<size_t>(std::min<uint64_t>(order.size(), *limit_ + offset_));
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(end),
                        order.end(), [&](uint64_t a, uint64_t b) {
                          // Ties keep input order, as a stable sort would.
                          return cmp(a, b) || (!cmp(b, a) && a < b);
                        });
    } else {
      std::stable_sort(order.begin(), order.end(), cmp);
    }
    shared_.end = end;
    shared_.begin = static_cast<size_t>(std::min<uint64_t>(offset_, end));
  }

  ExecutionContext& context_;
  SortShared& shared_;
  size_t instance_;
  PhysicalPlan child_;
  std::vector<SortKey> keys_;
  std::optional<uint64_t> limit_;
  uint64_t offset_;
  bool sorted_ = false;
  size_t position_ = 0;
};

}  // namespace

PhysicalPlan make_sort(const LogicalOperator& plan, PhysicalPlan child, ExecutionContext& context,
                       size_t instance) {
  return std::make_unique<SortOperator>(plan, std::move(child), context, instance);
}

}  // namespace sluice::sql
