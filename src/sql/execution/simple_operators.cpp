// The streaming (non-blocking) operators of the batch executor: scan, values, filter, project,
// limit and union. Each is small; the blocking ones have files of their own.
#include <fmt/format.h>

#include <atomic>
#include <thread>

#include "expression_executor.h"
#include "large_memory.h"
#include "physical_operator.h"
#include "sluice/core/error.h"

namespace sluice::sql {

namespace {

// The columns an expression reads (positions in its input).
void collect_columns(const BoundExpr& e, std::vector<bool>& read) {
  if (e.kind == BoundExprKind::kColumn && e.column < read.size()) read[e.column] = true;
  for (const auto& child : e.children) collect_columns(*child, read);
}

class ScanOperator : public PhysicalOperator {
 public:
  // The projection may read more columns than the scan outputs: its last ones are read only by the
  // pushed filters.
  ScanOperator(const LogicalOperator& plan, size_t part, size_t parts)
      : PhysicalOperator(plan.types()), scan_(plan.table->scan(plan.projection, part, parts)) {
    for (size_t column : plan.projection) {
      scanned_types_.push_back(plan.table->columns()[column].type);
    }
    scanned_.initialize(scanned_types_);
    staging_.initialize(scanned_types_);
    for (const auto& f : plan.filters) filters_.push_back(std::make_unique<ExpressionExecutor>(*f));
    // Filter i on needs the columns that it and the filters after it read.
    std::vector<bool> read(scanned_types_.size(), false);
    later_filter_columns_.resize(plan.filters.size());
    for (size_t f = plan.filters.size(); f-- > 0;) {
      collect_columns(*plan.filters[f], read);
      for (size_t c = 0; c < read.size(); ++c) {
        if (read[c]) later_filter_columns_[f].push_back(c);
      }
    }
  }

  bool next(DataChunk& out) override {
    if (filters_.empty()) return scan_->next(out);
    while (true) {
      if (!scan_->next(scanned_)) {
        out.reset();
        return false;
      }
      // Each filter sees only the rows the ones before it kept: `rows_` lists them (positions in
      // the scanned chunk), and only the columns the remaining filters read are gathered for
      // them; the output columns are gathered once, at the end.
      const DataChunk* current = &scanned_;
      bool all_rows = true;
      size_t count = scanned_.size();
      for (size_t f = 0; f < filters_.size() && count > 0; ++f) {
        size_t kept = filters_[f]->select(*current, sel_.data());
        if (kept == current->size()) continue;
        for (size_t i = 0; i < kept; ++i) {
          // In place: sel_ ascends, so rows_[sel_[i]] (>= i) is not overwritten yet.
          rows_.data()[i] = all_rows ? sel_.data()[i] : rows_.data()[sel_.data()[i]];
        }
        all_rows = false;
        count = kept;
        if (kept == 0 || f + 1 == filters_.size()) break;
        staging_.reset();
        for (size_t c : later_filter_columns_[f + 1]) {
          staging_.column(c).gather(scanned_.column(c), rows_.data(), kept);
        }
        staging_.set_size(kept);
        current = &staging_;
      }
      if (count == 0) continue;
      for (size_t c = 0; c < out.column_count(); ++c) {
        // Rows the filters all kept are still the table's (a borrowed chunk stays borrowed).
        if (all_rows) {
          out.column(c).borrow(scanned_.column(c));
        } else {
          out.column(c).gather(scanned_.column(c), rows_.data(), count);
        }
      }
      out.set_size(count);
      return true;
    }
  }

 private:
  std::unique_ptr<TableScan> scan_;
  std::vector<std::unique_ptr<ExpressionExecutor>> filters_;
  std::vector<std::vector<size_t>> later_filter_columns_;
  std::vector<LogicalType> scanned_types_;
  DataChunk scanned_;
  DataChunk staging_;  // the columns the next filters read, for the rows kept so far
  SelectionVector sel_;
  SelectionVector rows_;
};

class ValuesOperator : public PhysicalOperator {
 public:
  // Only instance 0 produces the rows.
  ValuesOperator(const LogicalOperator& plan, size_t instance) : PhysicalOperator(plan.types()) {
    if (instance == 0) rows_ = plan.rows;
  }

