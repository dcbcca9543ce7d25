// The syntax tree the parser produces: statements, query blocks, table references and
// expressions, as written (names unresolved, types unchecked). The binder (binder.h) turns it
// into a typed logical plan. Every node keeps the position of its first token so that errors
// found later still point at the text.
//
// Threading: plain data, owned by one thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/sql/types.h"

namespace sluice::sql {

struct SourcePosition {
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in bytes
  size_t offset = 0;
};

struct QueryNode;
struct WindowSpec;

enum class ExprKind {
  kLiteral,         // literal_kind, text
  kColumn,          // qualifier..., name
  kStar,            // qualifier (t.*) or none
  kUnary,           // name: "-", "+", "NOT"
  kBinary,          // name: operator spelling in upper case ("+", "=", "AND", "||", ...)
  kFunction,        // name (as written), children, distinct, star (COUNT(*))
  kCast,            // children[0], cast_type; try_cast
  kCase,            // children: [operand?] when, then, when, then, ..., [else]; has_operand,
                    // has_else
  kBetween,         // children: value, low, high; negated
  kInList,          // children: value, items...; negated
  kInSubquery,      // children: value; subquery; negated
  kExists,          // subquery; negated
  kScalarSubquery,  // subquery
  kIsNull,          // children[0]; negated (IS NOT NULL)
  kIsDistinctFrom,  // children[0..1]; negated (IS NOT DISTINCT FROM)
  kIsTrue,          // children[0]; name "TRUE"/"FALSE"; negated
  kLike,            // children: value, pattern, [escape]; negated
  kInterval,        // text (the quoted value), name: unit (DAY, MONTH, ..., "YEAR TO MONTH")
  kTypedLiteral,    // DATE '...', TIME '...', TIMESTAMP '...': cast_type, text
  kParameter,       // reserved
};

enum class LiteralKind { kNull, kBoolean, kInteger, kDecimal, kDouble, kString };

struct ParsedExpr {
  ExprKind kind;
  SourcePosition position;
  std::string name;
  std::string text;
  std::vector<std::string> qualifier;
  LiteralKind literal_kind = LiteralKind::kNull;
  std::vector<std::unique_ptr<ParsedExpr>> children;
  std::unique_ptr<QueryNode> subquery;
  LogicalType cast_type;
  bool negated = false;
  bool distinct = false;
  bool star = false;
  bool try_cast = false;
  bool has_operand = false;
  bool has_else = false;
  int height = 1;                      // of the tree of binary operators under this node
  std::unique_ptr<WindowSpec> window;  // kFunction ... OVER (...)
  std::unique_ptr<ParsedExpr> filter;  // an aggregate's FILTER (WHERE ...)

  ParsedExpr(ExprKind k, SourcePosition p) : kind(k), position(p) {}
  ~ParsedExpr();
  // The expression as SQL, for column names of unaliased select items and for messages.
  std::string to_string() const;
};
using ExprPtr = std::unique_ptr<ParsedExpr>;

enum class JoinKind { kInner, kLeft, kRight, kFull, kCross, kSemi, kAnti };

struct TableRef {
  enum class Kind { kTable, kSubquery, kJoin, kValues };
  Kind kind;
  SourcePosition position;
  std::vector<std::string> name;  // kTable: catalog path, last part the table name
  std::string alias;
  std::vector<std::string> column_aliases;
  std::unique_ptr<QueryNode> subquery;  // kSubquery
  // kJoin
  JoinKind join_kind = JoinKind::kInner;
  std::unique_ptr<TableRef> left;
  std::unique_ptr<TableRef> right;
  ExprPtr condition;
  std::vector<std::string> using_columns;
  bool natural = false;

