// ORDER BY: materializes its input, sorts row references by the sort keys (NULLs first or last
// per key), and emits the rows in order. With a LIMIT (top-N), only the first offset + limit
// rows are emitted. In parallel, every instance collects its part, the last to arrive sorts them
// all, and instance 0 emits the result (the order is one sequence).
//
// External sort: an instance whose rows no longer fit its memory reservation sorts what it holds
// and writes it to a spill file as a sorted run (only its first offset + limit rows for a top-N),
// then collects again from empty. If any instance spilled, the rows still in memory are sorted as
// one more run, and instance 0 merges all runs (a k-way merge over a heap of run cursors; ties go
// to the earlier run, so rows that compare equal keep the order in which they were collected).
#include <algorithm>
#include <queue>

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
  bool spilled = false;
  std::vector<std::unique_ptr<SpillFile>> runs;
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
        offset_(plan.kind == LogicalKind::kTopN ? plan.offset : 0),
        reservation_(context.budget()) {}

  bool next(DataChunk& out) override {
    if (!sorted_) sort();
    out.reset();
    if (instance_ != 0) return false;
    if (shared_.spilled) return next_merged(out);
    if (position_ >= shared_.end) return false;
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
  // A sorted run being merged: its current chunk and row (a spilled run), or its position in the
  // shared order (the rows that stayed in memory).
  struct Cursor {
    SpillFile* file = nullptr;
    std::unique_ptr<DataChunk> chunk;
    size_t row = 0;
    size_t position = 0;
  };

  int compare_rows(const DataChunk& x, size_t a, const DataChunk& y, size_t b) const {
    for (const SortKey& key : keys_) {
      int c = compare_for_order(x.column(key.column), a, y.column(key.column), b, key.descending,
                                key.nulls_first);
      if (c != 0) return c;
    }
    return 0;
  }

  bool less(const ChunkCollection& input, uint64_t a, uint64_t b) const {
    return compare_rows(*input.chunks[a >> 32], ChunkCollection::row_of(a), *input.chunks[b >> 32],
                        ChunkCollection::row_of(b)) < 0;
  }

  void sort() {
    sorted_ = true;
    ChunkCollection local;
    std::vector<std::unique_ptr<SpillFile>> runs;
    DataChunk input(child_->types());
    while (child_->next(input)) {
      local.add(input);
      // The collected rows and, later, their order (8 bytes a row).
      if (!reservation_.try_resize(local.memory_bytes() + local.rows * sizeof(uint64_t))) {
        runs.push_back(write_run(local));
        local.clear();
        reservation_.resize_to_zero();
      }
    }
    shared_.barrier.arrive(
        context_,
        [&] {
          shared_.input.append(std::move(local));
          if (!runs.empty()) shared_.spilled = true;
          for (auto& run : runs) shared_.runs.push_back(std::move(run));
        },
        [&] { sort_all(); });
    position_ = shared_.begin;
  }

  // The row references of `input` in sort order (for a top-N only the first offset + limit).
  std::vector<uint64_t> sorted_order(const ChunkCollection& input) const {
    std::vector<uint64_t> order;
    order.reserve(input.rows);
    for (size_t c = 0; c < input.chunks.size(); ++c) {
      for (size_t r = 0; r < input.chunks[c]->size(); ++r) order.push_back((uint64_t{c} << 32) | r);
    }
    auto cmp = [&](uint64_t a, uint64_t b) { return less(input, a, b); };
    if (limit_) {
      size_t end = static_cast<size_t>(std::min<uint64_t>(order.size(), *limit_ + offset_));
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(end),
                        order.end(), [&](uint64_t a, uint64_t b) {
                          // Ties keep input order, as a stable sort would.
                          return cmp(a, b) || (!cmp(b, a) && a < b);
                        });
      order.resize(end);
    } else {
      std::stable_sort(order.begin(), order.end(), cmp);
    }
    return order;
  }

  // Writes `input`'s rows, sorted, to a new spill file.
  std::unique_ptr<SpillFile> write_run(const ChunkCollection& input) {
    std::unique_ptr<SpillFile> file = context_.new_spill_file();
    std::vector<uint64_t> order = sorted_order(input);
    DataChunk batch(types_);
    for (size_t i = 0; i < order.size(); ++i) {
      size_t n = batch.size();
      for (size_t c = 0; c < batch.column_count(); ++c) {
        batch.column(c).copy_row(n, input.column(order[i], c), ChunkCollection::row_of(order[i]));
      }
      batch.set_size(n + 1);
      if (batch.size() == kBatchSize || i + 1 == order.size()) {
        file->write_chunk(batch);
        batch.reset();
      }
    }
    file->finish_writing();
    return file;
  }

  // The last instance: orders every row still in memory.
  void sort_all() {
    shared_.order = sorted_order(shared_.input);
    size_t end = shared_.order.size();
    shared_.end = end;
    shared_.begin = static_cast<size_t>(std::min<uint64_t>(offset_, end));
  }

  // Instance 0 after a spill: the next rows of the merge of every run and the in-memory rows.
  bool next_merged(DataChunk& out) {
    if (!merge_started_) start_merge();
    size_t n = 0;
    while (n < kBatchSize && !heap_.empty() && (!limit_ || emitted_ < *limit_ + offset_)) {
      size_t c = heap_.top();
      heap_.pop();
      const auto [chunk, row] = current(cursors_[c]);
      if (emitted_ >= offset_) {
        for (size_t col = 0; col < out.column_count(); ++col) {
          out.column(col).copy_row(n, chunk->column(col), row);
        }
        ++n;
      }
      ++emitted_;
      if (advance(cursors_[c])) heap_.push(c);
    }
    out.set_size(n);
    return n > 0;
  }

  void start_merge() {
    merge_started_ = true;
    for (auto& run : shared_.runs) {
      Cursor cursor;
      cursor.file = run.get();
      cursor.chunk = std::make_unique<DataChunk>(types_);
      if (cursor.file->read_chunk(*cursor.chunk)) cursors_.push_back(std::move(cursor));
    }
    if (!shared_.order.empty()) cursors_.push_back(Cursor{});
    for (size_t c = 0; c < cursors_.size(); ++c) heap_.push(c);
  }

  std::pair<const DataChunk*, size_t> current(const Cursor& cursor) const {
    if (cursor.file) return {cursor.chunk.get(), cursor.row};
    uint64_t ref = shared_.order[cursor.position];
    return {shared_.input.chunks[ref >> 32].get(), ChunkCollection::row_of(ref)};
  }

  // Moves to the run's next row; false at its end.
  bool advance(Cursor& cursor) {
    if (!cursor.file) return ++cursor.position < shared_.order.size();
    if (++cursor.row < cursor.chunk->size()) return true;
    cursor.row = 0;
    return cursor.file->read_chunk(*cursor.chunk);
  }

  // A max-heap on "comes later": the top is the cursor whose row goes next.
  struct Later {
    const SortOperator* self;
    bool operator()(size_t a, size_t b) const {
      auto [x, xr] = self->current(self->cursors_[a]);
      auto [y, yr] = self->current(self->cursors_[b]);
      int c = self->compare_rows(*x, xr, *y, yr);
      return c != 0 ? c > 0 : a > b;
    }
  };

  ExecutionContext& context_;
  SortShared& shared_;
  size_t instance_;
  PhysicalPlan child_;
  std::vector<SortKey> keys_;
  std::optional<uint64_t> limit_;
  uint64_t offset_;
  MemoryReservation reservation_;
  bool sorted_ = false;
  size_t position_ = 0;
  bool merge_started_ = false;
  std::vector<Cursor> cursors_;
  std::priority_queue<size_t, std::vector<size_t>, Later> heap_{Later{this}};
  uint64_t emitted_ = 0;
};

}  // namespace

PhysicalPlan make_sort(const LogicalOperator& plan, PhysicalPlan child, ExecutionContext& context,
                       size_t instance) {
  return std::make_unique<SortOperator>(plan, std::move(child), context, instance);
}

}  // namespace sluice::sql
