// The binder: resolves a parsed query's names against the catalog and the scopes of its FROM
// clause, types every expression (inserting Flink's implicit casts), resolves functions to
// kernels, and produces a logical plan. Subqueries become joins here: EXISTS and IN in a WHERE
// conjunct become semi or anti joins, a scalar subquery a join with its (aggregated) result;
// a correlated subquery's correlation conjuncts become the join's condition (decorrelation).
//
// Threading: one Binder per statement, on the session's thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/sql/ast.h"
#include "sluice/sql/catalog.h"
#include "sluice/sql/functions.h"
#include "sluice/sql/logical_plan.h"

namespace sluice::sql {

class Binder {
 public:
  Binder(const Catalog& catalog, const FunctionRegistry& functions,
         std::shared_ptr<const std::string> source);
  ~Binder();

  LogicalPlan bind_query(const QueryNode& query);
  // An expression over the given columns (DataFrame filters and projections).
  BoundExprPtr bind_expression(const ParsedExpr& expr, const std::vector<OutputColumn>& columns);
  // A constant expression (INSERT ... VALUES, LIMIT): folded to a value of `type` if given.
  Value bind_constant(const ParsedExpr& expr);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Folds an expression that reads no column into a Value by evaluating it once.
Value evaluate_constant(const BoundExpr& expr);

}  // namespace sluice::sql
