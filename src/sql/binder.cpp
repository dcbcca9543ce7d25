#include "binder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <functional>
#include <set>

#include "expression_executor.h"
#include "function_library.h"
#include "sluice/sql/parser.h"

namespace sluice::sql {

namespace {

std::string upper(std::string_view s) { return ascii_upper(s); }

// Placeholder positions of scalar subqueries not yet joined to the plan they are evaluated over,
// and of window functions not yet computed over it.
// GROUPING() flags, placed after the aggregates once their number is known.
constexpr size_t kGroupingBase = size_t{1} << 39;
constexpr size_t kPendingBase = size_t{1} << 40;
constexpr size_t kWindowBase = size_t{1} << 41;

bool is_aggregate_name(const std::string& upper_name, const FunctionRegistry& functions) {
  if (functions.find_aggregate(upper_name)) return true;
  static const std::set<std::string> kNames = {
      "COUNT",   "SUM",      "AVG",    "MIN",      "MAX",      "STDDEV_POP", "STDDEV_SAMP",
      "VAR_POP", "VAR_SAMP", "STDDEV", "VARIANCE", "BOOL_AND", "BOOL_OR"};
  return kNames.count(upper_name) > 0;
}

// Whether `e` aggregates rows into groups (a window aggregate does not; its arguments may).
bool contains_aggregate(const ParsedExpr& e, const FunctionRegistry& functions) {
  if (e.kind == ExprKind::kFunction && is_aggregate_name(upper(e.name), functions) && !e.window)
    return true;
  if (e.window) {
    for (const auto& p : e.window->partition_by) {
      if (contains_aggregate(*p, functions)) return true;
    }
    for (const auto& o : e.window->order_by) {
      if (contains_aggregate(*o.expr, functions)) return true;
    }
  }
  for (const auto& c : e.children) {
    if (c && contains_aggregate(*c, functions)) return true;
  }
  return false;
}

struct ScopeColumn {
  std::string table;  // alias or table name
  std::string name;
  LogicalType type;
  size_t position;
  bool hidden = false;  // USING's right-hand duplicate: not in *, not found unqualified
};

struct Scope {
  std::vector<ScopeColumn> columns;
  const Scope* outer = nullptr;  // the enclosing query's scope, for correlated subqueries
  bool* saw_outer = nullptr;     // set when an expression resolves into `outer`
};

// An aggregate being bound: expressions in the select list, HAVING and ORDER BY are over the
// aggregate's output (groups, then aggregates).
struct AggregateContext {
  const Scope* input = nullptr;
  std::vector<BoundExprPtr> groups;
  std::vector<BoundAggregate> aggregates;
  bool grouping_sets = false;  // GROUPING SETS, ROLLUP or CUBE: GROUPING() varies by row
};

// A scalar subquery waiting to be joined to the plan the expression runs over.
struct PendingSubquery {
  LogicalPlan plan;                      // its result: (correlation keys..., value)
  std::vector<BoundExprPtr> outer_keys;  // over the plan the expression runs over
  bool single_row_check = false;         // uncorrelated: at most one row
  LogicalType type;
  Value empty_value;  // correlated: the value when nothing matches
};

// After the scalar subqueries are joined: turns their placeholders in an expression into the
// joined value columns, or, for a correlated one with a value over no rows (COUNT's 0), into
// that value where the join found no group.
class PendingRewriter {
 public:
  struct Column {
    size_t value;  // the subquery's value column
    size_t key;    // its first correlation key column: NULL when no group matched
    LogicalType key_type;
    Value empty;  // NULL: no default needed
  };

  void add(Column column) { columns_.push_back(std::move(column)); }
  void operator()(BoundExprPtr& e) const {
    if (e) rewrite(*e);
  }

 private:
  void rewrite(BoundExpr& e) const {
    if (e.kind == BoundExprKind::kColumn && e.column >= kPendingBase && e.column < kWindowBase) {
      const Column& column = columns_[e.column - kPendingBase];
      e.column = column.value;
      if (column.empty.is_null()) return;
      auto c = std::make_unique<BoundExpr>(BoundExprKind::kCase, e.type);
      auto missing = std::make_unique<BoundExpr>(BoundExprKind::kIsNull, LogicalType::boolean());
      missing->children.push_back(make_column(column.key, column.key_type));
      c->children.push_back(std::move(missing));
      c->children.push_back(make_constant(column.empty));
      c->children.push_back(make_column(column.value, e.type, e.name));
      e = std::move(*c);
      return;
    }
    for (auto& c : e.children) rewrite(*c);
  }

  std::vector<Column> columns_;
};

struct BindContext {
  Scope* scope = nullptr;
  AggregateContext* aggregate = nullptr;
  std::vector<PendingSubquery>* pending = nullptr;  // null: subqueries not allowed here
  std::vector<BoundWindow>* windows = nullptr;      // null: window functions not allowed here
  const char* clause = "";                          // for messages: "WHERE", "GROUP BY", ...
};

// A conjunct of a correlated subquery's WHERE that reads the enclosing query's columns.
struct CorrelatedConjunct {
  BoundExprPtr expr;  // inner columns by position, outer ones with outer_reference set
};

struct SelectResult {
  LogicalPlan plan;
  std::vector<std::string> names;
  // A correlated scalar subquery's value where the outer row has no group: its select
  // expression over empty input (COUNT(*) is 0 there, not NULL).
  Value empty_value;
};

void split_conjuncts(const ParsedExpr* e, std::vector<const ParsedExpr*>& out) {
  if (e->kind == ExprKind::kBinary && e->name == "AND") {
    split_conjuncts(e->children[0].get(), out);
    split_conjuncts(e->children[1].get(), out);
  } else {
    out.push_back(e);
  }
}

bool references_outer(const BoundExpr& e) {
  if (e.kind == BoundExprKind::kColumn && e.outer_reference) return true;
  for (const auto& c : e.children) {
    if (references_outer(*c)) return true;
  }
  return false;
}

bool references_inner(const BoundExpr& e) {
  if (e.kind == BoundExprKind::kColumn && !e.outer_reference) return true;
  for (const auto& c : e.children) {
    if (references_inner(*c)) return true;
  }
  return false;
}

// Column positions: inner c -> c + shift; outer references -> their own position, unmarked.
void join_positions(BoundExpr& e, size_t inner_shift) {
  if (e.kind == BoundExprKind::kColumn) {
    if (e.outer_reference) {
      e.outer_reference = false;
    } else {
      e.column += inner_shift;
    }
  }
  for (auto& c : e.children) join_positions(*c, inner_shift);
}

}  // namespace

class Binder::Impl {
 public:
  Impl(const Catalog& catalog, const FunctionRegistry& functions,
       std::shared_ptr<const std::string> source)
      : catalog_(catalog), functions_(functions), source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& message, SourcePosition position) const {
    if (source_) throw SqlError(message, position, *source_);
    throw SqlError(message);
  }

  bool contains_aggregate(const ParsedExpr& e) const {
    return sql::contains_aggregate(e, functions_);
  }
  bool is_aggregate_name(const std::string& upper_name) const {
    return sql::is_aggregate_name(upper_name, functions_);
  }

  // ---------------------------------------------------------------- queries
  SelectResult bind_query(const QueryNode& q, const Scope* outer,
                          std::vector<CorrelatedConjunct>* correlated) {
    size_t ctes_before = ctes_.size();
    for (const auto& cte : q.with) ctes_.push_back(&cte);
    SelectResult result;
    switch (q.kind) {
      case QueryNode::Kind::kSelect:
        result = bind_select(q, outer, correlated, /*group_by_correlation=*/false);
        break;
      case QueryNode::Kind::kValues:
        result = bind_values(q);
        add_order_limit(q, result, nullptr);
        break;
      case QueryNode::Kind::kSetOperation:
        result = bind_set_operation(q, outer);
        add_order_limit(q, result, nullptr);
        break;
    }
    ctes_.resize(ctes_before);
    return result;
  }

  SelectResult bind_values(const QueryNode& q) {
    size_t width = q.values[0].size();
    std::vector<std::vector<Value>> rows;
    std::vector<LogicalType> types(width, LogicalType::null());
    for (const auto& row : q.values) {
      if (row.size() != width) {
        fail(fmt::format("VALUES rows have different lengths: {} and {}", width, row.size()),
             row.empty() ? q.position : row[0]->position);
      }
      std::vector<Value> values;
      for (size_t i = 0; i < width; ++i) {
        BindContext ctx;
        Scope empty;
        ctx.scope = &empty;
        ctx.clause = "VALUES";
        BoundExprPtr e = bind(*row[i], ctx);
        if (!e->is_constant_foldable()) fail("VALUES must be constant", row[i]->position);
        LogicalType common;
        if (!common_super_type(types[i], e->type, common)) {
          fail(fmt::format("VALUES column {} mixes {} and {}", i + 1, types[i].to_string(),
                           e->type.to_string()),
               row[i]->position);
        }
        types[i] = common;
        values.push_back(evaluate_constant(*e));
      }
      rows.push_back(std::move(values));
    }
    for (auto& t : types) {
      if (t.id() == TypeId::kNull) t = LogicalType::integer();
    }
    for (auto& row : rows) {
      for (size_t i = 0; i < width; ++i) row[i] = cast_value(row[i], types[i], q.position);
    }
    auto op = std::make_unique<LogicalOperator>(LogicalKind::kValues);
    for (size_t i = 0; i < width; ++i) op->output.push_back({fmt::format("EXPR${}", i), types[i]});
    op->rows = std::move(rows);
    SelectResult result;
    for (const auto& c : op->output) result.names.push_back(c.name);
    result.plan = std::move(op);
    return result;
  }

  Value cast_value(const Value& v, const LogicalType& type, SourcePosition position) {
    if (v.type() == type) return v;
    BoundExprPtr e = make_cast(make_constant(v), type);
    try {
      return evaluate_constant(*e);
    } catch (const Error& error) {
      fail(error.message(), position);
    }
  }

  SelectResult bind_set_operation(const QueryNode& q, const Scope* outer) {
    SelectResult left = bind_query(*q.left, outer, nullptr);
    SelectResult right = bind_query(*q.right, outer, nullptr);
    if (left.plan->output.size() != right.plan->output.size()) {
      fail(fmt::format("the two sides of a set operation have {} and {} columns",
                       left.plan->output.size(), right.plan->output.size()),
           q.position);
    }
    std::vector<LogicalType> types;
    for (size_t i = 0; i < left.plan->output.size(); ++i) {
      LogicalType common;
      if (!common_super_type(left.plan->output[i].type, right.plan->output[i].type, common)) {
        fail(fmt::format("column {} of the set operation mixes {} and {}", i + 1,
                         left.plan->output[i].type.to_string(),
                         right.plan->output[i].type.to_string()),
             q.position);
      }
      types.push_back(common);
    }
    left.plan = cast_to(std::move(left.plan), types);
    right.plan = cast_to(std::move(right.plan), types);
    LogicalPlan op;
    if (q.set_op == QueryNode::SetOp::kUnion) {
      op = std::make_unique<LogicalOperator>(LogicalKind::kUnion);
    } else {
      op = std::make_unique<LogicalOperator>(LogicalKind::kSetOp);
      op->set_op = q.set_op;
    }
    op->all = q.set_all;
    op->output = left.plan->output;
    op->children.push_back(std::move(left.plan));
    op->children.push_back(std::move(right.plan));
    if (q.set_op == QueryNode::SetOp::kUnion && !q.set_all) op = distinct(std::move(op));
    SelectResult result;
    result.names = left.names;
    result.plan = std::move(op);
    return result;
  }