  bool next(DataChunk& out) override {
    out.reset();
    if (position_ >= rows_.size()) return false;
    size_t n = 0;
    while (position_ < rows_.size() && n < kBatchSize) {
      for (size_t c = 0; c < rows_[position_].size(); ++c)
        rows_[position_][c].write_to(out.column(c), n);
      ++position_;
      ++n;
    }
    out.set_size(n);
    return true;
  }

 private:
  std::vector<std::vector<Value>> rows_;
  size_t position_ = 0;
};

class FilterOperator : public PhysicalOperator {
 public:
  FilterOperator(const LogicalOperator& plan, PhysicalPlan child)
      : PhysicalOperator(plan.types()),
        child_(std::move(child)),
        predicate_(*plan.predicate),
        input_(child_->types()) {}

  bool next(DataChunk& out) override {
    while (true) {
      if (!child_->next(input_)) {
        out.reset();
        return false;
      }
      size_t count = predicate_.select(input_, sel_.data());
      if (count == 0) continue;
      out.slice(input_, sel_.data(), count);
      return true;
    }
  }

 private:
  PhysicalPlan child_;
  ExpressionExecutor predicate_;
  DataChunk input_;
  SelectionVector sel_;
};

class ProjectOperator : public PhysicalOperator {
 public:
  ProjectOperator(const LogicalOperator& plan, PhysicalPlan child)
      : PhysicalOperator(plan.types()), child_(std::move(child)), input_(child_->types()) {
    for (const auto& e : plan.expressions) {
      expressions_.push_back(std::make_unique<ExpressionExecutor>(*e));
    }
  }

  bool next(DataChunk& out) override {
    if (!child_->next(input_)) {
      out.reset();
      return false;
    }
    for (size_t i = 0; i < expressions_.size(); ++i) {
      Vector& column = out.column(i);
      column.reset();
      expressions_[i]->execute(input_, column);
      // Downstream operators index rows; a constant becomes one value per row.
      column.flatten(input_.size());
    }
    out.set_size(input_.size());
    return true;
  }

 private:
  PhysicalPlan child_;
  std::vector<std::unique_ptr<ExpressionExecutor>> expressions_;
  DataChunk input_;
};

// LIMIT and OFFSET over all instances: rows claim positions in one shared count, so the query
// returns at most `limit` rows whichever instances produce them.
struct LimitShared {
  std::atomic<uint64_t> position{0};
};

class LimitOperator : public PhysicalOperator {
 public:
  LimitOperator(const LogicalOperator& plan, PhysicalPlan child, LimitShared& shared)
      : PhysicalOperator(plan.types()),
        drain_(has_meeting_point(plan)),
        child_(std::move(child)),
        shared_(shared),
        begin_(plan.offset),
        end_(plan.limit ? plan.offset + *plan.limit : UINT64_MAX),
        input_(child_->types()) {}

  bool next(DataChunk& out) override {
    while (shared_.position.load(std::memory_order_relaxed) < end_) {
      if (!child_->next(input_)) break;
      size_t n = input_.size();
      if (n == 0) continue;
      uint64_t first = shared_.position.fetch_add(n);
      // This chunk holds positions [first, first + n); keep those in [begin_, end_).
      uint64_t from = std::max(first, begin_);
      uint64_t to = std::min(first + n, end_);
      if (from >= to) continue;
      size_t take = static_cast<size_t>(to - from);
      for (size_t i = 0; i < take; ++i) sel_.data()[i] = static_cast<uint32_t>(from - first + i);
      out.slice(input_, sel_.data(), take);
      return true;
    }
    // Operators below that meet the other instances must see this instance arrive, even when
    // the limit needs no more rows; otherwise they would wait for it forever.
    if (drain_) {
      while (child_->next(input_)) {
      }
      drain_ = false;
    }
    out.reset();
    return false;
  }

