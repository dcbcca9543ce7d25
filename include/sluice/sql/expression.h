// Bound expressions: typed, names resolved to column positions, functions resolved to kernels.
// The binder produces them from the syntax tree; the optimizer rewrites them; the expression
// executor (expression_executor.h) evaluates them a batch at a time.
//
// A column reference is a position in the input chunk of the operator that evaluates the
// expression. Every function call has already been resolved to one overload whose argument
// types the arguments have exactly (the binder inserts the implicit casts), so kernels never
// look at types per row.
//
// Threading: immutable once the plan is built; one plan may be evaluated by many threads, each
// with its own ExpressionExecutor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sluice/sql/types.h"
#include "sluice/sql/value.h"

namespace sluice::sql {

class Vector;
struct ScalarFunction;

enum class BoundExprKind {
  kColumn,    // column
  kConstant,  // constant
  kFunction,  // function, children
  kCast,      // children[0] -> type; try_cast
  kCase,      // children: when, then, ..., else (always present; NULL if not written)
  kAnd,       // children (two or more), three-valued
  kOr,        // children (two or more), three-valued
  kNot,       // children[0]
  kIsNull,    // children[0]; negated: IS NOT NULL
  kInList,    // children[0] IN children[1..]; negated; all of one type
  kCoalesce,  // children, first non-NULL
};

struct BoundExpr {
  BoundExprKind kind;
  LogicalType type;
  size_t column = 0;
  Value constant;
  const ScalarFunction* function = nullptr;
  std::vector<std::unique_ptr<BoundExpr>> children;
  bool negated = false;
  bool try_cast = false;
  // A column of the enclosing query, while a correlated subquery is bound (never in a plan).
  bool outer_reference = false;
  std::string name;  // the column's or function's name, for printing plans

  BoundExpr(BoundExprKind k, LogicalType t) : kind(k), type(std::move(t)) {}

  std::unique_ptr<BoundExpr> clone() const;
  std::string to_string() const;
  bool equals(const BoundExpr& other) const;
  // Whether the value depends on no column (and no volatile function).
  bool is_constant_foldable() const;
  // Adds every column position the expression reads to `out`.
  void collect_columns(std::vector<size_t>& out) const;
  // Replaces each column position c by mapping[c].
  void remap_columns(const std::vector<size_t>& mapping);
};
using BoundExprPtr = std::unique_ptr<BoundExpr>;

BoundExprPtr make_column(size_t column, LogicalType type, std::string name = {});
BoundExprPtr make_constant(Value value);
BoundExprPtr make_cast(BoundExprPtr input, LogicalType type);

// The kernel of a scalar function: computes `count` rows of `result` from its arguments. The
// executor has already set the result's validity to the AND of the arguments' validities when
// the function propagates NULLs, and marks the result constant when every argument is; a
// kernel reads an argument's row i from index (arg.is_constant() ? 0 : i).
using ScalarKernel = void (*)(const BoundExpr& call, Vector* const* args, size_t count,
                              Vector& result);

struct ScalarFunction {
  std::string name;
  ScalarKernel kernel = nullptr;
  bool propagates_nulls = true;  // NULL in any argument gives NULL (most functions)
  bool is_volatile = false;      // RAND, CURRENT_TIMESTAMP: never folded
};

}  // namespace sluice::sql
