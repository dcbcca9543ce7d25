// The streaming (non-blocking) operators of the batch executor: scan, values, filter, project,
// limit and union. Each is small; the blocking ones have files of their own.
#include <fmt/format.h>

#include "expression_executor.h"
#include "physical_operator.h"

namespace sluice::sql {

namespace {

class ScanOperator : public PhysicalOperator {
 public:
  explicit ScanOperator(const LogicalOperator& plan)
      : PhysicalOperator(plan.types()),
        scan_(plan.table->scan(plan.projection)),
        scanned_(plan.types()) {
    for (const auto& f : plan.filters) filters_.push_back(std::make_unique<ExpressionExecutor>(*f));
  }

  bool next(DataChunk& out) override {
    if (filters_.empty()) return scan_->next(out);
    while (true) {
      if (!scan_->next(scanned_)) {
        out.reset();
        return false;
      }
      // Each filter sees only the rows the ones before it kept.
      const DataChunk* current = &scanned_;
      size_t count = current->size();
      for (auto& filter : filters_) {
        count = filter->select(*current, sel_.data());
        if (count == 0) break;
        if (count < current->size()) {
          DataChunk& target = current == &staging_[0] ? staging_[1] : staging_[0];
          if (target.column_count() == 0) target.initialize(types_);
          target.reset();
          target.slice(*current, sel_.data(), count);
          current = &target;
        }
      }
      if (count == 0) continue;
      for (size_t c = 0; c < out.column_count(); ++c) {
        out.column(c).copy_from(current->column(c), current->size());
      }
      out.set_size(current->size());
      return true;
    }
  }

 private:
  std::unique_ptr<TableScan> scan_;
  std::vector<std::unique_ptr<ExpressionExecutor>> filters_;
  DataChunk scanned_;
  DataChunk staging_[2];
  SelectionVector sel_;
};

class ValuesOperator : public PhysicalOperator {
 public:
  explicit ValuesOperator(const LogicalOperator& plan)
      : PhysicalOperator(plan.types()), rows_(plan.rows) {}

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

class LimitOperator : public PhysicalOperator {
 public:
  LimitOperator(const LogicalOperator& plan, PhysicalPlan child)
      : PhysicalOperator(plan.types()),
        child_(std::move(child)),
        remaining_(plan.limit ? *plan.limit : UINT64_MAX),
        skip_(plan.offset),
        input_(child_->types()) {}

  bool next(DataChunk& out) override {
    while (remaining_ > 0) {
      if (!child_->next(input_)) break;
      size_t n = input_.size();
      size_t begin = 0;
      if (skip_ > 0) {
        begin = static_cast<size_t>(std::min<uint64_t>(skip_, n));
        skip_ -= begin;
      }
      size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - begin));
      if (take == 0) continue;
      for (size_t i = 0; i < take; ++i) sel_.data()[i] = static_cast<uint32_t>(begin + i);
      out.slice(input_, sel_.data(), take);
      remaining_ -= take;
      return true;
    }
    out.reset();
    return false;
  }

 private:
  PhysicalPlan child_;
  uint64_t remaining_;
  uint64_t skip_;
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

PhysicalPlan make_scan(const LogicalOperator& plan) { return std::make_unique<ScanOperator>(plan); }
PhysicalPlan make_values(const LogicalOperator& plan) {
  return std::make_unique<ValuesOperator>(plan);
}
PhysicalPlan make_filter(const LogicalOperator& plan, PhysicalPlan child) {
  return std::make_unique<FilterOperator>(plan, std::move(child));
}
PhysicalPlan make_project(const LogicalOperator& plan, PhysicalPlan child) {
  return std::make_unique<ProjectOperator>(plan, std::move(child));
}
PhysicalPlan make_limit(const LogicalOperator& plan, PhysicalPlan child) {
  return std::make_unique<LimitOperator>(plan, std::move(child));
}
PhysicalPlan make_union(const LogicalOperator& plan, std::vector<PhysicalPlan> children) {
  return std::make_unique<UnionOperator>(plan, std::move(children));
}

void ChunkCollection::consume(PhysicalOperator& source) {
  while (true) {
    auto chunk = std::make_unique<DataChunk>(source.types());
    if (!source.next(*chunk)) break;
    if (chunk->size() == 0) continue;
    for (size_t c = 0; c < chunk->column_count(); ++c) chunk->column(c).flatten(chunk->size());
    rows += chunk->size();
    chunks.push_back(std::move(chunk));
  }
}

PhysicalPlan create_physical_plan(const LogicalOperator& plan, const ExecutionOptions& options) {
  std::vector<PhysicalPlan> children;
  for (const auto& child : plan.children) children.push_back(create_physical_plan(*child, options));
  switch (plan.kind) {
    case LogicalKind::kScan:
      return make_scan(plan);
    case LogicalKind::kValues:
      return make_values(plan);
    case LogicalKind::kFilter:
      return make_filter(plan, std::move(children[0]));
    case LogicalKind::kProject:
      return make_project(plan, std::move(children[0]));
    case LogicalKind::kAggregate:
      return make_hash_aggregate(plan, std::move(children[0]));
    case LogicalKind::kJoin:
      return make_hash_join(plan, std::move(children[0]), std::move(children[1]));
    case LogicalKind::kSort:
    case LogicalKind::kTopN:
      return make_sort(plan, std::move(children[0]));
    case LogicalKind::kLimit:
      return make_limit(plan, std::move(children[0]));
    case LogicalKind::kUnion:
      return make_union(plan, std::move(children));
    case LogicalKind::kSetOp:
      return make_set_operation(plan, std::move(children[0]), std::move(children[1]));
  }
  return nullptr;
}

}  // namespace sluice::sql