 private:
  static bool has_meeting_point(const LogicalOperator& op) {
    for (const auto& child : op.children) {
      if (child->kind == LogicalKind::kAggregate || child->kind == LogicalKind::kJoin ||
          child->kind == LogicalKind::kSort || child->kind == LogicalKind::kTopN ||
          child->kind == LogicalKind::kSetOp || child->kind == LogicalKind::kWindow ||
          has_meeting_point(*child)) {
        return true;
      }
    }
    return false;
  }

  bool drain_;
  PhysicalPlan child_;
  LimitShared& shared_;
  uint64_t begin_;
  uint64_t end_;
  DataChunk input_;
  SelectionVector sel_;
};

class UnionOperator : public PhysicalOperator {
 public:
  UnionOperator(const LogicalOperator& plan, std::vector<PhysicalPlan> children)
      : PhysicalOperator(plan.types()), children_(std::move(children)) {}

  bool next(DataChunk& out) override {
    while (current_ < children_.size()) {
      if (children_[current_]->next(out)) return true;
      ++current_;
    }
    out.reset();
    return false;
  }

 private:
  std::vector<PhysicalPlan> children_;
  size_t current_ = 0;
};

}  // namespace

PhysicalPlan make_scan(const LogicalOperator& plan, ExecutionContext& context, size_t instance) {
  return std::make_unique<ScanOperator>(plan, instance, context.parallelism());
}
PhysicalPlan make_values(const LogicalOperator& plan, size_t instance) {
  return std::make_unique<ValuesOperator>(plan, instance);
}
PhysicalPlan make_filter(const LogicalOperator& plan, PhysicalPlan child) {
  return std::make_unique<FilterOperator>(plan, std::move(child));
}
PhysicalPlan make_project(const LogicalOperator& plan, PhysicalPlan child) {
  return std::make_unique<ProjectOperator>(plan, std::move(child));
}
PhysicalPlan make_limit(const LogicalOperator& plan, PhysicalPlan child,
                        ExecutionContext& context) {
  return std::make_unique<LimitOperator>(plan, std::move(child),
                                         context.shared<LimitShared>(&plan));
}
PhysicalPlan make_union(const LogicalOperator& plan, std::vector<PhysicalPlan> children) {
  return std::make_unique<UnionOperator>(plan, std::move(children));
}

namespace {

// GROUPING SETS: each input chunk once per set, with the set's keys (the others NULL), its
// GROUPING() flags and its number (logical_plan.h). The input columns are lent, not copied.
class ExpandOperator : public PhysicalOperator {
 public:
  ExpandOperator(const LogicalOperator& plan, PhysicalPlan child)
      : PhysicalOperator(plan.types()),
        child_(std::move(child)),
        input_(child_->types()),
        sets_(plan.grouping_sets),
        set_(plan.grouping_sets.size()) {
    for (const auto& e : plan.expressions) {
      keys_.push_back(std::make_unique<ExpressionExecutor>(*e));
      key_values_.push_back(std::make_unique<Vector>(e->type));
    }
  }

  bool next(DataChunk& out) override {
    out.reset();
    if (set_ == sets_.size()) {
      if (!child_->next(input_)) return false;
      for (size_t k = 0; k < keys_.size(); ++k) {
        key_values_[k]->reset();
        keys_[k]->execute(input_, *key_values_[k]);
      }
      set_ = 0;
    }
    size_t n = input_.size();
    size_t width = input_.column_count();
    size_t groups = keys_.size();
    for (size_t c = 0; c < width; ++c) out.column(c).borrow(input_.column(c));
    const std::vector<bool>& present = sets_[set_];
    auto constant = [&](Vector& v, int64_t value) {
      v.set_constant(true);
      v.data<int64_t>()[0] = value;
    };
    for (size_t k = 0; k < groups; ++k) {
      Vector& key = out.column(width + k);
      if (present[k]) {
        key.copy_from(*key_values_[k], n);
      } else {
        key.set_constant(true);
        key.set_null(0);
      }
      constant(out.column(width + groups + k), present[k] ? 0 : 1);
    }
    constant(out.column(width + 2 * groups), static_cast<int64_t>(set_));
    out.set_size(n);
    ++set_;
    return true;
  }