  LogicalPlan cast_to(LogicalPlan plan, const std::vector<LogicalType>& types) {
    bool same = true;
    for (size_t i = 0; i < types.size(); ++i) same = same && plan->output[i].type == types[i];
    if (same) return plan;
    auto project = std::make_unique<LogicalOperator>(LogicalKind::kProject);
    for (size_t i = 0; i < types.size(); ++i) {
      project->expressions.push_back(
          make_cast(make_column(i, plan->output[i].type, plan->output[i].name), types[i]));
      project->output.push_back({plan->output[i].name, types[i]});
    }
    project->children.push_back(std::move(plan));
    return project;
  }

  LogicalPlan distinct(LogicalPlan plan) {
    auto agg = std::make_unique<LogicalOperator>(LogicalKind::kAggregate);
    for (size_t i = 0; i < plan->output.size(); ++i) {
      agg->expressions.push_back(make_column(i, plan->output[i].type, plan->output[i].name));
    }
    agg->output = plan->output;
    agg->children.push_back(std::move(plan));
    return agg;
  }

  // The FROM clause and WHERE of a SELECT; the rest is built on top by bind_select.
  struct FromWhere {
    LogicalPlan plan;
    Scope scope;
  };

  FromWhere bind_from_where(const QueryNode& q, const Scope* outer,
                            std::vector<CorrelatedConjunct>* correlated) {
    FromWhere fw;
    if (q.from) {
      fw.plan = bind_table_ref(*q.from, fw.scope);
    } else {
      auto values = std::make_unique<LogicalOperator>(LogicalKind::kValues);
      values->rows.emplace_back();
      fw.plan = std::move(values);
    }
    fw.scope.outer = outer;
    if (!q.where) return fw;
    std::vector<const ParsedExpr*> conjuncts;
    split_conjuncts(q.where.get(), conjuncts);
    std::vector<BoundExprPtr> filters;
    std::vector<PendingSubquery> pending;
    for (const ParsedExpr* conjunct : conjuncts) {
      if (contains_aggregate(*conjunct)) {
        fail("aggregate functions are not allowed in WHERE (use HAVING)", conjunct->position);
      }
      if (conjunct->kind == ExprKind::kExists || conjunct->kind == ExprKind::kInSubquery) {
        fw.plan = semi_join(std::move(fw.plan), fw.scope, *conjunct);
        continue;
      }
      bool saw_outer = false;
      fw.scope.saw_outer = &saw_outer;
      BindContext ctx;
      ctx.scope = &fw.scope;
      ctx.pending = &pending;
      ctx.clause = "WHERE";
      BoundExprPtr e = bind_boolean(*conjunct, ctx);
      fw.scope.saw_outer = nullptr;
      if (saw_outer) {
        if (!correlated) {
          fail(
              "a correlated reference is supported only in the WHERE of an EXISTS, IN or "
              "scalar subquery",
              conjunct->position);
        }
        correlated->push_back({std::move(e)});
        continue;
      }
      filters.push_back(std::move(e));
    }
    PendingRewriter rewrite = attach_pending(fw.plan, pending);
    for (auto& f : filters) rewrite(f);
    if (!filters.empty()) fw.plan = filter(std::move(fw.plan), std::move(filters));
    if (!pending.empty()) {
      // Scalar subqueries added columns: keep the FROM's own columns only.
      fw.plan = project_prefix(std::move(fw.plan), fw.scope.columns.size());
    }
    return fw;
  }

  LogicalPlan project_prefix(LogicalPlan plan, size_t width) {
    size_t visible = 0;
    for (size_t i = 0; i < plan->output.size() && i < width; ++i) visible = i + 1;
    auto project = std::make_unique<LogicalOperator>(LogicalKind::kProject);
    for (size_t i = 0; i < visible; ++i) {
      project->expressions.push_back(make_column(i, plan->output[i].type, plan->output[i].name));
      project->output.push_back(plan->output[i]);
    }
    project->children.push_back(std::move(plan));
    return project;
  }

  LogicalPlan filter(LogicalPlan plan, std::vector<BoundExprPtr> conjuncts) {
    auto f = std::make_unique<LogicalOperator>(LogicalKind::kFilter);
    f->predicate = conjoin(std::move(conjuncts));
    f->output = plan->output;
    f->children.push_back(std::move(plan));
    return f;
  }

  static BoundExprPtr conjoin(std::vector<BoundExprPtr> conjuncts) {
    if (conjuncts.size() == 1) return std::move(conjuncts[0]);
    auto e = std::make_unique<BoundExpr>(BoundExprKind::kAnd, LogicalType::boolean());
    e->children = std::move(conjuncts);
    return e;
  }

  // Joins each pending scalar subquery to `plan` (a left join: an uncorrelated subquery with no
  // row is one NULL, a correlated one a NULL group); the rewriter then fixes the expressions.
  PendingRewriter attach_pending(LogicalPlan& plan, std::vector<PendingSubquery>& pending) {
    PendingRewriter rewriter;
    for (auto& p : pending) {
      size_t left_width = plan->output.size();
      size_t right_width = p.plan->output.size();
      auto join = std::make_unique<LogicalOperator>(LogicalKind::kJoin);
      join->join_kind = JoinKind::kLeft;
      if (p.single_row_check) join->limit = 1;  // at most one row on the right, checked at run
      for (size_t k = 0; k < p.outer_keys.size(); ++k) {
        join->left_keys.push_back(std::move(p.outer_keys[k]));
        join->right_keys.push_back(make_column(k, p.plan->output[k].type, p.plan->output[k].name));
      }
      join->output = plan->output;
      for (const auto& c : p.plan->output) join->output.push_back(c);
      rewriter.add({left_width + right_width - 1, left_width, p.plan->output[0].type,
                    std::move(p.empty_value)});
      join->children.push_back(std::move(plan));
      join->children.push_back(std::move(p.plan));
      plan = std::move(join);
    }
    pending.clear();
    return rewriter;
  }

  // EXISTS / NOT EXISTS / IN / NOT IN (subquery) as a WHERE conjunct: a semi or anti join.
  LogicalPlan semi_join(LogicalPlan plan, Scope& scope, const ParsedExpr& e) {
    std::vector<CorrelatedConjunct> correlated;
    bool is_in = e.kind == ExprKind::kInSubquery;
    FromWhere inner;
    SelectResult in_result;
    if (is_in) {
      in_result = bind_query(*e.subquery, &scope, &correlated);
      if (in_result.plan->output.size() != 1) {
        fail(fmt::format("the subquery of IN returns {} columns; it must return one",
                         in_result.plan->output.size()),
             e.position);
      }
    } else {
      if (e.subquery->kind != QueryNode::Kind::kSelect || !e.subquery->group_by.empty() ||
          e.subquery->having) {
        // Only whether a row exists matters: any query will do.
        in_result = bind_query(*e.subquery, &scope, &correlated);
      } else {
        inner = bind_from_where(*e.subquery, &scope, &correlated);
        in_result.plan = std::move(inner.plan);
      }
    }
    size_t left_width = plan->output.size();
    auto join = std::make_unique<LogicalOperator>(LogicalKind::kJoin);
    join->join_kind = e.negated ? JoinKind::kAnti : JoinKind::kSemi;
    std::vector<BoundExprPtr> conditions;
    for (auto& c : correlated) {
      join_positions(*c.expr, left_width);
      conditions.push_back(std::move(c.expr));
    }
    if (is_in) {
      BindContext ctx;
      ctx.scope = &scope;
      ctx.clause = "IN";
      BoundExprPtr value = bind(*e.children[0], ctx);
      const OutputColumn& column = in_result.plan->output[0];
      LogicalType common;
      if (!common_super_type(value->type, column.type, common)) {
        fail(fmt::format("cannot compare {} with {} in IN", value->type.to_string(),
                         column.type.to_string()),
             e.position);
      }
      join->left_keys.push_back(coerce(std::move(value), common));
      join->right_keys.push_back(coerce(make_column(0, column.type, column.name), common));
      // NOT IN is NULL (not true) when the list holds a NULL or the value is NULL.
      join->null_aware = e.negated;
    }
    if (!conditions.empty()) join->predicate = conjoin(std::move(conditions));
    join->output = plan->output;
    join->children.push_back(std::move(plan));
    join->children.push_back(std::move(in_result.plan));
    return join;
  }

