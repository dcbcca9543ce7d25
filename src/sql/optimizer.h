// The rule-based optimizer over logical plans: constant folding, predicate push-down (through
// projections, aggregates and joins, into scans), equi-join key extraction (a cross join with an
// equality becomes a hash join), greedy join ordering of inner joins by estimated input sizes,
// and column pruning (projection push-down into scans).
//
// Threading: a pure function of its input plan.
#pragma once

#include "sluice/sql/logical_plan.h"

namespace sluice::sql {

LogicalPlan optimize(LogicalPlan plan);

}  // namespace sluice::sql
