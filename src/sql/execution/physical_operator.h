// The batch executor's operators. A physical plan is a tree of PhysicalOperators; the root is
// pulled a chunk at a time (next()), each operator pulling from its children. Blocking operators
// (hash aggregation, the build side of a hash join, sort) consume their input on the first
// next(). Every operator produces chunks of at most kBatchSize rows and reuses them.
//
// The same logical plan will later also compile onto the streaming runtime; these operators are
// the bounded (batch) execution of it.
//
// Threading: a physical plan runs on one thread; build one per thread (parallel execution
// partitions the input between plans, see docs/ARCHITECTURE.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sluice/sql/logical_plan.h"
#include "sluice/sql/vector.h"

namespace sluice::sql {

class PhysicalOperator {
 public:
  explicit PhysicalOperator(std::vector<LogicalType> types) : types_(std::move(types)) {}
  virtual ~PhysicalOperator() = default;

  // Fills `out` (initialized with types()) with the next rows; false when there are no more (then
  // out.size() == 0). A true return may carry an empty chunk.
  virtual bool next(DataChunk& out) = 0;

  const std::vector<LogicalType>& types() const { return types_; }

 protected:
  std::vector<LogicalType> types_;
};

using PhysicalPlan = std::unique_ptr<PhysicalOperator>;

// Per-query execution settings.
struct ExecutionOptions {
  size_t memory_budget_bytes = size_t{4} << 30;
};

PhysicalPlan create_physical_plan(const LogicalOperator& plan, const ExecutionOptions& options);

// The operators, one per file (execution/*.cpp).
PhysicalPlan make_scan(const LogicalOperator& plan);
PhysicalPlan make_values(const LogicalOperator& plan);
PhysicalPlan make_filter(const LogicalOperator& plan, PhysicalPlan child);
PhysicalPlan make_project(const LogicalOperator& plan, PhysicalPlan child);
PhysicalPlan make_hash_aggregate(const LogicalOperator& plan, PhysicalPlan child);
PhysicalPlan make_hash_join(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right);
PhysicalPlan make_sort(const LogicalOperator& plan, PhysicalPlan child);
PhysicalPlan make_limit(const LogicalOperator& plan, PhysicalPlan child);
PhysicalPlan make_union(const LogicalOperator& plan, std::vector<PhysicalPlan> children);
PhysicalPlan make_set_operation(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right);

// A materialized input: its chunks, and rows addressed as (chunk << 32 | row).
struct ChunkCollection {
  std::vector<std::unique_ptr<DataChunk>> chunks;
  size_t rows = 0;

  // Pulls `source` to the end, keeping every chunk.
  void consume(PhysicalOperator& source);
  const Vector& column(uint64_t ref, size_t c) const { return chunks[ref >> 32]->column(c); }
  static size_t row_of(uint64_t ref) { return static_cast<size_t>(ref & 0xffffffffu); }
};

}  // namespace sluice::sql