  SelectResult bind_select(const QueryNode& q, const Scope* outer,
                           std::vector<CorrelatedConjunct>* correlated, bool group_by_correlation) {
    FromWhere fw = bind_from_where(q, outer, correlated);
    Scope& scope = fw.scope;
    LogicalPlan plan = std::move(fw.plan);

    // Expand stars.
    struct Item {
      const ParsedExpr* expr = nullptr;
      size_t star_column = 0;  // when expr is null: a column of the scope
      std::string name;
    };
    std::vector<Item> items;
    for (size_t i = 0; i < q.select_list.size(); ++i) {
      const SelectItem& item = q.select_list[i];
      if (item.expr->kind == ExprKind::kStar) {
        bool any = false;
        for (const auto& column : scope.columns) {
          if (column.hidden) continue;
          if (!item.expr->qualifier.empty() && column.table != item.expr->qualifier.back()) {
            continue;
          }
          items.push_back({nullptr, column.position, column.name});
          any = true;
        }
        if (!any) {
          fail(item.expr->qualifier.empty()
                   ? "SELECT * without a FROM clause"
                   : fmt::format("table '{}' not found", item.expr->qualifier.back()),
               item.expr->position);
        }
        continue;
      }
      std::string name = item.alias;
      if (name.empty()) {
        name = item.expr->kind == ExprKind::kColumn ? item.expr->name : fmt::format("EXPR${}", i);
      }
      items.push_back({item.expr.get(), 0, name});
    }

    bool aggregated = !q.group_by.empty() || !q.grouping_sets.empty() || (q.having != nullptr) ||
                      group_by_correlation;
    for (const auto& item : items) {
      if (item.expr && contains_aggregate(*item.expr)) aggregated = true;
    }
    for (const auto& o : q.order_by) {
      if (contains_aggregate(*o.expr)) aggregated = true;
    }

    std::vector<BoundExprPtr> select_exprs;
    std::vector<PendingSubquery> pending;
    std::vector<BoundWindow> windows;
    AggregateContext agg;
    agg.input = &scope;
    std::vector<size_t> correlation_group_positions;

    if (aggregated) {
      if (group_by_correlation) {
        for (auto& c : *correlated) {
          // inner = outer equalities: the inner side becomes a group key.
          BoundExpr& e = *c.expr;
          if (e.kind != BoundExprKind::kFunction || e.name != "=") {
            fail(
                "a correlated scalar subquery supports only equality conditions on the outer "
                "query's columns",
                q.position);
          }
          int inner_side = references_outer(*e.children[0]) ? 1 : 0;
          if (references_outer(*e.children[inner_side]) ||
              references_inner(*e.children[1 - inner_side])) {
            fail(
                "a correlated condition must compare an expression of the subquery with one of "
                "the outer query",
                q.position);
          }
          correlation_group_positions.push_back(agg.groups.size());
          agg.groups.push_back(e.children[inner_side]->clone());
        }
      }
      for (size_t g = 0; g < q.group_by.size(); ++g) {
        const ParsedExpr& ge = *q.group_by[g];
        BoundExprPtr bound = bind_group_key(ge, scope, items);
        agg.groups.push_back(std::move(bound));
      }
      agg.grouping_sets = !q.grouping_sets.empty();
      if (agg.grouping_sets && group_by_correlation) {
        fail("a correlated scalar subquery cannot use GROUPING SETS", q.position);
      }
      BindContext ctx;
      ctx.scope = &scope;
      ctx.aggregate = &agg;
      ctx.pending = &pending;
      ctx.windows = &windows;
      ctx.clause = "SELECT";
      for (const auto& item : items) {
        if (item.expr) {
          select_exprs.push_back(bind(*item.expr, ctx));
        } else {
          const ScopeColumn& column = scope.columns[item.star_column];
          select_exprs.push_back(
              group_reference(agg, make_column(column.position, column.type, column.name),
                              q.position, column.name));
        }
      }
      BoundExprPtr having;
      if (q.having) {
        ctx.clause = "HAVING";
        ctx.windows = nullptr;
        having = bind_boolean(*q.having, ctx);
        ctx.windows = &windows;
      }
      // ORDER BY may add aggregates too: bind it before the aggregate node is built.
      std::vector<BoundExprPtr> order_exprs = bind_order_exprs(q, ctx, items, select_exprs);

      auto node = std::make_unique<LogicalOperator>(LogicalKind::kAggregate);
      for (size_t g = 0; g < agg.groups.size(); ++g) {
        node->output.push_back({fmt::format("$group{}", g), agg.groups[g]->type});
      }
      for (const auto& a : agg.aggregates) node->output.push_back({a.name, a.function.result});
      size_t group_count = agg.groups.size();
      size_t aggregate_count = agg.aggregates.size();
      node->expressions = std::move(agg.groups);
      node->aggregates = std::move(agg.aggregates);
      node->children.push_back(std::move(plan));
      plan = std::move(node);
      if (agg.grouping_sets) {
        plan = expand_grouping_sets(std::move(plan), q.grouping_sets);
        // GROUPING() reads the flags that follow the aggregates.
        auto place = [&](BoundExpr& e) {
          place_placeholders(e, kGroupingBase, kPendingBase, group_count + aggregate_count);
        };
        if (having) place(*having);
        for (auto& e : select_exprs) place(*e);
        for (auto& e : order_exprs) place(*e);
        for (auto& w : windows) {
          if (w.argument) place(*w.argument);
          if (w.default_value) place(*w.default_value);
          for (auto& p : w.partition_by) place(*p);
          for (auto& o : w.order_by) place(*o);
        }
      }
      PendingRewriter rewrite = attach_pending(plan, pending);
      rewrite(having);
      for (auto& e : select_exprs) rewrite(e);
      for (auto& e : order_exprs) rewrite(e);
      if (having) {
        std::vector<BoundExprPtr> f;
        f.push_back(std::move(having));
        plan = filter(std::move(plan), std::move(f));
      }
      plan = attach_windows(std::move(plan), windows, select_exprs, order_exprs);
      if (group_by_correlation) {
        // (correlation keys..., the select item)
        std::vector<BoundExprPtr> keyed;
        std::vector<std::string> names;
        for (size_t k = 0; k < correlation_group_positions.size(); ++k) {
          size_t pos = correlation_group_positions[k];
          keyed.push_back(make_column(pos, plan->output[pos].type));
          names.push_back(fmt::format("$key{}", k));
        }
        if (select_exprs.size() != 1) {
          fail("a scalar subquery must return one column", q.position);
        }
        Value empty = empty_input_value(*select_exprs[0], *plan);
        keyed.push_back(std::move(select_exprs[0]));
        names.push_back(items[0].name);
        SelectResult result = finish_projection(std::move(plan), std::move(keyed), names, q, {});
        result.empty_value = std::move(empty);
        return result;
      }
      return finish_select(q, std::move(plan), std::move(select_exprs), items,
                           std::move(order_exprs));
    }

    BindContext ctx;
    ctx.scope = &scope;
    ctx.pending = &pending;
    ctx.windows = &windows;
    ctx.clause = "SELECT";
    for (const auto& item : items) {
      if (item.expr) {
        select_exprs.push_back(bind(*item.expr, ctx));
      } else {
        const ScopeColumn& column = scope.columns[item.star_column];
        select_exprs.push_back(make_column(column.position, column.type, column.name));
      }
    }
    std::vector<BoundExprPtr> order_exprs = bind_order_exprs(q, ctx, items, select_exprs);
    PendingRewriter rewrite = attach_pending(plan, pending);
    for (auto& e : select_exprs) rewrite(e);
    for (auto& e : order_exprs) rewrite(e);
    plan = attach_windows(std::move(plan), windows, select_exprs, order_exprs);
    return finish_select(q, std::move(plan), std::move(select_exprs), items,
                         std::move(order_exprs));
  }

  // A Window node over `plan` computing `windows`; their placeholders in the expressions become
  // its output columns.
  LogicalPlan attach_windows(LogicalPlan plan, std::vector<BoundWindow>& windows,
                             std::vector<BoundExprPtr>& select_exprs,
                             std::vector<BoundExprPtr>& order_exprs) {
    if (windows.empty()) return plan;
    size_t width = plan->output.size();
    auto node = std::make_unique<LogicalOperator>(LogicalKind::kWindow);
    node->output = plan->output;
    for (const auto& w : windows) node->output.push_back({w.name, w.type});
    node->windows = std::move(windows);
    windows.clear();
    node->children.push_back(std::move(plan));
    for (auto& e : select_exprs) place_placeholders(*e, kWindowBase, SIZE_MAX, width);
    for (auto& e : order_exprs) place_placeholders(*e, kWindowBase, SIZE_MAX, width);
    return node;
  }

  // Placeholder columns [base, limit) of `e` become the columns from `first` on, once their
  // operator's output is known (windows, GROUPING() flags).
  static void place_placeholders(BoundExpr& e, size_t base, size_t limit, size_t first) {
    if (e.kind == BoundExprKind::kColumn && e.column >= base && e.column < limit) {
      e.column = first + (e.column - base);
    }
    for (auto& c : e.children) place_placeholders(*c, base, limit, first);
  }

  // The value of `expr` (over an aggregate's output) when the aggregate saw no rows: each
  // aggregate's result over empty input, group keys NULL.
  Value empty_input_value(const BoundExpr& expr, const LogicalOperator& plan) {
    const LogicalOperator* agg = &plan;
    while (agg->kind != LogicalKind::kAggregate) agg = agg->children[0].get();
    size_t groups = agg->expressions.size();
    std::vector<BoundExprPtr> replacements;
    for (size_t g = 0; g < groups; ++g) {
      replacements.push_back(make_constant(Value::null(agg->output[g].type)));
    }
    for (const auto& a : agg->aggregates) {
      const AggregateFunction& f = *a.function.function;
      std::vector<uint8_t> storage(f.state_size + 16);
      uint8_t* state =
          storage.data() + (16 - reinterpret_cast<uintptr_t>(storage.data()) % 16) % 16;
      f.initialize(state);
      Vector result(a.function.result);
      f.finalize(f, &state, 1, result);
      if (f.destroy) f.destroy(state);
      replacements.push_back(make_constant(Value::from_vector(result, 0)));
    }
    std::function<BoundExprPtr(const BoundExpr&)> substitute =
        [&](const BoundExpr& e) -> BoundExprPtr {
      if (e.kind == BoundExprKind::kColumn) return replacements[e.column]->clone();
      BoundExprPtr copy = e.clone();
      for (size_t i = 0; i < e.children.size(); ++i) copy->children[i] = substitute(*e.children[i]);
      return copy;
    };
    BoundExprPtr folded = substitute(expr);
    try {
      return evaluate_constant(*folded);
    } catch (const Error&) {
      return Value::null(expr.type);
    }
  }

  // GROUP BY expression: a column or expression of the FROM clause, or (as most engines
  // allow) a select item's alias or ordinal when no column has that name.
  // `via_item`: ge is already a select item reached through an alias or position, which must
  // not lead to another one (`SELECT a AS b, b AS a ... GROUP BY a`).
  template <typename Items>
  BoundExprPtr bind_group_key(const ParsedExpr& ge, Scope& scope, const Items& items,
                              bool via_item = false) {
    if (!via_item && ge.kind == ExprKind::kLiteral && ge.literal_kind == LiteralKind::kInteger) {
      int64_t ordinal = ordinal_of(ge);
      if (ordinal < 1 || ordinal > static_cast<int64_t>(items.size()) || !items[ordinal - 1].expr) {
        fail(fmt::format("GROUP BY position {} is not in the select list", ordinal), ge.position);
      }
      return bind_group_key(*items[ordinal - 1].expr, scope, items, true);
    }
    if (!via_item && ge.kind == ExprKind::kColumn && ge.qualifier.empty() &&
        !find_column(scope, ge)) {
      for (const auto& item : items) {
        if (item.expr && item.name == ge.name && !contains_aggregate(*item.expr)) {
          return bind_group_key(*item.expr, scope, items, true);
        }
      }
    }
    if (contains_aggregate(ge))
      fail("aggregate functions are not allowed in GROUP BY", ge.position);
    BindContext ctx;
    ctx.scope = &scope;
    ctx.clause = "GROUP BY";
    return bind(ge, ctx);
  }

  // ORDER BY items that are not select items (by alias, ordinal or equal expression) are bound
  // over the pre-projection input and carried as hidden columns.
  template <typename Items>
  std::vector<BoundExprPtr> bind_order_exprs(const QueryNode& q, BindContext& ctx,
                                             const Items& items,
                                             const std::vector<BoundExprPtr>& select_exprs) {
    std::vector<BoundExprPtr> out;
    order_targets_.assign(q.order_by.size(), SIZE_MAX);
    for (size_t i = 0; i < q.order_by.size(); ++i) {
      const ParsedExpr& oe = *q.order_by[i].expr;
      if (oe.kind == ExprKind::kLiteral && oe.literal_kind == LiteralKind::kInteger) {
        int64_t ordinal = ordinal_of(oe);
        if (ordinal < 1 || ordinal > static_cast<int64_t>(items.size())) {
          fail(fmt::format("ORDER BY position {} is not in the select list", ordinal), oe.position);
        }
        order_targets_[i] = static_cast<size_t>(ordinal - 1);
        continue;
      }
      if (oe.kind == ExprKind::kColumn && oe.qualifier.empty()) {
        bool found = false;
        for (size_t k = 0; k < items.size(); ++k) {
          if (items[k].name == oe.name) {
            order_targets_[i] = k;
            found = true;
            break;
          }
        }
        if (found) continue;
      }
      ctx.clause = "ORDER BY";
      BoundExprPtr e = bind(oe, ctx);
      for (size_t k = 0; k < select_exprs.size(); ++k) {
        if (select_exprs[k]->equals(*e)) {
          order_targets_[i] = k;
          break;
        }
      }
      if (order_targets_[i] == SIZE_MAX) {
        if (q.distinct) {
          fail("with SELECT DISTINCT, ORDER BY expressions must appear in the select list",
               oe.position);
        }
        order_targets_[i] = items.size() + out.size();
        out.push_back(std::move(e));
      }
    }
    return out;
  }

  template <typename Items>
  SelectResult finish_select(const QueryNode& q, LogicalPlan plan,
                             std::vector<BoundExprPtr> select_exprs, const Items& items,
                             std::vector<BoundExprPtr> order_exprs) {
    std::vector<std::string> names;
    for (const auto& item : items) names.push_back(item.name);
    size_t visible = select_exprs.size();
    for (size_t i = 0; i < order_exprs.size(); ++i) {
      select_exprs.push_back(std::move(order_exprs[i]));
      names.push_back(fmt::format("$order{}", i));
    }
    std::vector<size_t> targets = order_targets_;
    SelectResult result =
        finish_projection(std::move(plan), std::move(select_exprs), names, q, targets);
    if (result.plan->output.size() > visible) {
      result.plan = project_prefix(std::move(result.plan), visible);
      names.resize(visible);
    }
    result.names = names;
    return result;
  }

