// The batch executor's operators. A physical plan is a tree of PhysicalOperators; the root is
// pulled a chunk at a time (next()), each operator pulling from its children. Blocking operators
// (hash aggregation, the build side of a hash join, sort) consume their input on the first
// next(). Every operator produces chunks of at most kBatchSize rows and reuses them.
//
// The same logical plan will later also compile onto the streaming runtime; these operators are
// the bounded (batch) execution of it.
//
// Parallel execution: a query runs as `parallelism` instances of its physical plan, one per
// thread, created over one ExecutionContext. Scans split their table's chunks between the
// instances; the blocking operators meet in shared state (ExecutionContext::shared): each instance
// builds its part (local hash tables, collected rows) and, once all have arrived, either the last
// one merges them (the sorted rows, windows and set operations emitted by instance 0) or every
// instance works on its own partition (the aggregate's groups by key hash; the join index's
// buckets by range, after the last one has sized it: one index that every instance probes).
//
// Threading: an operator instance is one thread's; ExecutionContext and the shared states are
// synchronized. If any instance fails, the context is failed and every instance waiting at a
// meeting point stops with an error instead of waiting for it forever.
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sluice/sql/logical_plan.h"
#include "sluice/sql/vector.h"
#include "spill.h"

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

// What a query's execution measured.
struct ExecutionStats {
  size_t peak_reserved_bytes = 0;  // the most the blocking operators held at once
  size_t spilled_bytes = 0;        // written to spill files
};

// Per-query execution settings.
struct ExecutionOptions {
  size_t parallelism = 1;
  // Managed memory of the blocking operators; past it they spill (spill.h).
  size_t memory_limit = SIZE_MAX;
  std::vector<std::string> spill_directories{"/tmp"};
  ExecutionStats* stats = nullptr;  // filled in when the query ends, if set
};

// What the instances of one query share.
class ExecutionContext {
 public:
  explicit ExecutionContext(size_t parallelism, size_t memory_limit = SIZE_MAX,
                            std::vector<std::string> spill_directories = {"/tmp"})
      : parallelism_(parallelism),
        budget_(memory_limit),
        spill_directories_(std::move(spill_directories)) {}

  size_t parallelism() const { return parallelism_; }
  MemoryBudget& budget() { return budget_; }
  // A new spill file, in the spill directories in turn.
  std::unique_ptr<SpillFile> new_spill_file();

  // The state of type T shared by every instance of the operator `key`, created on first use.
  template <typename T>
  T& shared(const void* key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = shared_[key];
    if (!slot) slot = std::shared_ptr<void>(new T(), [](void* p) { delete static_cast<T*>(p); });
    return *static_cast<T*>(slot.get());
  }

  // Marks the query failed and wakes every waiting instance.
  void fail();
  bool failed() const;
  // Waits on `cv` (with `lock` held on `mutex`) until `ready()`; throws if the query failed.
  void wait(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
            const std::function<bool()>& ready);
  // Registers a condition variable to be notified when the query fails.
  void watch(std::condition_variable* cv, std::mutex* mutex);

 private:
  size_t parallelism_;
  MemoryBudget budget_;
  std::vector<std::string> spill_directories_;
  std::atomic<size_t> next_spill_directory_{0};
  mutable std::mutex mutex_;
  std::map<const void*, std::shared_ptr<void>> shared_;
  std::vector<std::pair<std::condition_variable*, std::mutex*>> watched_;
  bool failed_ = false;
};

// A meeting point of all instances: each arrives once; the last to arrive runs the merge step
// and then releases everyone.
class InstanceBarrier {
 public:
  // Runs `local` under the barrier's lock (each instance deposits its part), then the last one
  // runs `merge`; returns when the merge is done.
  void arrive(ExecutionContext& context, const std::function<void()>& local,
              const std::function<void()>& merge);

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  size_t arrived_ = 0;
  bool done_ = false;
  bool watched_ = false;
};

PhysicalPlan create_physical_plan(const LogicalOperator& plan, ExecutionContext& context,
                                  size_t instance);

// Runs `parallelism` instances of the plan on as many threads and returns all their chunks
// (instance 0's first). Rethrows the first failure.
std::vector<std::unique_ptr<DataChunk>> execute_plan(const LogicalOperator& plan,
                                                     const ExecutionOptions& options);

// The operators, one per file (execution/*.cpp).
PhysicalPlan make_scan(const LogicalOperator& plan, ExecutionContext& context, size_t instance);
PhysicalPlan make_values(const LogicalOperator& plan, size_t instance);
PhysicalPlan make_filter(const LogicalOperator& plan, PhysicalPlan child);
PhysicalPlan make_project(const LogicalOperator& plan, PhysicalPlan child);
PhysicalPlan make_hash_aggregate(const LogicalOperator& plan, PhysicalPlan child,
                                 ExecutionContext& context, size_t instance);
PhysicalPlan make_hash_join(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right,
                            ExecutionContext& context, size_t instance);
PhysicalPlan make_sort(const LogicalOperator& plan, PhysicalPlan child, ExecutionContext& context,
                       size_t instance);
PhysicalPlan make_limit(const LogicalOperator& plan, PhysicalPlan child, ExecutionContext& context);
PhysicalPlan make_window(const LogicalOperator& plan, PhysicalPlan child, ExecutionContext& context,
                         size_t instance);
PhysicalPlan make_union(const LogicalOperator& plan, std::vector<PhysicalPlan> children);
PhysicalPlan make_expand(const LogicalOperator& plan, PhysicalPlan child);
PhysicalPlan make_set_operation(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right,
                                ExecutionContext& context, size_t instance);

// A materialized input: its chunks, and rows addressed as (chunk << 32 | row).
struct ChunkCollection {
  std::vector<std::unique_ptr<DataChunk>> chunks;
  size_t rows = 0;

  // Pulls `source` to the end, its rows packed into full chunks.
  void consume(PhysicalOperator& source);
  // Appends the rows of `input`, packed into full chunks.
  void add(const DataChunk& input);
  // An estimate of the memory the chunks hold (values, masks and string bytes).
  size_t memory_bytes() const { return memory_bytes_; }
  void clear();
  // Moves `other`'s chunks to the end of this collection.
  void append(ChunkCollection&& other);
  const Vector& column(uint64_t ref, size_t c) const { return chunks[ref >> 32]->column(c); }
  static size_t row_of(uint64_t ref) { return static_cast<size_t>(ref & 0xffffffffu); }

 private:
  size_t memory_bytes_ = 0;
};

}  // namespace sluice::sql
