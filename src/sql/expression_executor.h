// Evaluates a bound expression a chunk at a time. Construction walks the expression once and
// allocates a result vector per inner node; execute() then runs one kernel call per node per
// chunk, with no allocation, no virtual call and no per-row interpretation of the tree. Column
// references are read in place; constant sub-expressions are evaluated once, at construction.
//
// Threading: an executor is one thread's (it owns scratch vectors); build one per thread over
// the same (immutable) expression.
#pragma once

#include <memory>
#include <vector>

#include "sluice/sql/expression.h"
#include "sluice/sql/vector.h"

namespace sluice::sql {

class ExpressionExecutor {
 public:
  explicit ExpressionExecutor(const BoundExpr& expr);
  ~ExpressionExecutor();

  // result = the expression over the chunk's rows (flat, or constant when it reads no column).
  void execute(const DataChunk& input, Vector& result);
  // Writes the positions of the rows where the (boolean) expression is TRUE into `sel`;
  // returns how many.
  size_t select(const DataChunk& input, uint32_t* sel);

 private:
  struct Node;
  std::unique_ptr<Node> build(const BoundExpr& expr);
  void evaluate(Node& node, const DataChunk& input, Vector& out);
  // The vector holding child `i`'s value: the input column itself, the folded constant, or the
  // child's scratch result.
  Vector* argument(Node& node, size_t i, const DataChunk& input);
  // Child `child` of a lazy CASE over only rows `rows` of the input (a gathered slice).
  void evaluate_on(Node& node, size_t child, const DataChunk& input,
                   const std::vector<uint32_t>& rows, Vector*& result);
  void evaluate_case(Node& node, const DataChunk& input, Vector& out);
  void evaluate_logic(Node& node, const DataChunk& input, Vector& out);

  std::unique_ptr<Node> root_;
  std::unique_ptr<Vector> boolean_scratch_;
};

// Casts `count` rows of `input` into `result` (result.type() is the target). Rows that cannot
// be converted fail with a clear error, or become NULL when `try_cast`.
void cast_vector(const Vector& input, Vector& result, size_t count, bool try_cast);

// Row `row` of an integer-backed vector (BOOLEAN through BIGINT, DECIMAL's unscaled value, DATE,
// TIME, TIMESTAMP) as a 128-bit integer; 0 for other types.
int128_t read_integer(const Vector& v, size_t row);

// Three-valued comparison of row a of `x` with row b of `y` (same type, both valid): <0, 0, >0.
int compare_values(const Vector& x, size_t a, const Vector& y, size_t b);
// The same for ORDER BY keys, where either row may be NULL: <0 when row a sorts first.
int compare_for_order(const Vector& x, size_t a, const Vector& y, size_t b, bool descending,
                      bool nulls_first);

}  // namespace sluice::sql