  SelectResult finish_projection(LogicalPlan plan, std::vector<BoundExprPtr> exprs,
                                 const std::vector<std::string>& names, const QueryNode& q,
                                 const std::vector<size_t>& order_targets) {
    auto project = std::make_unique<LogicalOperator>(LogicalKind::kProject);
    for (size_t i = 0; i < exprs.size(); ++i) {
      project->output.push_back({names[i], exprs[i]->type});
    }
    project->expressions = std::move(exprs);
    project->children.push_back(std::move(plan));
    plan = std::move(project);
    if (q.distinct) plan = distinct(std::move(plan));
    SelectResult result;
    result.names = names;
    result.plan = std::move(plan);
    add_order_limit(q, result, &order_targets);
    return result;
  }

  void add_order_limit(const QueryNode& q, SelectResult& result,
                       const std::vector<size_t>* order_targets) {
    std::vector<SortKey> keys;
    for (size_t i = 0; i < q.order_by.size(); ++i) {
      const OrderItem& item = q.order_by[i];
      size_t column;
      if (order_targets) {
        column = (*order_targets)[i];
      } else {
        // VALUES and set operations: by ordinal or output name.
        const ParsedExpr& oe = *item.expr;
        column = SIZE_MAX;
        if (oe.kind == ExprKind::kLiteral && oe.literal_kind == LiteralKind::kInteger) {
          int64_t ordinal = ordinal_of(oe);
          if (ordinal >= 1 && ordinal <= static_cast<int64_t>(result.plan->output.size())) {
            column = static_cast<size_t>(ordinal - 1);
          }
        } else if (oe.kind == ExprKind::kColumn) {
          for (size_t k = 0; k < result.names.size(); ++k) {
            if (result.names[k] == oe.name) column = k;
          }
        }
        if (column == SIZE_MAX) {
          fail("ORDER BY of a set operation must name an output column or its position",
               oe.position);
        }
      }
      SortKey key;
      key.column = column;
      key.descending = item.descending;
      // Flink's default: NULLs are the smallest values (first ascending, last descending).
      key.nulls_first = item.nulls_first.value_or(!item.descending);
      keys.push_back(key);
    }
    std::optional<uint64_t> limit;
    uint64_t offset = 0;
    if (q.limit) limit = constant_count(*q.limit, "LIMIT");
    if (q.offset) offset = constant_count(*q.offset, "OFFSET");
    if (!keys.empty()) {
      auto sort =
          std::make_unique<LogicalOperator>(limit ? LogicalKind::kTopN : LogicalKind::kSort);
      sort->sort_keys = std::move(keys);
      sort->output = result.plan->output;
      if (limit) {
        sort->limit = limit;
        sort->offset = offset;
      }
      sort->children.push_back(std::move(result.plan));
      result.plan = std::move(sort);
      if (limit) return;
    }
    if (limit || offset > 0) {
      auto node = std::make_unique<LogicalOperator>(LogicalKind::kLimit);
      node->limit = limit;
      node->offset = offset;
      node->output = result.plan->output;
      node->children.push_back(std::move(result.plan));
      result.plan = std::move(node);
    }
  }

  uint64_t constant_count(const ParsedExpr& e, const char* what) {
    BindContext ctx;
    Scope empty;
    ctx.scope = &empty;
    ctx.clause = what;
    BoundExprPtr bound = bind(e, ctx);
    if (!bound->type.is_integer() || !bound->is_constant_foldable()) {
      fail(fmt::format("{} must be a constant integer", what), e.position);
    }
    Value v = evaluate_constant(*bound);
    if (v.is_null() || v.as_int() < 0) {
      fail(fmt::format("{} must not be negative or NULL", what), e.position);
    }
    return static_cast<uint64_t>(v.as_int());
  }

  // ---------------------------------------------------------------- FROM
  LogicalPlan bind_table_ref(const TableRef& ref, Scope& scope) {
    switch (ref.kind) {
      case TableRef::Kind::kTable:
        return bind_named_table(ref, scope);
      case TableRef::Kind::kSubquery: {
        SelectResult sub = bind_query(*ref.subquery, nullptr, nullptr);
        std::string alias = ref.alias;
        add_columns(scope, *sub.plan, sub.names, alias, ref.column_aliases, ref.position);
        return std::move(sub.plan);
      }
      case TableRef::Kind::kValues:
        fail("VALUES in FROM is not supported", ref.position);
      case TableRef::Kind::kJoin:
        return bind_join(ref, scope);
    }
    fail("unsupported table reference", ref.position);
  }

  void add_columns(Scope& scope, const LogicalOperator& plan, const std::vector<std::string>& names,
                   const std::string& table, const std::vector<std::string>& aliases,
                   SourcePosition position) {
    if (!aliases.empty() && aliases.size() != plan.output.size()) {
      fail(fmt::format("{} column aliases for {} columns", aliases.size(), plan.output.size()),
           position);
    }
    size_t base = scope.columns.size();
    for (size_t i = 0; i < plan.output.size(); ++i) {
      ScopeColumn column;
      column.table = table;
      column.name =
          aliases.empty() ? (i < names.size() ? names[i] : plan.output[i].name) : aliases[i];
      column.type = plan.output[i].type;
      column.position = base + i;
      scope.columns.push_back(std::move(column));
    }
  }

  LogicalPlan bind_named_table(const TableRef& ref, Scope& scope) {
    const std::string& name = ref.name.back();
    std::string alias = ref.alias.empty() ? name : ref.alias;
    if (ref.name.size() == 1) {
      for (auto it = ctes_.rbegin(); it != ctes_.rend(); ++it) {
        const CommonTableExpr* cte = *it;
        if (cte->name != name) continue;
        // A CTE sees only the CTEs before it.
        std::vector<const CommonTableExpr*> saved = ctes_;
        ctes_.assign(ctes_.begin(), ctes_.begin() + (ctes_.rend() - it - 1));
        SelectResult sub = bind_query(*cte->query, nullptr, nullptr);
        ctes_ = std::move(saved);
        add_columns(scope, *sub.plan, sub.names, alias,
                    ref.column_aliases.empty() ? cte->column_aliases : ref.column_aliases,
                    ref.position);
        return std::move(sub.plan);
      }
    }
    const CatalogEntry* entry = catalog_.find(name);
    if (!entry) {
      std::vector<std::string> candidates = catalog_.names();
      for (const auto* cte : ctes_) candidates.push_back(cte->name);
      std::string message = fmt::format("table '{}' not found", name);
      std::string near = nearest_name(name, candidates);
      if (!near.empty()) message += fmt::format(" (did you mean '{}'?)", near);
      fail(message, ref.position);
    }
    if (entry->kind == CatalogEntry::Kind::kView) {
      if (++view_depth_ > 32) fail(fmt::format("view '{}' refers to itself", name), ref.position);
      auto statements = parse_sql(entry->view_sql);
      Impl view_binder(catalog_, functions_, statements[0]->source);
      view_binder.view_depth_ = view_depth_;
      SelectResult sub = view_binder.bind_query(*statements[0]->query, nullptr, nullptr);
      --view_depth_;
      add_columns(scope, *sub.plan, sub.names, alias,
                  ref.column_aliases.empty() ? entry->view_columns : ref.column_aliases,
                  ref.position);
      return std::move(sub.plan);
    }
    auto scan = std::make_unique<LogicalOperator>(LogicalKind::kScan);
    scan->table = entry->table;
    scan->table_name = name;
    const auto& columns = entry->table->columns();
    std::vector<std::string> names;
    for (size_t i = 0; i < columns.size(); ++i) {
      scan->projection.push_back(i);
      scan->output.push_back({columns[i].name, columns[i].type});
      names.push_back(columns[i].name);
    }
    add_columns(scope, *scan, names, alias, ref.column_aliases, ref.position);
    return scan;
  }

  LogicalPlan bind_join(const TableRef& ref, Scope& scope) {
    LogicalPlan left = bind_table_ref(*ref.left, scope);
    size_t left_columns = scope.columns.size();
    Scope right_scope;
    LogicalPlan right = bind_table_ref(*ref.right, right_scope);
    for (auto& column : right_scope.columns) {
      column.position += left_columns;
      scope.columns.push_back(column);
    }
    if (ref.join_kind == JoinKind::kRight || ref.join_kind == JoinKind::kFull ||
        ref.join_kind == JoinKind::kLeft) {
      // The outer side's columns become nullable; types do not record nullability here.
    }
    auto join = std::make_unique<LogicalOperator>(LogicalKind::kJoin);
    join->join_kind = ref.join_kind;
    join->output = left->output;
    for (const auto& c : right->output) join->output.push_back(c);
    std::vector<std::string> using_columns = ref.using_columns;
    if (ref.natural) {
      for (size_t i = 0; i < left_columns; ++i) {
        for (size_t j = left_columns; j < scope.columns.size(); ++j) {
          if (scope.columns[i].name == scope.columns[j].name) {
            using_columns.push_back(scope.columns[i].name);
          }
        }
      }
    }
    std::vector<BoundExprPtr> conditions;
    for (const std::string& name : using_columns) {
      const ScopeColumn* l = nullptr;
      ScopeColumn* r = nullptr;
      for (size_t i = 0; i < scope.columns.size(); ++i) {
        if (scope.columns[i].name != name || scope.columns[i].hidden) continue;
        if (i < left_columns) {
          l = &scope.columns[i];
        } else {
          r = &scope.columns[i];
        }
      }
      if (!l || !r)
        fail(fmt::format("column '{}' of USING is not on both sides", name), ref.position);
      conditions.push_back(compare("=", make_column(l->position, l->type, l->name),
                                   make_column(r->position, r->type, r->name), ref.position));
      r->hidden = true;
    }
    if (ref.condition) {
      BindContext ctx;
      ctx.scope = &scope;
      ctx.clause = "ON";
      conditions.push_back(bind_boolean(*ref.condition, ctx));
    }
    if (!conditions.empty()) join->predicate = conjoin(std::move(conditions));
    if (ref.join_kind == JoinKind::kSemi || ref.join_kind == JoinKind::kAnti) {
      // The right side is seen only by the ON condition: the result has the left's columns.
      scope.columns.resize(left_columns);
      join->output = left->output;
    }
    join->children.push_back(std::move(left));
    join->children.push_back(std::move(right));
    return join;
  }

  // ---------------------------------------------------------------- expressions
  const ScopeColumn* find_column(const Scope& scope, const ParsedExpr& e,
                                 bool* ambiguous = nullptr) {
    const ScopeColumn* found = nullptr;
    for (const auto& column : scope.columns) {
      if (column.name != e.name) continue;
      if (!e.qualifier.empty()) {
        if (column.table != e.qualifier.back()) continue;
      } else if (column.hidden) {
        continue;
      }
      if (found) {
        if (ambiguous) *ambiguous = true;
        return found;
      }
      found = &column;
    }
    return found;
  }