  TableRef(Kind k, SourcePosition p) : kind(k), position(p) {}
  ~TableRef();
};

struct OrderItem {
  ExprPtr expr;
  bool descending = false;
  // Unset: Flink's default, NULLs first in ascending order and last in descending order.
  std::optional<bool> nulls_first;
};

// A window frame bound: UNBOUNDED PRECEDING / FOLLOWING, CURRENT ROW, or n PRECEDING / FOLLOWING
// (offset: negative preceding, positive following). ROWS offsets are row counts; a RANGE offset
// is written as a value (`10`, `1.5`, `INTERVAL '1' HOUR`: range_value) that the binder turns into
// the ORDER BY key's units (its integer value, a decimal's unscaled value, days, microseconds).
struct FrameBound {
  enum class Kind { kUnboundedPreceding, kOffset, kCurrentRow, kUnboundedFollowing };
  Kind kind = Kind::kCurrentRow;
  int64_t offset = 0;
  std::shared_ptr<const ParsedExpr> range_value;  // RANGE offsets, until bound
};

// OVER (PARTITION BY ... ORDER BY ... [ROWS | RANGE frame]).
struct WindowSpec {
  std::vector<ExprPtr> partition_by;
  std::vector<OrderItem> order_by;
  bool has_frame = false;
  bool rows = false;  // ROWS (physical offsets) or RANGE (peers)
  FrameBound start;
  FrameBound end;
};

struct SelectItem {
  ExprPtr expr;
  std::string alias;
};

struct CommonTableExpr {
  std::string name;
  std::vector<std::string> column_aliases;
  std::unique_ptr<QueryNode> query;
  SourcePosition position;
};

// A query: one SELECT block, VALUES rows, or a set operation of two queries; each kind may carry
// WITH, ORDER BY, LIMIT and OFFSET.
struct QueryNode {
  enum class Kind { kSelect, kSetOperation, kValues };
  enum class SetOp { kUnion, kIntersect, kExcept };
  Kind kind = Kind::kSelect;
  SourcePosition position;

  std::vector<CommonTableExpr> with;

  // kSelect
  bool distinct = false;
  std::vector<SelectItem> select_list;
  std::unique_ptr<TableRef> from;  // null: SELECT without FROM
  ExprPtr where;
  std::vector<ExprPtr> group_by;
  // GROUPING SETS, ROLLUP and CUBE: each set lists the group_by expressions it groups by (empty
  // for a plain GROUP BY, whose one set is all of them).
  std::vector<std::vector<size_t>> grouping_sets;
  ExprPtr having;

  // kSetOperation
  SetOp set_op = SetOp::kUnion;
  bool set_all = false;
  std::unique_ptr<QueryNode> left;
  std::unique_ptr<QueryNode> right;

  // kValues
  std::vector<std::vector<ExprPtr>> values;

  std::vector<OrderItem> order_by;
  ExprPtr limit;
  ExprPtr offset;

  QueryNode();
  QueryNode(QueryNode&&) noexcept;
  QueryNode& operator=(QueryNode&&) noexcept;
  ~QueryNode();
};

struct ColumnDefinition {
  std::string name;
  LogicalType type;
  bool not_null = false;
  SourcePosition position;
};

struct Statement {
  enum class Kind {
    kQuery,
    kCreateTable,
    kCreateView,
    kInsert,
    kDrop,
    kExplain,
    kShowTables,
    kDescribe,
    kSet,
  };
  Kind kind;
  SourcePosition position;
  std::shared_ptr<const std::string> source;  // the whole script, for messages with a caret
  size_t end_offset = 0;                      // where the statement's text ends in `source`

  std::unique_ptr<QueryNode> query;  // kQuery, kCreateTable AS, kCreateView, kInsert
  std::vector<std::string> name;     // table or view
  bool if_not_exists = false;
  bool if_exists = false;
  bool temporary = false;
  std::vector<ColumnDefinition> columns;
  std::vector<std::string> primary_key;
  std::vector<std::pair<std::string, std::string>> options;  // WITH ('k' = 'v'), SET 'k' = 'v'
  std::vector<std::string> insert_columns;
  bool overwrite = false;
  std::string drop_kind;                 // TABLE or VIEW
  std::unique_ptr<Statement> explained;  // kExplain

  Statement(Kind k, SourcePosition p) : kind(k), position(p) {}
  ~Statement();
};

}  // namespace sluice::sql