 private:
  PhysicalPlan child_;
  DataChunk input_;
  std::vector<std::vector<bool>> sets_;
  size_t set_;  // the next set to emit for input_; sets_.size(): read the next chunk
  std::vector<std::unique_ptr<ExpressionExecutor>> keys_;
  std::vector<std::unique_ptr<Vector>> key_values_;
};

}  // namespace

PhysicalPlan make_expand(const LogicalOperator& plan, PhysicalPlan child) {
  return std::make_unique<ExpandOperator>(plan, std::move(child));
}

void ChunkCollection::consume(PhysicalOperator& source) {
  DataChunk input(source.types());
  while (source.next(input)) add(input);
}

namespace {

// Bytes a full chunk of these types takes, strings' bytes not counted.
size_t chunk_bytes(const DataChunk& chunk) {
  size_t bytes = 0;
  for (size_t c = 0; c < chunk.column_count(); ++c) {
    bytes += physical_width(chunk.column(c).physical()) * kBatchSize + kBatchSize / 8;
  }
  return bytes;
}

size_t own_heap_bytes(const Vector& v) {
  return v.shared_heap() ? v.shared_heap()->bytes_used() : 0;
}

}  // namespace

void ChunkCollection::add(const DataChunk& input) {
  // Batches are appended to the last chunk while it has room: a selective filter below would
  // otherwise leave thousands of nearly empty chunks, each with full-size vectors.
  size_t n = input.size();
  size_t taken = 0;
  while (taken < n) {
    if (chunks.empty() || chunks.back()->size() == kBatchSize) {
      chunks.push_back(std::make_unique<DataChunk>(input.types()));
      memory_bytes_ += chunk_bytes(*chunks.back());
    }
    DataChunk& tail = *chunks.back();
    size_t count = std::min(kBatchSize - tail.size(), n - taken);
    // The first batch of a chunk lends it its string heaps; later ones copy their strings.
    bool copy_strings = tail.size() > 0;
    for (size_t c = 0; c < tail.column_count(); ++c) {
      const Vector& source = input.column(c);
      Vector& target = tail.column(c);
      size_t own_before = own_heap_bytes(target);
      target.append(source, taken, count, tail.size(), copy_strings);
      // String bytes: those copied into the chunk's heap, and a lent heap counted whole.
      memory_bytes_ += own_heap_bytes(target) - own_before;
      if (!copy_strings) memory_bytes_ += own_heap_bytes(source);
    }
    tail.set_size(tail.size() + count);
    taken += count;
  }
  rows += n;
}

void ChunkCollection::append(ChunkCollection&& other) {
  for (auto& chunk : other.chunks) chunks.push_back(std::move(chunk));
  rows += other.rows;
  memory_bytes_ += other.memory_bytes_;
  other.clear();
}

void ChunkCollection::clear() {
  chunks.clear();
  rows = 0;
  memory_bytes_ = 0;
}

std::unique_ptr<SpillFile> ExecutionContext::new_spill_file() {
  size_t i = next_spill_directory_.fetch_add(1, std::memory_order_relaxed);
  // The query is short of memory: the blocks cached for reuse go back to the kernel first.
  if (i == 0) release_cached_large();
  return std::make_unique<SpillFile>(spill_directories_[i % spill_directories_.size()], &budget_);
}

void ExecutionContext::fail() {
  std::vector<std::pair<std::condition_variable*, std::mutex*>> watched;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failed_ = true;
    watched = watched_;
  }
  for (auto& [cv, m] : watched) {
    // Taking the waiter's mutex orders the flag before its next check.
    std::lock_guard<std::mutex> lock(*m);
    cv->notify_all();
  }
}

bool ExecutionContext::failed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failed_;
}

void ExecutionContext::watch(std::condition_variable* cv, std::mutex* mutex) {
  std::lock_guard<std::mutex> lock(mutex_);
  watched_.emplace_back(cv, mutex);
}

void ExecutionContext::wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            const std::function<bool()>& ready) {
  cv.wait(lock, [&] { return ready() || failed(); });
  if (!ready()) throw Error(ErrorCategory::kCancelled, "another part of the query failed");
}