  BoundExprPtr bind_column(const ParsedExpr& e, BindContext& ctx) {
    bool ambiguous = false;
    const ScopeColumn* column = find_column(*ctx.scope, e, &ambiguous);
    if (ambiguous) {
      fail(fmt::format("column '{}' is ambiguous: qualify it with its table", e.name), e.position);
    }
    if (column) {
      BoundExprPtr ref = make_column(column->position, column->type, column->name);
      if (ctx.aggregate) return group_reference(*ctx.aggregate, std::move(ref), e.position, e.name);
      return ref;
    }
    if (ctx.scope->outer) {
      const ScopeColumn* outer = find_column(*ctx.scope->outer, e, &ambiguous);
      if (outer && !ambiguous) {
        if (!ctx.scope->saw_outer) {
          fail(fmt::format("correlated reference to '{}' is not supported in {}", e.name,
                           ctx.clause),
               e.position);
        }
        *ctx.scope->saw_outer = true;
        BoundExprPtr ref = make_column(outer->position, outer->type, outer->name);
        ref->outer_reference = true;
        return ref;
      }
    }
    std::vector<std::string> candidates;
    for (const auto& c : ctx.scope->columns) {
      if (!c.hidden) candidates.push_back(c.name);
    }
    std::string message = fmt::format("column '{}' not found", e.name);
    if (!e.qualifier.empty()) message += fmt::format(" in '{}'", e.qualifier.back());
    if (!e.qualifier.empty()) {
      bool table_known = false;
      for (const auto& c : ctx.scope->columns)
        table_known = table_known || c.table == e.qualifier.back();
      if (!table_known) {
        message = fmt::format("table '{}' not found (in {}.{})", e.qualifier.back(),
                              e.qualifier.back(), e.name);
      }
    }
    std::string near = nearest_name(e.name, candidates);
    if (!near.empty()) message += fmt::format(" (did you mean '{}'?)", near);
    fail(message, e.position);
  }

  // Inside an aggregate: a column of the input is allowed only as (part of) a group key.
  BoundExprPtr group_reference(AggregateContext& agg, BoundExprPtr input_expr,
                               SourcePosition position, const std::string& name) {
    for (size_t g = 0; g < agg.groups.size(); ++g) {
      if (agg.groups[g]->equals(*input_expr)) return make_column(g, agg.groups[g]->type, name);
    }
    fail(fmt::format("column '{}' must appear in GROUP BY or be used in an aggregate function",
                     name),
         position);
  }

  BoundExprPtr bind_boolean(const ParsedExpr& e, BindContext& ctx) {
    BoundExprPtr bound = bind(e, ctx);
    if (bound->type.id() == TypeId::kNull) return coerce(std::move(bound), LogicalType::boolean());
    if (bound->type.id() != TypeId::kBoolean) {
      fail(fmt::format("{} must be a BOOLEAN condition, not {}", ctx.clause,
                       bound->type.to_string()),
           e.position);
    }
    return bound;
  }

  BoundExprPtr coerce(BoundExprPtr e, const LogicalType& type) {
    if (e->type == type) return e;
    return make_cast(std::move(e), type);
  }

  // Flink's implicit conversions for comparisons: numeric widening, and a string compared with
  // a date, time or timestamp is read as that type.
  bool comparison_type(const LogicalType& a, const LogicalType& b, LogicalType& out) {
    if (common_super_type(a, b, out)) return true;
    if (a.is_string() && (b.is_temporal() || b.is_numeric() || b.id() == TypeId::kBoolean)) {
      out = b;
      return true;
    }
    if (b.is_string() && (a.is_temporal() || a.is_numeric() || a.id() == TypeId::kBoolean)) {
      out = a;
      return true;
    }
    return false;
  }

  BoundExprPtr compare(const std::string& op, BoundExprPtr a, BoundExprPtr b,
                       SourcePosition position) {
    LogicalType common;
    if (!comparison_type(a->type, b->type, common)) {
      fail(fmt::format("cannot compare {} with {}", a->type.to_string(), b->type.to_string()),
           position);
    }
    std::vector<BoundExprPtr> args;
    args.push_back(std::move(a));
    args.push_back(std::move(b));
    return call(op, std::move(args), position);
  }

  BoundExprPtr call(const std::string& name, std::vector<BoundExprPtr> args,
                    SourcePosition position) {
    const ScalarResolver* resolver = functions_.find_scalar(name);
    if (!resolver) {
      std::string message = fmt::format("function '{}' not found", name);
      std::string near = nearest_name(name, functions_.names());
      if (!near.empty()) message += fmt::format(" (did you mean {}?)", near);
      fail(message, position);
    }
    std::vector<LogicalType> types;
    for (const auto& a : args) types.push_back(a->type);
    std::string error;
    std::optional<ResolvedScalar> resolved = (*resolver)(types, error);
    if (!resolved) {
      std::string shown;
      for (size_t i = 0; i < types.size(); ++i) shown += (i ? ", " : "") + types[i].to_string();
      if (name == "=" || name == "<>" || name == "<" || name == "<=" || name == ">" ||
          name == ">=") {
        fail(fmt::format("cannot compare {}", error.empty() ? shown : error), position);
      }
      fail(fmt::format("function {}({}) is not defined{}", upper(name), shown,
                       error.empty() ? "" : ": " + error),
           position);
    }
    auto e = std::make_unique<BoundExpr>(BoundExprKind::kFunction, resolved->result);
    e->function = resolved->function;
    e->name = name;
    for (size_t i = 0; i < args.size(); ++i) {
      e->children.push_back(coerce(std::move(args[i]), resolved->argument_types[i]));
    }
    return e;
  }

  BoundExprPtr bind(const ParsedExpr& e, BindContext& ctx) {
    // In an aggregate, a whole expression equal to a group key is that key.
    if (ctx.aggregate && !ctx.aggregate->groups.empty() && e.kind != ExprKind::kColumn &&
        e.kind != ExprKind::kLiteral && !contains_aggregate(e) && !has_subquery(e)) {
      BindContext plain;
      plain.scope = const_cast<Scope*>(ctx.aggregate->input);
      plain.clause = ctx.clause;
      try {
        BoundExprPtr whole = bind(e, plain);
        for (size_t g = 0; g < ctx.aggregate->groups.size(); ++g) {
          if (ctx.aggregate->groups[g]->equals(*whole)) {
            return make_column(g, whole->type, e.to_string());
          }
        }
      } catch (const SqlError&) {
        // Not bindable as a whole: bind its parts below, which reports the real error.
      }
    }
    switch (e.kind) {
      case ExprKind::kLiteral:
        return bind_literal(e);
      case ExprKind::kColumn:
        return bind_column(e, ctx);
      case ExprKind::kStar:
        fail("* is allowed only in the select list and in COUNT(*)", e.position);
      case ExprKind::kUnary: {
        BoundExprPtr operand = bind(*e.children[0], ctx);
        if (e.name == "NOT") {
          operand = coerce_boolean(std::move(operand), e.position, "NOT");
          auto n = std::make_unique<BoundExpr>(BoundExprKind::kNot, LogicalType::boolean());
          n->children.push_back(std::move(operand));
          return n;
        }
        std::vector<BoundExprPtr> args;
        args.push_back(std::move(operand));
        return call("NEGATE", std::move(args), e.position);
      }
      case ExprKind::kBinary:
        return bind_binary(e, ctx);
      case ExprKind::kFunction:
        return bind_function(e, ctx);
      case ExprKind::kCast: {
        BoundExprPtr input = bind(*e.children[0], ctx);
        if (!can_cast(input->type, e.cast_type)) {
          fail(
              fmt::format("cannot cast {} to {}", input->type.to_string(), e.cast_type.to_string()),
              e.position);
        }
        BoundExprPtr c = make_cast(std::move(input), e.cast_type);
        c->try_cast = e.try_cast;
        return c;
      }
      case ExprKind::kCase:
        return bind_case(e, ctx);
      case ExprKind::kBetween: {
        BoundExprPtr value = bind(*e.children[0], ctx);
        BoundExprPtr low = bind(*e.children[1], ctx);
        BoundExprPtr high = bind(*e.children[2], ctx);
        auto both = std::make_unique<BoundExpr>(BoundExprKind::kAnd, LogicalType::boolean());
        both->children.push_back(compare(">=", value->clone(), std::move(low), e.position));
        both->children.push_back(compare("<=", std::move(value), std::move(high), e.position));
        if (!e.negated) return both;
        auto n = std::make_unique<BoundExpr>(BoundExprKind::kNot, LogicalType::boolean());
        n->children.push_back(std::move(both));
        return n;
      }
      case ExprKind::kInList: {
        std::vector<BoundExprPtr> items;
        LogicalType common = LogicalType::null();
        for (const auto& c : e.children) {
          items.push_back(bind(*c, ctx));
          LogicalType next;
          if (!comparison_type(common, items.back()->type, next)) {
            fail(fmt::format("cannot compare {} with {} in IN", common.to_string(),
                             items.back()->type.to_string()),
                 c->position);
          }
          common = next;
        }
        auto in = std::make_unique<BoundExpr>(BoundExprKind::kInList, LogicalType::boolean());
        in->negated = e.negated;
        for (auto& item : items) in->children.push_back(coerce(std::move(item), common));
        return in;
      }
      case ExprKind::kInSubquery:
      case ExprKind::kExists:
        fail(fmt::format("{} is supported as a condition of WHERE (joined by AND) only",
                         e.kind == ExprKind::kExists ? "EXISTS" : "IN (subquery)"),
             e.position);
      case ExprKind::kScalarSubquery:
        return bind_scalar_subquery(e, ctx);
      case ExprKind::kIsNull: {
        auto n = std::make_unique<BoundExpr>(BoundExprKind::kIsNull, LogicalType::boolean());
        n->negated = e.negated;
        n->children.push_back(bind(*e.children[0], ctx));
        return n;
      }
      case ExprKind::kIsDistinctFrom: {
        BoundExprPtr cmp = compare("IS_DISTINCT_FROM", bind(*e.children[0], ctx),
                                   bind(*e.children[1], ctx), e.position);
        if (!e.negated) return cmp;
        auto n = std::make_unique<BoundExpr>(BoundExprKind::kNot, LogicalType::boolean());
        n->children.push_back(std::move(cmp));
        return n;
      }
      case ExprKind::kIsTrue: {
        std::vector<BoundExprPtr> args;
        args.push_back(coerce_boolean(bind(*e.children[0], ctx), e.position, "IS TRUE"));
        std::string name = e.name == "TRUE" ? "IS_TRUE" : "IS_FALSE";
        if (e.negated) name = e.name == "TRUE" ? "IS_NOT_TRUE" : "IS_NOT_FALSE";
        return call(name, std::move(args), e.position);
      }
      case ExprKind::kLike: {
        std::vector<BoundExprPtr> args;
        for (const auto& c : e.children) args.push_back(bind(*c, ctx));
        BoundExprPtr like = call(e.name, std::move(args), e.position);
        if (!e.negated) return like;
        auto n = std::make_unique<BoundExpr>(BoundExprKind::kNot, LogicalType::boolean());
        n->children.push_back(std::move(like));
        return n;
      }
      case ExprKind::kInterval:
        return bind_interval(e);
      case ExprKind::kTypedLiteral:
        return bind_typed_literal(e);
      case ExprKind::kParameter:
        break;
    }
    fail("unsupported expression", e.position);
  }

  static bool has_subquery(const ParsedExpr& e) {
    if (e.subquery) return true;
    for (const auto& c : e.children) {
      if (c && has_subquery(*c)) return true;
    }
    return false;
  }

  BoundExprPtr coerce_boolean(BoundExprPtr e, SourcePosition position, const char* what) {
    if (e->type.id() == TypeId::kNull) return coerce(std::move(e), LogicalType::boolean());
    if (e->type.id() != TypeId::kBoolean) {
      fail(fmt::format("{} needs a BOOLEAN operand, not {}", what, e->type.to_string()), position);
    }
    return e;
  }

