// The logical plan: a tree of relational operators over positional columns, produced by the
// binder, rewritten by the optimizer, and turned into physical operators by the planner
// (physical_plan.h). Each node's output is a list of columns (name, type); expressions in a node
// refer to its input's columns by position (for a join: the left input's columns, then the
// right's).
//
// The same plan is meant to run over bounded tables (the batch executor) and, later, over
// changelog streams: nothing here assumes the input ends.
//
// Threading: plain data; built and rewritten by one thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/sql/ast.h"
#include "sluice/sql/catalog.h"
#include "sluice/sql/expression.h"
#include "sluice/sql/functions.h"

namespace sluice::sql {

struct OutputColumn {
  std::string name;
  LogicalType type;
};

struct BoundAggregate {
  ResolvedAggregate function;
  std::string name;       // SUM, COUNT, ...
  BoundExprPtr argument;  // over the aggregate's input; null for COUNT(*)
  bool distinct = false;
};

// A window function: ROW_NUMBER, RANK, DENSE_RANK or an aggregate over a frame of its partition.
struct BoundWindow {
  enum class Kind {
    kRowNumber,
    kRank,
    kDenseRank,
    kPercentRank,
    kCumeDist,
    kNtile,  // offset: the number of buckets
    kLag,    // offset rows back; default_value where there is no such row
    kLead,
    kFirstValue,  // the first non-NULL value of the frame (NULLs ignored, as Flink does)
    kLastValue,
    kAggregate
  };
  Kind kind = Kind::kRowNumber;
  std::string name;
  LogicalType type;
  ResolvedAggregate function;              // kAggregate
  bool distinct = false;                   // kAggregate: each value of the frame once
  BoundExprPtr argument;                   // kAggregate (null for COUNT(*)), LAG ... LAST_VALUE
  int64_t offset = 1;                      // LAG, LEAD, NTILE
  BoundExprPtr default_value;              // LAG, LEAD (null: NULL)
  std::vector<BoundExprPtr> partition_by;  // over the input
  std::vector<BoundExprPtr> order_by;      // over the input
  std::vector<bool> descending;
  std::vector<bool> nulls_first;
  // The frame. Without ORDER BY: the whole partition. With ORDER BY and no frame: RANGE from the
  // partition's start to the current row's last peer. ROWS frames by offsets.
  bool rows_frame = false;
  FrameBound start{FrameBound::Kind::kUnboundedPreceding, 0};
  FrameBound end{FrameBound::Kind::kCurrentRow, 0};
};

struct SortKey {
  size_t column;  // position in the sorted input
  bool descending = false;
  bool nulls_first = true;
};

enum class LogicalKind {
  kScan,       // table, projection, filters (pushed down, over the projected columns)
  kValues,     // rows of constants
  kFilter,     // predicate
  kProject,    // expressions
  kAggregate,  // groups (expressions), aggregates; output: groups then aggregates
  kJoin,       // join_kind, left_keys = right_keys, condition (over left ++ right)
  kSort,       // sort_keys
  kLimit,      // limit (none: unlimited), offset
  kTopN,       // sort_keys + limit + offset: a sort that keeps only what the limit needs
  kUnion,      // children (all of the same types); union_all else distinct
  kSetOp,      // INTERSECT / EXCEPT [ALL]: set_op, union_all
  kExpand,     // GROUPING SETS: each input row once per set (grouping_sets), see below
  kWindow,     // windows: output = input columns, then one column per window function
};

struct LogicalOperator {
  LogicalKind kind;
  std::vector<std::unique_ptr<LogicalOperator>> children;
  std::vector<OutputColumn> output;

  // kScan
  std::shared_ptr<TableSource> table;
  std::string table_name;
  std::vector<size_t> projection;
  std::vector<BoundExprPtr> filters;
  // kValues
  std::vector<std::vector<Value>> rows;
  // kFilter (predicate), kJoin (non-equi rest of the condition; may be null)
  BoundExprPtr predicate;
  // kProject, kAggregate (the group keys)
  std::vector<BoundExprPtr> expressions;
  std::vector<BoundAggregate> aggregates;
  std::vector<BoundWindow> windows;  // kWindow
  // kJoin
  JoinKind join_kind = JoinKind::kInner;
  std::vector<BoundExprPtr> left_keys;   // over the left input
  std::vector<BoundExprPtr> right_keys;  // over the right input
  bool null_aware = false;  // NOT IN: a NULL on either side makes the condition unknown
  bool build_left = false;  // semi / anti: build the hash table on the left (smaller) input
  // kSort, kTopN
  std::vector<SortKey> sort_keys;
  // kLimit, kTopN; on a kJoin, 1 means the right side must have at most one row (a scalar
  // subquery)
  std::optional<uint64_t> limit;
  uint64_t offset = 0;
  // kExpand: expressions are the group keys of every set; its output is the input's columns,
  // then per key its value (NULL in the sets without it), then per key a BIGINT flag (1 in the
  // sets without it: GROUPING()), then the set's number (BIGINT), as Flink's Expand does.
  std::vector<std::vector<bool>> grouping_sets;  // per set: which keys it groups by
  // kUnion, kSetOp
  bool all = false;
  QueryNode::SetOp set_op = QueryNode::SetOp::kUnion;

  explicit LogicalOperator(LogicalKind k) : kind(k) {}
  std::vector<LogicalType> types() const;
  // An indented tree, one operator per line, as EXPLAIN prints it.
  std::string to_string() const;
};
using LogicalPlan = std::unique_ptr<LogicalOperator>;

}  // namespace sluice::sql