void InstanceBarrier::arrive(ExecutionContext& context, const std::function<void()>& local,
                             const std::function<void()>& merge) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!watched_) {
    watched_ = true;
    context.watch(&cv_, &mutex_);
  }
  if (context.failed()) throw Error(ErrorCategory::kCancelled, "another part of the query failed");
  local();
  if (++arrived_ == context.parallelism()) {
    merge();
    done_ = true;
    cv_.notify_all();
    return;
  }
  context.wait(lock, cv_, [this] { return done_; });
}

PhysicalPlan create_physical_plan(const LogicalOperator& plan, ExecutionContext& context,
                                  size_t instance) {
  std::vector<PhysicalPlan> children;
  for (const auto& child : plan.children) {
    children.push_back(create_physical_plan(*child, context, instance));
  }
  switch (plan.kind) {
    case LogicalKind::kScan:
      return make_scan(plan, context, instance);
    case LogicalKind::kValues:
      return make_values(plan, instance);
    case LogicalKind::kFilter:
      return make_filter(plan, std::move(children[0]));
    case LogicalKind::kProject:
      return make_project(plan, std::move(children[0]));
    case LogicalKind::kAggregate:
      return make_hash_aggregate(plan, std::move(children[0]), context, instance);
    case LogicalKind::kJoin:
      return make_hash_join(plan, std::move(children[0]), std::move(children[1]), context,
                            instance);
    case LogicalKind::kSort:
    case LogicalKind::kTopN:
      return make_sort(plan, std::move(children[0]), context, instance);
    case LogicalKind::kLimit:
      return make_limit(plan, std::move(children[0]), context);
    case LogicalKind::kUnion:
      return make_union(plan, std::move(children));
    case LogicalKind::kWindow:
      return make_window(plan, std::move(children[0]), context, instance);
    case LogicalKind::kExpand:
      return make_expand(plan, std::move(children[0]));
    case LogicalKind::kSetOp:
      return make_set_operation(plan, std::move(children[0]), std::move(children[1]), context,
                                instance);
  }
  return nullptr;
}

std::vector<std::unique_ptr<DataChunk>> execute_plan(const LogicalOperator& plan,
                                                     const ExecutionOptions& options) {
  size_t n = std::max<size_t>(options.parallelism, 1);
  ExecutionContext context(n, options.memory_limit, options.spill_directories);
  std::vector<std::vector<std::unique_ptr<DataChunk>>> results(n);
  std::vector<std::exception_ptr> errors(n);
  auto run = [&](size_t instance) {
    try {
      PhysicalPlan root = create_physical_plan(plan, context, instance);
      while (true) {
        auto chunk = std::make_unique<DataChunk>(root->types());
        if (!root->next(*chunk)) break;
        if (chunk->size() == 0) continue;
        for (size_t c = 0; c < chunk->column_count(); ++c) chunk->column(c).flatten(chunk->size());
        chunk->own();  // the result outlives the tables the scans lent their chunks from
        results[instance].push_back(std::move(chunk));
      }
    } catch (...) {
      errors[instance] = std::current_exception();
      context.fail();
    }
  };
  if (n == 1) {
    run(0);
  } else {
    std::vector<std::thread> threads;
    for (size_t i = 1; i < n; ++i) threads.emplace_back(run, i);
    run(0);
    for (auto& t : threads) t.join();
  }
  // The first real failure, not the "another part failed" of the instances it stopped.
  std::exception_ptr first;
  std::exception_ptr cancelled;
  for (const auto& e : errors) {
    if (!e) continue;
    bool is_cancel = false;
    try {
      std::rethrow_exception(e);
    } catch (const Error& error) {
      is_cancel = error.category() == ErrorCategory::kCancelled;
    } catch (...) {
    }
    if (!is_cancel) {
      first = e;
      break;
    }
    if (!cancelled) cancelled = e;
  }
  if (!first) first = cancelled;
  if (options.stats) {
    options.stats->peak_reserved_bytes = context.budget().peak();
    options.stats->spilled_bytes = context.budget().spilled_bytes();
  }
  if (first) std::rethrow_exception(first);
  std::vector<std::unique_ptr<DataChunk>> all;
  for (auto& r : results) {
    for (auto& c : r) all.push_back(std::move(c));
  }
  return all;
}

}  // namespace sluice::sql