  BoundExprPtr bind_binary(const ParsedExpr& e, BindContext& ctx) {
    BoundExprPtr left = bind(*e.children[0], ctx);
    BoundExprPtr right = bind(*e.children[1], ctx);
    const std::string& op = e.name;
    if (op == "AND" || op == "OR") {
      auto n = std::make_unique<BoundExpr>(op == "AND" ? BoundExprKind::kAnd : BoundExprKind::kOr,
                                           LogicalType::boolean());
      n->children.push_back(coerce_boolean(std::move(left), e.children[0]->position, op.c_str()));
      n->children.push_back(coerce_boolean(std::move(right), e.children[1]->position, op.c_str()));
      return n;
    }
    if (op == "=" || op == "<>" || op == "<" || op == "<=" || op == ">" || op == ">=") {
      return compare(op, std::move(left), std::move(right), e.position);
    }
    std::vector<BoundExprPtr> args;
    args.push_back(std::move(left));
    args.push_back(std::move(right));
    return call(op == "||" ? "CONCAT" : op, std::move(args), e.position);
  }

  BoundExprPtr bind_case(const ParsedExpr& e, BindContext& ctx) {
    size_t index = 0;
    BoundExprPtr operand;
    if (e.has_operand) operand = bind(*e.children[index++], ctx);
    std::vector<BoundExprPtr> whens;
    std::vector<BoundExprPtr> thens;
    size_t end = e.children.size() - (e.has_else ? 1 : 0);
    while (index < end) {
      BoundExprPtr when = bind(*e.children[index], ctx);
      if (operand) {
        when = compare("=", operand->clone(), std::move(when), e.children[index]->position);
      } else {
        when = coerce_boolean(std::move(when), e.children[index]->position, "WHEN");
      }
      whens.push_back(std::move(when));
      thens.push_back(bind(*e.children[index + 1], ctx));
      index += 2;
    }
    BoundExprPtr otherwise = e.has_else ? bind(*e.children.back(), ctx)
                                        : make_constant(Value::null(LogicalType::null()));
    LogicalType type = otherwise->type;
    for (const auto& t : thens) {
      LogicalType next;
      if (!common_super_type(type, t->type, next)) {
        fail(
            fmt::format("CASE mixes result types {} and {}", type.to_string(), t->type.to_string()),
            e.position);
      }
      type = next;
    }
    if (type.id() == TypeId::kNull) type = LogicalType::integer();
    auto c = std::make_unique<BoundExpr>(BoundExprKind::kCase, type);
    for (size_t i = 0; i < whens.size(); ++i) {
      c->children.push_back(std::move(whens[i]));
      c->children.push_back(coerce(std::move(thens[i]), type));
    }
    c->children.push_back(coerce(std::move(otherwise), type));
    return c;
  }

  BoundExprPtr bind_literal(const ParsedExpr& e) {
    switch (e.literal_kind) {
      case LiteralKind::kNull:
        return make_constant(Value::null(LogicalType::null()));
      case LiteralKind::kBoolean:
        return make_constant(Value::boolean(e.text == "TRUE"));
      case LiteralKind::kString: {
        // Flink types 'abc' as CHAR(3); Sluice uses VARCHAR(3) so that comparisons with
        // VARCHAR columns need no padding rules (docs/SQL.md).
        int length = std::max<int>(1, static_cast<int>(e.text.size()));
        return make_constant(Value::string(LogicalType::varchar(length), e.text));
      }
      case LiteralKind::kInteger: {
        int64_t v = 0;
        auto [ptr, ec] = std::from_chars(e.text.data(), e.text.data() + e.text.size(), v);
        if (ec == std::errc() && ptr == e.text.data() + e.text.size()) {
          if (v >= INT32_MIN && v <= INT32_MAX) {
            return make_constant(Value::integer(LogicalType::integer(), v));
          }
          return make_constant(Value::integer(LogicalType::bigint(), v));
        }
        int128_t unscaled;
        int digits = static_cast<int>(e.text.size()) - (e.text[0] == '-' ? 1 : 0);
        if (digits > LogicalType::kMaxDecimalPrecision ||
            !parse_decimal(e.text, digits, 0, unscaled)) {
          fail(fmt::format("numeric literal {} is out of range", e.text), e.position);
        }
        return make_constant(Value::decimal(unscaled, digits, 0));
      }
      case LiteralKind::kDecimal: {
        std::string_view text = e.text;
        if (!text.empty() && text[0] == '-') text.remove_prefix(1);
        size_t point = text.find('.');
        int scale = static_cast<int>(text.size() - point - 1);
        std::string_view integral = text.substr(0, point);
        while (integral.size() > 1 && integral[0] == '0') integral.remove_prefix(1);
        int integral_digits =
            integral == "0" || integral.empty() ? 0 : static_cast<int>(integral.size());
        int precision = std::max(1, integral_digits + scale);
        if (precision > LogicalType::kMaxDecimalPrecision) {
          return make_constant(Value::floating(LogicalType::double_type(), double_literal(e)));
        }
        int128_t unscaled;
        if (!parse_decimal(e.text, precision, scale, unscaled)) {
          fail(fmt::format("bad numeric literal {}", e.text), e.position);
        }
        return make_constant(Value::decimal(unscaled, precision, scale));
      }
      case LiteralKind::kDouble:
        return make_constant(Value::floating(LogicalType::double_type(), double_literal(e)));
    }
    fail("bad literal", e.position);
  }

  BoundExprPtr bind_typed_literal(const ParsedExpr& e) {
    const LogicalType& type = e.cast_type;
    if (type.id() == TypeId::kDate) {
      int32_t days;
      if (!parse_date(e.text, days))
        fail(fmt::format("invalid DATE literal '{}'", e.text), e.position);
      return make_constant(Value::integer(type, days));
    }
    int64_t micros;
    if (type.id() == TypeId::kTime) {
      if (!parse_time(e.text, micros))
        fail(fmt::format("invalid TIME literal '{}'", e.text), e.position);
      return make_constant(Value::integer(type, micros));
    }
    if (!parse_timestamp(e.text, micros)) {
      fail(fmt::format("invalid TIMESTAMP literal '{}'", e.text), e.position);
    }
    return make_constant(Value::integer(type, micros));
  }

  BoundExprPtr bind_interval(const ParsedExpr& e) {
    const std::string& unit = e.name;
    std::string_view text = e.text;
    bool negative = false;
    while (!text.empty() && (text[0] == ' ' || text[0] == '-' || text[0] == '+')) {
      if (text[0] == '-') negative = !negative;
      text.remove_prefix(1);
    }
    auto number = [&](std::string_view s) -> int64_t {
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || ptr != s.data() + s.size()) {
        fail(fmt::format("invalid interval value '{}' for {}", e.text, unit), e.position);
      }
      return v;
    };
    if (unit == "YEAR" || unit == "MONTH" || unit == "QUARTER" || unit == "YEAR TO MONTH") {
      int64_t months;
      if (unit == "YEAR TO MONTH") {
        size_t dash = text.find('-');
        if (dash == std::string_view::npos) fail("YEAR TO MONTH needs 'years-months'", e.position);
        months = number(text.substr(0, dash)) * 12 + number(text.substr(dash + 1));
      } else {
        months = number(text) * (unit == "YEAR" ? 12 : unit == "QUARTER" ? 3 : 1);
      }
      return make_constant(
          Value::integer(LogicalType::interval_year_month(), negative ? -months : months));
    }
    int64_t micros;
    if (unit == "DAY" || unit == "HOUR" || unit == "MINUTE" || unit == "WEEK") {
      int64_t per = unit == "WEEK"   ? 7 * 86'400'000'000
                    : unit == "DAY"  ? 86'400'000'000
                    : unit == "HOUR" ? 3'600'000'000
                                     : 60'000'000;
      micros = number(text) * per;
    } else if (unit == "SECOND") {
      int128_t unscaled;
      if (!parse_decimal(text, 18, 6, unscaled)) {
        fail(fmt::format("invalid interval value '{}' for SECOND", e.text), e.position);
      }
      micros = static_cast<int64_t>(unscaled);
    } else {
      // DAY TO SECOND and friends: 'd hh:mm:ss[.fff]' read loosely.
      int64_t days = 0;
      std::string_view rest = text;
      size_t space = rest.find(' ');
      if (unit.rfind("DAY", 0) == 0 && space != std::string_view::npos) {
        days = number(rest.substr(0, space));
        rest = rest.substr(space + 1);
      }
      int64_t of_day = 0;
      if (!parse_time(rest, of_day)) fail(fmt::format("invalid interval '{}'", e.text), e.position);
      micros = days * 86'400'000'000 + of_day;
    }
    return make_constant(
        Value::integer(LogicalType::interval_day_time(), negative ? -micros : micros));
  }

  BoundExprPtr bind_function(const ParsedExpr& e, BindContext& ctx) {
    std::string name = upper(e.name);
    if (e.window) return bind_window(e, name, ctx);
    if (is_window_only_name(name)) {
      fail(fmt::format("{} needs an OVER clause", name), e.position);
    }
    if (name == "GROUPING" || name == "GROUPING_ID") return bind_grouping(e, name, ctx);
    if (is_aggregate_name(name)) {
      if (!ctx.aggregate) {
        fail(fmt::format("aggregate function {} is not allowed in {}", name, ctx.clause),
             e.position);
      }
      return bind_aggregate(e, name, ctx);
    }
    if (e.distinct || e.star || e.filter)
      fail(fmt::format("{} is not an aggregate function", name), e.position);
    if (name == "EXTRACT") {
      BoundExprPtr value = bind(*e.children[1], ctx);
      std::string error;
      auto resolved = resolve_extract_unit(e.children[0]->text, value->type, error);
      if (!resolved) fail(fmt::format("EXTRACT: {}", error), e.position);
      std::vector<BoundExprPtr> args;
      args.push_back(std::move(value));
      return resolved_call(*resolved, "EXTRACT", std::move(args));
    }
    std::vector<BoundExprPtr> args;
    for (const auto& c : e.children) args.push_back(bind(*c, ctx));
    int64_t digits = 0;
    if (name == "ROUND" && args.size() == 2) {
      // The kernels read the digits once, as a constant.
      if (!args[1]->is_constant_foldable() || !args[1]->type.is_integer()) {
        fail("ROUND's digits must be a constant integer", e.children[1]->position);
      }
      Value v = evaluate_constant(*args[1]);
      digits = v.is_null() ? 0 : v.as_int();
      args[1] = make_constant(Value::integer(LogicalType::integer(), digits));
    }
    if (name == "ROUND" && !args.empty() && args[0]->type.id() == TypeId::kDecimal) {
      if (args.size() > 2) fail("ROUND(number [, digits])", e.position);
      auto resolved = resolve_round_decimal(args[0]->type, digits);
      return resolved_call(*resolved, "ROUND", std::move(args));
    }
    if (name == "COALESCE" || name == "IFNULL") {
      if (args.empty()) fail("COALESCE needs arguments", e.position);
      LogicalType type = LogicalType::null();
      for (const auto& a : args) {
        LogicalType next;
        if (!common_super_type(type, a->type, next)) {
          fail(fmt::format("{} mixes {} and {}", name, type.to_string(), a->type.to_string()),
               e.position);
        }
        type = next;
      }
      auto c = std::make_unique<BoundExpr>(BoundExprKind::kCoalesce, type);
      for (auto& a : args) c->children.push_back(coerce(std::move(a), type));
      return c;
    }
    if (name == "NULLIF") {
      if (args.size() != 2) fail("NULLIF takes two arguments", e.position);
      LogicalType type = args[0]->type;
      BoundExprPtr equal = compare("=", args[0]->clone(), std::move(args[1]), e.position);
      auto c = std::make_unique<BoundExpr>(BoundExprKind::kCase, type);
      c->children.push_back(std::move(equal));
      c->children.push_back(make_cast(make_constant(Value::null(LogicalType::null())), type));
      c->children.push_back(std::move(args[0]));
      return c;
    }
    if (name == "IF") {
      if (args.size() != 3) fail("IF takes three arguments", e.position);
      LogicalType type;
      if (!common_super_type(args[1]->type, args[2]->type, type)) {
        fail("IF mixes result types", e.position);
      }
      auto c = std::make_unique<BoundExpr>(BoundExprKind::kCase, type);
      c->children.push_back(coerce_boolean(std::move(args[0]), e.position, "IF"));
      c->children.push_back(coerce(std::move(args[1]), type));
      c->children.push_back(coerce(std::move(args[2]), type));
      return c;
    }
    if (!functions_.find_scalar(name) && functions_.find_scalar(e.name)) name = e.name;
    if (!functions_.find_scalar(name)) {
      std::string message = fmt::format("function '{}' not found", e.name);
      std::vector<std::string> candidates = functions_.names();
      for (const char* a : {"COUNT", "SUM", "AVG", "MIN", "MAX", "COALESCE", "NULLIF", "IF"}) {
        candidates.push_back(a);
      }
      std::string near = nearest_name(e.name, candidates);
      if (!near.empty()) message += fmt::format(" (did you mean {}?)", near);
      fail(message, e.position);
    }
    return call(name, std::move(args), e.position);
  }

  BoundExprPtr resolved_call(const ResolvedScalar& resolved, const std::string& name,
                             std::vector<BoundExprPtr> args) {
    auto e = std::make_unique<BoundExpr>(BoundExprKind::kFunction, resolved.result);
    e->function = resolved.function;
    e->name = name;
    for (size_t i = 0; i < args.size(); ++i) {
      e->children.push_back(coerce(std::move(args[i]), resolved.argument_types[i]));
    }
    return e;
  }

  // GROUPING SETS as Flink plans them: an Expand node sends each input row once per set, with the
  // keys it lacks set to NULL, its GROUPING() flags and its number; the aggregate groups by all of
  // them; a projection puts back the shape of a plain aggregate (keys, then aggregates), followed
  // by the flags.
  LogicalPlan expand_grouping_sets(LogicalPlan aggregate,
                                   const std::vector<std::vector<size_t>>& sets) {
    size_t groups = aggregate->expressions.size();
    size_t aggregates = aggregate->aggregates.size();
    std::vector<OutputColumn> shape = aggregate->output;
    LogicalPlan input = std::move(aggregate->children[0]);
    size_t width = input->output.size();
    auto expand = std::make_unique<LogicalOperator>(LogicalKind::kExpand);
    expand->output = input->output;
    for (size_t g = 0; g < groups; ++g) {
      expand->output.push_back({fmt::format("$key{}", g), aggregate->expressions[g]->type});
    }
    for (size_t g = 0; g < groups; ++g) {
      expand->output.push_back({fmt::format("$grouping{}", g), LogicalType::bigint()});
    }
    expand->output.push_back({"$set", LogicalType::bigint()});
    for (const auto& set : sets) {
      std::vector<bool> present(groups, false);
      for (size_t key : set) present[key] = true;
      expand->grouping_sets.push_back(std::move(present));
    }
    expand->expressions = std::move(aggregate->expressions);
    expand->children.push_back(std::move(input));
    aggregate->expressions.clear();
    aggregate->output.clear();
    for (size_t c = width; c < expand->output.size(); ++c) {
      aggregate->expressions.push_back(make_column(c, expand->output[c].type));
      aggregate->output.push_back(expand->output[c]);
    }
    for (size_t a = 0; a < aggregates; ++a) aggregate->output.push_back(shape[groups + a]);
    aggregate->children[0] = std::move(expand);
    auto project = std::make_unique<LogicalOperator>(LogicalKind::kProject);
    for (size_t g = 0; g < groups; ++g) {
      project->expressions.push_back(make_column(g, shape[g].type));
      project->output.push_back(shape[g]);
    }
    for (size_t a = 0; a < aggregates; ++a) {
      project->expressions.push_back(make_column(2 * groups + 1 + a, shape[groups + a].type));
      project->output.push_back(shape[groups + a]);
    }
    for (size_t g = 0; g < groups; ++g) {
      project->expressions.push_back(make_column(groups + g, LogicalType::bigint()));
      project->output.push_back({fmt::format("$grouping{}", g), LogicalType::bigint()});
    }
    project->children.push_back(std::move(aggregate));
    return project;
  }

  // GROUPING(k1, ..., kn) and GROUPING_ID(...): a bit per key, the first the highest, set where
  // the row's grouping set lacks the key (always 0 without GROUPING SETS).
  BoundExprPtr bind_grouping(const ParsedExpr& e, const std::string& name, BindContext& ctx) {
    if (!ctx.aggregate) {
      fail(fmt::format("{} is allowed only in a query with GROUP BY", name), e.position);
    }
    if (e.children.empty() || e.star || e.distinct) {
      fail(fmt::format("{} takes one or more GROUP BY keys", name), e.position);
    }
    AggregateContext& agg = *ctx.aggregate;
    BindContext inner;
    inner.scope = const_cast<Scope*>(agg.input);
    inner.clause = "GROUPING's argument";
    size_t n = e.children.size();
    if (n > 62) fail(fmt::format("{} takes at most 62 keys", name), e.position);
    BoundExprPtr result;
    for (size_t k = 0; k < n; ++k) {
      BoundExprPtr key = bind(*e.children[k], inner);
      size_t g = 0;
      while (g < agg.groups.size() && !agg.groups[g]->equals(*key)) ++g;
      if (g == agg.groups.size()) {
        fail(
            fmt::format("{}'s argument {} is not a GROUP BY key", name, e.children[k]->to_string()),
            e.children[k]->position);
      }
      BoundExprPtr flag = agg.grouping_sets
                              ? make_column(kGroupingBase + g, LogicalType::bigint(), name)
                              : make_constant(Value::integer(LogicalType::bigint(), 0));
      if (k + 1 < n) {
        std::vector<BoundExprPtr> args;
        args.push_back(std::move(flag));
        args.push_back(
            make_constant(Value::integer(LogicalType::bigint(), int64_t{1} << (n - 1 - k))));
        flag = call("*", std::move(args), e.position);
      }
      if (result) {
        std::vector<BoundExprPtr> args;
        args.push_back(std::move(result));
        args.push_back(std::move(flag));
        flag = call("+", std::move(args), e.position);
      }
      result = std::move(flag);
    }
    return result;
  }

  // A RANGE frame's offset in the units of its one ORDER BY key: an integer key's integers, a
  // decimal's unscaled value, a DATE's days, a TIMESTAMP's microseconds (from a day-time INTERVAL).
  void bind_range_offset(FrameBound& bound, const BoundWindow& w, BindContext& ctx,
                         const ParsedExpr& e) {
    if (w.order_by.size() != 1) {
      fail("a RANGE frame with an offset needs exactly one ORDER BY key", e.position);
    }
    const LogicalType& key = w.order_by[0]->type;
    BoundExprPtr value = bind(*bound.range_value, ctx);
    SourcePosition position = bound.range_value->position;
    auto bad = [&]() {
      fail(fmt::format("a RANGE offset over an ORDER BY key of type {} must be a non-negative {}",
                       key.to_string(),
                       key.is_temporal() ? "day-time INTERVAL literal" : "numeric literal"),
           position);
    };
    if (value->kind != BoundExprKind::kConstant || value->constant.is_null()) bad();
    const Value& v = value->constant;
    int128_t units = 0;
    if (key.is_integer() || key.id() == TypeId::kDecimal) {
      int key_scale = key.id() == TypeId::kDecimal ? key.scale() : 0;
      if (value->type.is_integer()) {
        units = v.as_int128() * power_of_ten(key_scale);
      } else if (value->type.id() == TypeId::kDecimal && value->type.scale() <= key_scale) {
        units = v.as_int128() * power_of_ten(key_scale - value->type.scale());
      } else {
        bad();
      }
    } else if (key.is_temporal()) {
      if (value->type.id() != TypeId::kIntervalDayTime) bad();
      units = v.as_int128();
      if (key.id() == TypeId::kDate) {
        constexpr int64_t kMicrosPerDay = 86'400'000'000;
        if (units % kMicrosPerDay != 0) {
          fail("a RANGE offset over a DATE key must be whole days", position);
        }
        units /= kMicrosPerDay;
      }
    } else {
      fail(fmt::format("RANGE frames with offsets need an integer, DECIMAL, DATE or TIMESTAMP "
                       "ORDER BY key, not {}",
                       key.to_string()),
           e.position);
    }
    if (units < 0 || units > INT64_MAX / 2) bad();
    bound.offset = bound.offset < 0 ? -static_cast<int64_t>(units) : static_cast<int64_t>(units);
    bound.range_value.reset();
  }

  static bool is_window_only_name(const std::string& name) {
    for (const char* n : {"ROW_NUMBER", "RANK", "DENSE_RANK", "PERCENT_RANK", "CUME_DIST", "NTILE",
                          "LAG", "LEAD", "FIRST_VALUE", "LAST_VALUE"}) {
      if (name == n) return true;
    }
    return false;
  }

  // An integer literal argument of at least `minimum` (LAG's offset, NTILE's buckets).
  int64_t integer_literal(const ParsedExpr& e, BindContext& ctx, const std::string& what,
                          int64_t minimum) {
    BoundExprPtr bound = bind(e, ctx);
    if (bound->kind != BoundExprKind::kConstant || !bound->type.is_integer() ||
        bound->constant.is_null() || bound->constant.as_int() < minimum) {
      fail(fmt::format("{} must be an integer literal of at least {}", what, minimum), e.position);
    }
    return bound->constant.as_int();
  }

  BoundExprPtr bind_window(const ParsedExpr& e, const std::string& name, BindContext& ctx) {
    if (!ctx.windows) {
      fail(fmt::format("window function {} is not allowed in {}", name, ctx.clause), e.position);
    }
    // Arguments, partitions and orders see what the select list sees, but no window function.
    BindContext inner = ctx;
    inner.windows = nullptr;
    inner.clause = "a window function";
    BoundWindow w;
    w.name = name;
    const WindowSpec& spec = *e.window;
    if ((e.filter || e.distinct) && !is_aggregate_name(name)) {
      fail(fmt::format("{} takes no {}", name, e.filter ? "FILTER" : "DISTINCT"), e.position);
    }
    if (name == "ROW_NUMBER" || name == "RANK" || name == "DENSE_RANK" || name == "PERCENT_RANK" ||
        name == "CUME_DIST") {
      if (!e.children.empty() || e.star)
        fail(fmt::format("{} takes no arguments", name), e.position);
      w.kind = name == "ROW_NUMBER"     ? BoundWindow::Kind::kRowNumber
               : name == "RANK"         ? BoundWindow::Kind::kRank
               : name == "DENSE_RANK"   ? BoundWindow::Kind::kDenseRank
               : name == "PERCENT_RANK" ? BoundWindow::Kind::kPercentRank
                                        : BoundWindow::Kind::kCumeDist;
      w.type = w.kind == BoundWindow::Kind::kPercentRank || w.kind == BoundWindow::Kind::kCumeDist
                   ? LogicalType::double_type()
                   : LogicalType::bigint();
    } else if (name == "NTILE") {
      if (e.children.size() != 1 || e.star) fail("NTILE takes one argument", e.position);
      w.kind = BoundWindow::Kind::kNtile;
      w.offset = integer_literal(*e.children[0], inner, "NTILE's number of buckets", 1);
      w.type = LogicalType::bigint();
    } else if (name == "LAG" || name == "LEAD") {
      if (e.children.empty() || e.children.size() > 3 || e.star) {
        fail(fmt::format("{} takes one to three arguments: value, offset, default", name),
             e.position);
      }
      w.kind = name == "LAG" ? BoundWindow::Kind::kLag : BoundWindow::Kind::kLead;
      w.argument = bind(*e.children[0], inner);
      if (e.children.size() > 1) {
        w.offset = integer_literal(*e.children[1], inner, fmt::format("{}'s offset", name), 0);
      }
      w.type = w.argument->type;
      if (e.children.size() > 2) {
        w.default_value = bind(*e.children[2], inner);
        LogicalType common;
        if (!common_super_type(w.type, w.default_value->type, common)) {
          fail(fmt::format("{}'s default ({}) does not fit its value's type {}", name,
                           w.default_value->type.to_string(), w.type.to_string()),
               e.children[2]->position);
        }
        w.type = common.id() == TypeId::kNull ? LogicalType::integer() : common;
        w.default_value = coerce(std::move(w.default_value), w.type);
      }
      w.argument = coerce(std::move(w.argument), w.type);
    } else if (name == "FIRST_VALUE" || name == "LAST_VALUE") {
      if (e.children.size() != 1 || e.star)
        fail(fmt::format("{} takes one argument", name), e.position);
      w.kind =
          name == "FIRST_VALUE" ? BoundWindow::Kind::kFirstValue : BoundWindow::Kind::kLastValue;
      w.argument = bind(*e.children[0], inner);
      w.type = w.argument->type;
    } else if (is_aggregate_name(name)) {
      w.distinct = e.distinct;
      std::vector<LogicalType> types;
      if (!e.star) {
        if (e.children.size() != 1) fail(fmt::format("{} takes one argument", name), e.position);
        w.argument = bind(*e.children[0], inner);
        types.push_back(w.argument->type);
      } else if (name != "COUNT") {
        fail(fmt::format("{}(*) is not defined", name), e.position);
      }
      if (e.filter) {
        w.argument = filtered_argument(std::move(w.argument), *e.filter, inner);
        types.assign(1, w.argument->type);
      }
      const AggregateResolver* resolver = functions_.find_aggregate(name);
      if (!resolver) {
        fail(fmt::format("aggregate function {} is not supported yet", name), e.position);
      }
      std::string error;
      auto resolved = (*resolver)(types, error);
      if (!resolved) {
        fail(fmt::format("{} is not defined for these arguments{}", name,
                         error.empty() ? "" : ": " + error),
             e.position);
      }
      w.kind = BoundWindow::Kind::kAggregate;
      w.function = *resolved;
      if (w.argument && resolved->argument_type) {
        w.argument = coerce(std::move(w.argument), *resolved->argument_type);
      }
      w.type = resolved->result;
    } else {
      fail(fmt::format("{} is not a window function", name), e.position);
    }
    for (const auto& p : spec.partition_by) w.partition_by.push_back(bind(*p, inner));
    for (const auto& o : spec.order_by) {
      w.order_by.push_back(bind(*o.expr, inner));
      w.descending.push_back(o.descending);
      w.nulls_first.push_back(o.nulls_first.value_or(!o.descending));
    }
    if (spec.has_frame) {
      if (w.kind != BoundWindow::Kind::kAggregate && w.kind != BoundWindow::Kind::kFirstValue &&
          w.kind != BoundWindow::Kind::kLastValue) {
        fail(fmt::format("{} takes no frame", name), e.position);
      }
      w.rows_frame = spec.rows;
      w.start = spec.start;
      w.end = spec.end;
      if (!spec.rows) {
        for (FrameBound* bound : {&w.start, &w.end}) {
          if (bound->kind == FrameBound::Kind::kOffset) bind_range_offset(*bound, w, inner, e);
        }
      }
    } else if (w.order_by.empty()) {
      w.end = FrameBound{FrameBound::Kind::kUnboundedFollowing, 0};
    }
    LogicalType type = w.type;
    size_t index = ctx.windows->size();
    ctx.windows->push_back(std::move(w));
    return make_column(kWindowBase + index, type, name);
  }

  // The argument of agg(x) FILTER (WHERE c): CASE WHEN c THEN x END, as every aggregate skips
  // NULLs; for COUNT(*) (no argument) CASE WHEN c THEN TRUE END, counting the rows where c holds.
  BoundExprPtr filtered_argument(BoundExprPtr argument, const ParsedExpr& filter,
                                 BindContext& ctx) {
    BoundExprPtr condition = bind(filter, ctx);
    if (condition->type.id() != TypeId::kBoolean && condition->type.id() != TypeId::kNull) {
      fail(fmt::format("FILTER needs a BOOLEAN condition, not {}", condition->type.to_string()),
           filter.position);
    }
    BoundExprPtr value = argument ? std::move(argument) : make_constant(Value::boolean(true));
    LogicalType type = value->type;
    auto filtered = std::make_unique<BoundExpr>(BoundExprKind::kCase, type);
    filtered->children.push_back(coerce(std::move(condition), LogicalType::boolean()));
    filtered->children.push_back(std::move(value));
    filtered->children.push_back(make_constant(Value::null(type)));
    return filtered;
  }

  BoundExprPtr bind_aggregate(const ParsedExpr& e, const std::string& name, BindContext& ctx) {
    AggregateContext& agg = *ctx.aggregate;
    BindContext inner;
    inner.scope = const_cast<Scope*>(agg.input);
    inner.clause = "an aggregate's argument";
    BoundAggregate a;
    a.name = name;
    a.distinct = e.distinct;
    std::vector<LogicalType> types;
    if (e.star) {
      if (name != "COUNT") fail(fmt::format("{}(*) is not defined", name), e.position);
    } else {
      if (e.children.size() != 1) {
        fail(fmt::format("{} takes one argument", name), e.position);
      }
      if (contains_aggregate(*e.children[0])) {
        fail("aggregate functions cannot be nested", e.children[0]->position);
      }
      a.argument = bind(*e.children[0], inner);
      types.push_back(a.argument->type);
    }
    if (e.filter) {
      if (contains_aggregate(*e.filter)) {
        fail("aggregate functions cannot be nested", e.filter->position);
      }
      a.argument = filtered_argument(std::move(a.argument), *e.filter, inner);
      types.assign(1, a.argument->type);
    }
    const AggregateResolver* resolver = functions_.find_aggregate(name);
    if (!resolver)
      fail(fmt::format("aggregate function {} is not supported yet", name), e.position);
    std::string error;
    auto resolved = (*resolver)(types, error);
    if (!resolved) {
      fail(fmt::format("{}({}) is not defined{}", name, types.empty() ? "" : types[0].to_string(),
                       error.empty() ? "" : ": " + error),
           e.position);
    }
    a.function = *resolved;
    if (a.argument && resolved->argument_type) {
      a.argument = coerce(std::move(a.argument), *resolved->argument_type);
    }
    for (size_t i = 0; i < agg.aggregates.size(); ++i) {
      const BoundAggregate& existing = agg.aggregates[i];
      bool same_argument =
          (!existing.argument && !a.argument) ||
          (existing.argument && a.argument && existing.argument->equals(*a.argument));
      if (existing.name == a.name && existing.distinct == a.distinct && same_argument) {
        return make_column(agg.groups.size() + i, existing.function.result, name);
      }
    }
    LogicalType result = a.function.result;
    agg.aggregates.push_back(std::move(a));
    // Group count may still grow (it does not: groups are bound before any aggregate), so the
    // position is final.
    return make_column(agg.groups.size() + agg.aggregates.size() - 1, result, name);
  }

  BoundExprPtr bind_scalar_subquery(const ParsedExpr& e, BindContext& ctx) {
    if (!ctx.pending) fail(fmt::format("a subquery is not allowed in {}", ctx.clause), e.position);
    std::vector<CorrelatedConjunct> correlated;
    PendingSubquery pending;
    const QueryNode& q = *e.subquery;
    // Correlated subqueries are bound against the scope of the query they are in: inside an
    // aggregate, that is the aggregate's input.
    Scope* outer = ctx.aggregate ? nullptr : ctx.scope;
    SelectResult sub = bind_query(q, outer, &correlated);
    if (!correlated.empty()) {
      // Bind again, grouping by the correlation: one row per outer key, joined to the outer
      // query on that key.
      if (q.kind != QueryNode::Kind::kSelect || !q.group_by.empty() || q.limit ||
          !q.order_by.empty()) {
        fail("a correlated scalar subquery must be a single aggregating SELECT", e.position);
      }
      correlated.clear();
      sub = bind_select(q, outer, &correlated, /*group_by_correlation=*/true);
      pending.empty_value = sub.empty_value;
      for (auto& c : correlated) {
        BoundExpr& eq = *c.expr;
        int outer_side = references_outer(*eq.children[0]) ? 0 : 1;
        BoundExprPtr key = eq.children[outer_side]->clone();
        join_positions(*key, 0);
        pending.outer_keys.push_back(std::move(key));
      }
    } else {
      if (sub.plan->output.size() != 1) {
        fail(fmt::format("a scalar subquery must return one column, not {}",
                         sub.plan->output.size()),
             e.position);
      }
      pending.single_row_check = true;
    }
    LogicalType type = sub.plan->output.back().type;
    pending.plan = std::move(sub.plan);
    pending.type = type;
    size_t index = ctx.pending->size();
    ctx.pending->push_back(std::move(pending));
    return make_column(kPendingBase + index, type, "$subquery");
  }

  // An integer literal used as a position; 0 (never valid) if it does not fit.
  static int64_t ordinal_of(const ParsedExpr& e) {
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(e.text.data(), e.text.data() + e.text.size(), v);
    return ec == std::errc() && ptr == e.text.data() + e.text.size() ? v : 0;
  }

  double double_literal(const ParsedExpr& e) {
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(e.text.c_str(), &end);
    if (errno == ERANGE && std::isinf(v)) {
      fail(fmt::format("numeric literal {} is out of the range of DOUBLE", e.text), e.position);
    }
    return v;
  }

  const Catalog& catalog_;
  const FunctionRegistry& functions_;
  std::shared_ptr<const std::string> source_;
  std::vector<const CommonTableExpr*> ctes_;
  std::vector<size_t> order_targets_;
  int view_depth_ = 0;
};

Binder::Binder(const Catalog& catalog, const FunctionRegistry& functions,
               std::shared_ptr<const std::string> source)
    : impl_(std::make_unique<Impl>(catalog, functions, std::move(source))) {}

Binder::~Binder() = default;

LogicalPlan Binder::bind_query(const QueryNode& query) {
  SelectResult result = impl_->bind_query(query, nullptr, nullptr);
  for (size_t i = 0; i < result.names.size() && i < result.plan->output.size(); ++i) {
    result.plan->output[i].name = result.names[i];
  }
  return std::move(result.plan);
}

BoundExprPtr Binder::bind_expression(const ParsedExpr& expr,
                                     const std::vector<OutputColumn>& columns) {
  Scope scope;
  for (size_t i = 0; i < columns.size(); ++i) {
    scope.columns.push_back({"", columns[i].name, columns[i].type, i});
  }
  BindContext ctx;
  ctx.scope = &scope;
  ctx.clause = "an expression";
  return impl_->bind(expr, ctx);
}

Value Binder::bind_constant(const ParsedExpr& expr) {
  Scope scope;
  BindContext ctx;
  ctx.scope = &scope;
  ctx.clause = "VALUES";
  BoundExprPtr bound = impl_->bind(expr, ctx);
  return evaluate_constant(*bound);
}

Value evaluate_constant(const BoundExpr& expr) {
  ExpressionExecutor executor(expr);
  DataChunk input;
  input.set_size(1);
  Vector result(expr.type);
  executor.execute(input, result);
  return Value::from_vector(result, 0);
}

}  // namespace sluice::sql
