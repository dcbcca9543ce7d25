#include "optimizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "binder.h"
#include "sluice/core/error.h"

namespace sluice::sql {

namespace {

// ------------------------------------------------------------------ helpers
void split_and(BoundExprPtr e, std::vector<BoundExprPtr>& out) {
  if (e->kind == BoundExprKind::kAnd) {
    for (auto& c : e->children) split_and(std::move(c), out);
  } else {
    out.push_back(std::move(e));
  }
}

BoundExprPtr conjoin(std::vector<BoundExprPtr> conjuncts) {
  if (conjuncts.empty()) return nullptr;
  if (conjuncts.size() == 1) return std::move(conjuncts[0]);
  auto e = std::make_unique<BoundExpr>(BoundExprKind::kAnd, LogicalType::boolean());
  e->children = std::move(conjuncts);
  return e;
}

std::vector<size_t> columns_of(const BoundExpr& e) {
  std::vector<size_t> out;
  e.collect_columns(out);
  return out;
}

bool is_deterministic(const BoundExpr& e) {
  if (e.kind == BoundExprKind::kFunction && e.function->is_volatile) return false;
  for (const auto& c : e.children) {
    if (!is_deterministic(*c)) return false;
  }
  return true;
}

// Replaces each column reference c by a copy of replacements[c].
BoundExprPtr substitute(const BoundExpr& e, const std::vector<BoundExprPtr>& replacements) {
  if (e.kind == BoundExprKind::kColumn) return replacements[e.column]->clone();
  BoundExprPtr copy = e.clone();
  for (size_t i = 0; i < e.children.size(); ++i)
    copy->children[i] = substitute(*e.children[i], replacements);
  return copy;
}

void shift_columns(BoundExpr& e, int64_t delta) {
  if (e.kind == BoundExprKind::kColumn)
    e.column = static_cast<size_t>(static_cast<int64_t>(e.column) + delta);
  for (auto& c : e.children) shift_columns(*c, delta);
}

LogicalPlan make_filter(LogicalPlan child, std::vector<BoundExprPtr> conjuncts) {
  if (conjuncts.empty()) return child;
  auto filter = std::make_unique<LogicalOperator>(LogicalKind::kFilter);
  filter->output = child->output;
  filter->predicate = conjoin(std::move(conjuncts));
  filter->children.push_back(std::move(child));
  return filter;
}

// ------------------------------------------------------------------ constant folding
void fold(BoundExprPtr& e) {
  if (!e) return;
  for (auto& c : e->children) fold(c);
  if (e->kind == BoundExprKind::kConstant || e->kind == BoundExprKind::kColumn) return;
  if (!e->is_constant_foldable()) return;
  try {
    e = make_constant(evaluate_constant(*e));
  } catch (const Error&) {
    // Leave it to run time: the expression may sit in a branch that is never taken.
  }
}

void fold_constants(LogicalOperator& op) {
  fold(op.predicate);
  for (auto& e : op.expressions) fold(e);
  for (auto& e : op.filters) fold(e);
  for (auto& e : op.left_keys) fold(e);
  for (auto& e : op.right_keys) fold(e);
  for (auto& a : op.aggregates) fold(a.argument);
  for (auto& c : op.children) fold_constants(*c);
}

bool is_true_constant(const BoundExpr& e) {
  return e.kind == BoundExprKind::kConstant && !e.constant.is_null() &&
         e.type.id() == TypeId::kBoolean && e.constant.as_bool();
}

// ------------------------------------------------------------------ OR factoring
// (a AND b) OR (a AND c) = a AND (b OR c): pulls the conjuncts every branch of an OR shares out
// of it, so that a join condition written in each branch (TPC-H Q19) becomes a hash-join key and
// single-table parts can be pushed down.
void factor_or(BoundExprPtr& e) {
  if (!e) return;
  for (auto& c : e->children) factor_or(c);
  if (e->kind != BoundExprKind::kOr) return;
  std::vector<std::vector<BoundExprPtr>> branches;
  for (auto& c : e->children) {
    std::vector<BoundExprPtr> conjuncts;
    split_and(std::move(c), conjuncts);
    branches.push_back(std::move(conjuncts));
  }
  std::vector<BoundExprPtr> common;
  for (auto& candidate : branches[0]) {
    if (!candidate) continue;
    bool everywhere = true;
    for (size_t b = 1; b < branches.size() && everywhere; ++b) {
      bool found = false;
      for (const auto& other : branches[b]) found = found || (other && other->equals(*candidate));
      everywhere = found;
    }
    if (!everywhere) continue;
    for (size_t b = 1; b < branches.size(); ++b) {
      for (auto& other : branches[b]) {
        if (other && other->equals(*candidate)) {
          other.reset();
          break;
        }
      }
    }
    common.push_back(std::move(candidate));
  }
  auto rebuild = [](std::vector<BoundExprPtr>& parts) -> BoundExprPtr {
    std::vector<BoundExprPtr> kept;
    for (auto& p : parts) {
      if (p) kept.push_back(std::move(p));
    }
    return conjoin(std::move(kept));
  };
  auto disjunction = std::make_unique<BoundExpr>(BoundExprKind::kOr, LogicalType::boolean());
  bool any_empty = false;
  for (auto& branch : branches) {
    BoundExprPtr rebuilt = rebuild(branch);
    if (!rebuilt) {
      any_empty = true;  // a branch that was only common conjuncts: the OR is TRUE
      continue;
    }
    disjunction->children.push_back(std::move(rebuilt));
  }
  if (!any_empty) {
    if (disjunction->children.size() == 1) {
      common.push_back(std::move(disjunction->children[0]));
    } else {
      common.push_back(std::move(disjunction));
    }
  }
  e = conjoin(std::move(common));
  if (!e) e = make_constant(Value::boolean(true));
}

void factor_ors(LogicalOperator& op) {
  factor_or(op.predicate);
  for (auto& f : op.filters) factor_or(f);
  for (auto& c : op.children) factor_ors(*c);
}

// ------------------------------------------------------------------ predicate push-down
class FilterPushDown {
 public:
  LogicalPlan push(LogicalPlan op, std::vector<BoundExprPtr> conjuncts) {
    // TRUE conjuncts vanish.
    conjuncts.erase(std::remove_if(conjuncts.begin(), conjuncts.end(),
                                   [](const BoundExprPtr& e) { return is_true_constant(*e); }),
                    conjuncts.end());
    switch (op->kind) {
      case LogicalKind::kFilter: {
        split_and(std::move(op->predicate), conjuncts);
        return push(std::move(op->children[0]), std::move(conjuncts));
      }
      case LogicalKind::kScan: {
        for (auto& c : conjuncts) op->filters.push_back(std::move(c));
        return op;
      }
      case LogicalKind::kProject: {
        std::vector<BoundExprPtr> below;
        std::vector<BoundExprPtr> above;
        for (auto& c : conjuncts) {
          bool pushable = is_deterministic(*c);
          for (size_t col : columns_of(*c))
            pushable = pushable && is_deterministic(*op->expressions[col]);
          if (pushable) {
            below.push_back(substitute(*c, op->expressions));
          } else {
            above.push_back(std::move(c));
          }
        }
        op->children[0] = push(std::move(op->children[0]), std::move(below));
        return make_filter(std::move(op), std::move(above));
      }
      case LogicalKind::kAggregate: {
        std::vector<BoundExprPtr> below;
        std::vector<BoundExprPtr> above;
        size_t groups = op->expressions.size();
        for (auto& c : conjuncts) {
          bool on_groups = is_deterministic(*c);
          for (size_t col : columns_of(*c)) on_groups = on_groups && col < groups;
          // Without GROUP BY, a filter decides whether the one row exists: keep it above.
          if (on_groups && groups > 0) {
            below.push_back(substitute(*c, op->expressions));
          } else {
            above.push_back(std::move(c));
          }
        }
        op->children[0] = push(std::move(op->children[0]), std::move(below));
        return make_filter(std::move(op), std::move(above));
      }
      case LogicalKind::kSort: {
        op->children[0] = push(std::move(op->children[0]), std::move(conjuncts));
        return op;
      }
      case LogicalKind::kUnion: {
        for (auto& child : op->children) {
          std::vector<BoundExprPtr> copies;
          for (const auto& c : conjuncts) copies.push_back(c->clone());
          child = push(std::move(child), std::move(copies));
        }
        return op;
      }
      case LogicalKind::kJoin:
        return push_join(std::move(op), std::move(conjuncts));
      default: {
        for (auto& child : op->children) child = push(std::move(child), {});
        return make_filter(std::move(op), std::move(conjuncts));
      }
    }
  }

 private:
  enum class Side { kNone, kLeft, kRight, kBoth };

  static Side side_of(const BoundExpr& e, size_t left_width) {
    bool left = false;
    bool right = false;
    for (size_t col : columns_of(e)) {
      if (col < left_width) {
        left = true;
      } else {
        right = true;
      }
    }
    return left && right ? Side::kBoth : left ? Side::kLeft : right ? Side::kRight : Side::kNone;
  }

  LogicalPlan push_join(LogicalPlan op, std::vector<BoundExprPtr> above) {
    size_t left_width = op->children[0]->output.size();
    JoinKind kind = op->join_kind;
    std::vector<BoundExprPtr> to_left;
    std::vector<BoundExprPtr> to_right;
    std::vector<BoundExprPtr> condition;
    std::vector<BoundExprPtr> stay_above;
    bool inner = kind == JoinKind::kInner || kind == JoinKind::kCross;

    // Conditions from above the join.
    for (auto& c : above) {
      Side side = side_of(*c, left_width);
      bool deterministic = is_deterministic(*c);
      if (inner && deterministic) {
        if (side == Side::kLeft || side == Side::kNone) {
          to_left.push_back(std::move(c));
        } else if (side == Side::kRight) {
          to_right.push_back(std::move(c));
        } else {
          condition.push_back(std::move(c));
        }
      } else if ((kind == JoinKind::kLeft || kind == JoinKind::kSemi || kind == JoinKind::kAnti) &&
                 deterministic && (side == Side::kLeft || side == Side::kNone)) {
        to_left.push_back(std::move(c));
      } else {
        stay_above.push_back(std::move(c));
      }
    }
    // The join's own condition.
    std::vector<BoundExprPtr> own;
    if (op->predicate) split_and(std::move(op->predicate), own);
    for (auto& c : own) {
      Side side = side_of(*c, left_width);
      if (is_true_constant(*c)) continue;
      if (inner && side == Side::kLeft) {
        to_left.push_back(std::move(c));
      } else if ((inner || kind == JoinKind::kLeft || kind == JoinKind::kSemi ||
                  kind == JoinKind::kAnti) &&
                 side == Side::kRight) {
        to_right.push_back(std::move(c));
      } else {
        condition.push_back(std::move(c));
      }
    }
    for (auto& c : to_right) shift_columns(*c, -static_cast<int64_t>(left_width));
    op->children[0] = push(std::move(op->children[0]), std::move(to_left));
    op->children[1] = push(std::move(op->children[1]), std::move(to_right));

    // Equalities between a left and a right expression become hash keys.
    std::vector<BoundExprPtr> residual;
    for (auto& c : condition) {
      if (c->kind == BoundExprKind::kFunction && c->name == "=" && c->children.size() == 2) {
        Side a = side_of(*c->children[0], left_width);
        Side b = side_of(*c->children[1], left_width);
        if ((a == Side::kLeft && b == Side::kRight) || (a == Side::kRight && b == Side::kLeft)) {
          BoundExprPtr left_key = std::move(c->children[a == Side::kLeft ? 0 : 1]);
          BoundExprPtr right_key = std::move(c->children[a == Side::kLeft ? 1 : 0]);
          shift_columns(*right_key, -static_cast<int64_t>(left_width));
          op->left_keys.push_back(std::move(left_key));
          op->right_keys.push_back(std::move(right_key));
          continue;
        }
      }
      residual.push_back(std::move(c));
    }
    if (kind == JoinKind::kCross && (!op->left_keys.empty() || !residual.empty())) {
      op->join_kind = JoinKind::kInner;
    }
    op->predicate = conjoin(std::move(residual));
    return make_filter(std::move(op), std::move(stay_above));
  }
};

// ------------------------------------------------------------------ column pruning
// Rewrites `op` to output only the columns marked in `required` (plus what it cannot drop) and
// returns, for each old output position, its new position (SIZE_MAX if dropped).
class ColumnPruner {
 public:
  std::vector<size_t> prune(LogicalOperator& op, std::vector<bool> required) {
    switch (op.kind) {
      case LogicalKind::kScan:
        return prune_scan(op, required);
      case LogicalKind::kProject:
        return prune_project(op, required);
      case LogicalKind::kFilter: {
        mark(*op.predicate, required);
        std::vector<size_t> mapping = prune(*op.children[0], required);
        op.predicate->remap_columns(mapping);
        op.output = op.children[0]->output;
        return mapping;
      }
      case LogicalKind::kAggregate:
        return prune_aggregate(op, required);
      case LogicalKind::kJoin:
        return prune_join(op, required);
      case LogicalKind::kSort:
      case LogicalKind::kTopN: {
        for (const auto& k : op.sort_keys) required[k.column] = true;
        std::vector<size_t> mapping = prune(*op.children[0], required);
        for (auto& k : op.sort_keys) k.column = mapping[k.column];
        op.output = op.children[0]->output;
        return mapping;
      }
      case LogicalKind::kLimit: {
        std::vector<size_t> mapping = prune(*op.children[0], required);
        op.output = op.children[0]->output;
        return mapping;
      }
      case LogicalKind::kExpand:
        return prune_expand(op, required);
      default: {
        // Positional operators (VALUES, UNION, INTERSECT, EXCEPT) keep every column.
        for (auto& child : op.children) {
          prune(*child, std::vector<bool>(child->output.size(), true));
        }
        return identity(op.output.size());
      }
    }
  }

 private:
  static std::vector<size_t> identity(size_t n) {
    std::vector<size_t> m(n);
    for (size_t i = 0; i < n; ++i) m[i] = i;
    return m;
  }

  static void mark(const BoundExpr& e, std::vector<bool>& required) {
    for (size_t c : columns_of(e)) required[c] = true;
  }

  // The scan reads the columns its parent needs, then those only its pushed filters read; it
  // outputs the first kind only (so a filter column such as q13's o_comment is not carried
  // through joins and aggregates above it).
  std::vector<size_t> prune_scan(LogicalOperator& op, std::vector<bool>& required) {
    std::vector<bool> for_filters(op.output.size(), false);
    for (const auto& f : op.filters) mark(*f, for_filters);
    std::vector<size_t> mapping(op.output.size(), SIZE_MAX);
    std::vector<size_t> projection;
    std::vector<OutputColumn> output;
    for (size_t i = 0; i < op.output.size(); ++i) {
      if (!required[i]) continue;
      mapping[i] = projection.size();
      projection.push_back(op.projection[i]);
      output.push_back(op.output[i]);
    }
    for (size_t i = 0; i < op.output.size(); ++i) {
      if (required[i] || !for_filters[i]) continue;
      mapping[i] = projection.size();
      projection.push_back(op.projection[i]);
    }
    op.projection = std::move(projection);
    op.output = std::move(output);
    for (auto& f : op.filters) f->remap_columns(mapping);
    return mapping;
  }

  std::vector<size_t> prune_project(LogicalOperator& op, std::vector<bool>& required) {
    std::vector<size_t> mapping(op.output.size(), SIZE_MAX);
    std::vector<BoundExprPtr> kept;
    std::vector<OutputColumn> output;
    for (size_t i = 0; i < op.expressions.size(); ++i) {
      if (!required[i]) continue;
      mapping[i] = kept.size();
      kept.push_back(std::move(op.expressions[i]));
      output.push_back(op.output[i]);
    }
    if (kept.empty() && !op.expressions.empty()) {
      // Keep one column so that the row count survives (SELECT COUNT(*) FROM (SELECT a ...)).
      mapping[0] = 0;
      kept.push_back(std::move(op.expressions[0]));
      output.push_back(op.output[0]);
    }
    std::vector<bool> child_required(op.children[0]->output.size(), false);
    for (const auto& e : kept) mark(*e, child_required);
    std::vector<size_t> child_mapping = prune(*op.children[0], child_required);
    for (auto& e : kept) e->remap_columns(child_mapping);
    op.expressions = std::move(kept);
    op.output = std::move(output);
    return mapping;
  }

  // Expand passes on the input columns read above it and those its keys read; its own columns
  // (keys, flags, set number) all stay.
  std::vector<size_t> prune_expand(LogicalOperator& op, std::vector<bool>& required) {
    size_t width = op.children[0]->output.size();
    std::vector<bool> child_required(required.begin(), required.begin() + static_cast<long>(width));
    for (const auto& e : op.expressions) mark(*e, child_required);
    std::vector<size_t> child_mapping = prune(*op.children[0], child_required);
    for (auto& e : op.expressions) e->remap_columns(child_mapping);
    size_t new_width = op.children[0]->output.size();
    std::vector<size_t> mapping(op.output.size(), SIZE_MAX);
    for (size_t c = 0; c < width; ++c) mapping[c] = child_mapping[c];
    std::vector<OutputColumn> output = op.children[0]->output;
    for (size_t c = width; c < op.output.size(); ++c) {
      mapping[c] = new_width + (c - width);
      output.push_back(op.output[c]);
    }
    op.output = std::move(output);
    return mapping;
  }

  std::vector<size_t> prune_aggregate(LogicalOperator& op, std::vector<bool>& required) {
    size_t groups = op.expressions.size();
    std::vector<size_t> mapping(op.output.size(), SIZE_MAX);
    for (size_t g = 0; g < groups; ++g) mapping[g] = g;
    std::vector<BoundAggregate> kept;
    std::vector<OutputColumn> output(op.output.begin(),
                                     op.output.begin() + static_cast<long>(groups));
    for (size_t a = 0; a < op.aggregates.size(); ++a) {
      if (!required[groups + a]) continue;
      mapping[groups + a] = groups + kept.size();
      kept.push_back(std::move(op.aggregates[a]));
      output.push_back(op.output[groups + a]);
    }
    std::vector<bool> child_required(op.children[0]->output.size(), false);
    for (const auto& g : op.expressions) mark(*g, child_required);
    for (const auto& a : kept) {
      if (a.argument) mark(*a.argument, child_required);
    }
    std::vector<size_t> child_mapping = prune(*op.children[0], child_required);
    for (auto& g : op.expressions) g->remap_columns(child_mapping);
    for (auto& a : kept) {
      if (a.argument) a.argument->remap_columns(child_mapping);
    }
    op.aggregates = std::move(kept);
    op.output = std::move(output);
    return mapping;
  }

  std::vector<size_t> prune_join(LogicalOperator& op, std::vector<bool>& required) {
    size_t left_width = op.children[0]->output.size();
    size_t right_width = op.children[1]->output.size();
    bool right_in_output = op.join_kind != JoinKind::kSemi && op.join_kind != JoinKind::kAnti;
    std::vector<bool> left_required(left_width, false);
    std::vector<bool> right_required(right_width, false);
    for (size_t i = 0; i < required.size(); ++i) {
      if (!required[i]) continue;
      if (i < left_width) {
        left_required[i] = true;
      } else {
        right_required[i - left_width] = true;
      }
    }
    for (const auto& k : op.left_keys) mark(*k, left_required);
    for (const auto& k : op.right_keys) mark(*k, right_required);
    if (op.predicate) {
      for (size_t c : columns_of(*op.predicate)) {
        if (c < left_width) {
          left_required[c] = true;
        } else {
          right_required[c - left_width] = true;
        }
      }
    }
    std::vector<size_t> left_mapping = prune(*op.children[0], left_required);
    std::vector<size_t> right_mapping = prune(*op.children[1], right_required);
    size_t new_left_width = op.children[0]->output.size();
    for (auto& k : op.left_keys) k->remap_columns(left_mapping);
    for (auto& k : op.right_keys) k->remap_columns(right_mapping);
    std::vector<size_t> combined(left_width + right_width, SIZE_MAX);
    for (size_t i = 0; i < left_width; ++i) combined[i] = left_mapping[i];
    for (size_t i = 0; i < right_width; ++i) {
      if (right_mapping[i] != SIZE_MAX)
        combined[left_width + i] = new_left_width + right_mapping[i];
    }
    if (op.predicate) op.predicate->remap_columns(combined);
    op.output = op.children[0]->output;
    if (right_in_output) {
      for (const auto& c : op.children[1]->output) op.output.push_back(c);
      return combined;
    }
    combined.resize(left_width);
    return combined;
  }
};

// ------------------------------------------------------------------ join ordering
// A tree of inner joins is flattened into its inputs and conditions, then rebuilt greedily:
// start from the smallest input, and repeatedly join the smallest input connected to what is
// built by an equality (a cross join only when nothing is connected). Sizes are estimated from
// table row counts, with each pushed-down filter keeping a fixed fraction.
class JoinOrderer {
 public:
  // A semi or anti join over an inner join whose left-side columns all come from one input of the
  // inner join filters that input instead: Semi(A ⋈ B, R) = Semi(A, R) ⋈ B when only A's columns
  // decide the match (q18's `o_orderkey IN (...)` then cuts orders to a few dozen rows before they
  // meet lineitem, instead of after). Only when its right side is estimated smaller than that
  // input: a semi join against a larger table (q21's EXISTS over all of lineitem) costs more on the
  // whole input than on what the other joins leave of it. Applied top-down, so it sinks through
  // nested inner joins.
  static LogicalPlan push_semi_joins(LogicalPlan op) {
    auto is_inner = [](const LogicalOperator& j) {
      return j.kind == LogicalKind::kJoin &&
             (j.join_kind == JoinKind::kInner || j.join_kind == JoinKind::kCross);
    };
    while (op->kind == LogicalKind::kJoin &&
           (op->join_kind == JoinKind::kSemi || op->join_kind == JoinKind::kAnti) &&
           !op->limit.has_value() && is_inner(*op->children[0])) {
      LogicalOperator& inner = *op->children[0];
      size_t left_width = inner.output.size();
      size_t right_width = op->children[1]->output.size();
      size_t a_width = inner.children[0]->output.size();
      bool any = false, in_a = true, in_b = true;
      auto note = [&](size_t column) {
        if (column >= left_width) return;
        any = true;
        (column < a_width ? in_b : in_a) = false;
      };
      for (const auto& k : op->left_keys) {
        for (size_t c : columns_of(*k)) note(c);
      }
      if (op->predicate) {
        for (size_t c : columns_of(*op->predicate)) note(c);
      }
      if (!any || (!in_a && !in_b)) break;
      size_t side = in_a ? 0 : 1;
      if (estimate(*op->children[1]) >= estimate(*inner.children[side])) break;
      size_t side_begin = in_a ? 0 : a_width;
      size_t side_width = inner.children[side]->output.size();
      // Left keys are over the left input; the predicate over left ++ right.
      std::vector<size_t> left_mapping(left_width, SIZE_MAX);
      for (size_t c = side_begin; c < side_begin + side_width; ++c)
        left_mapping[c] = c - side_begin;
      std::vector<size_t> pair_mapping = left_mapping;
      for (size_t c = 0; c < right_width; ++c) pair_mapping.push_back(side_width + c);
      for (auto& k : op->left_keys) k->remap_columns(left_mapping);
      if (op->predicate) op->predicate->remap_columns(pair_mapping);
      LogicalPlan inner_plan = std::move(op->children[0]);
      op->children[0] = std::move(inner_plan->children[side]);
      op->output = op->children[0]->output;
      inner_plan->children[side] = push_semi_joins(std::move(op));
      op = std::move(inner_plan);
    }
    for (auto& child : op->children) child = push_semi_joins(std::move(child));
    return op;
  }

  // Semi-join reduction of a grouped subquery: in a join that drops the aggregate's unmatched
  // groups (the decorrelated correlated subqueries of q17 and q20 join their aggregate over all of
  // lineitem to a few thousand outer rows), the aggregate's input is first filtered to the rows
  // whose group key occurs on the other side, read from a copy of the (small) input of the other
  // side that provides those keys. DuckDB and Spark do the same; it pays when that input is much
  // smaller than the aggregate's.
  static LogicalPlan reduce_grouped_joins(LogicalPlan op) {
    for (auto& child : op->children) child = reduce_grouped_joins(std::move(child));
    if (op->kind != LogicalKind::kJoin || op->left_keys.empty() || op->limit.has_value()) {
      return op;
    }
    for (size_t side : {size_t{1}, size_t{0}}) {
      // The aggregate's unmatched groups must not reach the output.
      bool drops_unmatched =
          op->join_kind == JoinKind::kInner ||
          (side == 1 && (op->join_kind == JoinKind::kLeft || op->join_kind == JoinKind::kSemi)) ||
          (side == 0 && op->join_kind == JoinKind::kRight);
      if (drops_unmatched && reduce_side(*op, side)) break;
    }
    return op;
  }

  static bool reduce_side(LogicalOperator& join, size_t side) {
    const auto& keys = side == 1 ? join.right_keys : join.left_keys;
    const auto& other_keys = side == 1 ? join.left_keys : join.right_keys;
    LogicalOperator* node = join.children[side].get();
    std::vector<size_t> key_columns;
    for (const auto& k : keys) {
      if (k->kind != BoundExprKind::kColumn) return false;
      key_columns.push_back(k->column);
    }
    if (node->kind == LogicalKind::kProject) {
      for (size_t& c : key_columns) {
        const BoundExpr& e = *node->expressions[c];
        if (e.kind != BoundExprKind::kColumn) return false;
        c = e.column;
      }
      node = node->children[0].get();
    }
    if (node->kind != LogicalKind::kAggregate) return false;
    LogicalOperator& aggregate = *node;
    std::vector<size_t> other_columns;
    for (size_t k = 0; k < keys.size(); ++k) {
      if (key_columns[k] >= aggregate.expressions.size()) return false;
      const BoundExpr& other = *other_keys[k];
      if (other.kind != BoundExprKind::kColumn ||
          !(other.type == aggregate.expressions[key_columns[k]]->type)) {
        return false;
      }
      other_columns.push_back(other.column);
    }
    const LogicalOperator* source = key_source(*join.children[1 - side], other_columns);
    if (estimate(*source) * 2 >= estimate(*aggregate.children[0])) return false;
    LogicalPlan copy = clone_plan(*source);
    if (!copy) return false;
    auto keys_only = std::make_unique<LogicalOperator>(LogicalKind::kProject);
    auto semi = std::make_unique<LogicalOperator>(LogicalKind::kJoin);
    semi->join_kind = JoinKind::kSemi;
    for (size_t k = 0; k < other_columns.size(); ++k) {
      const OutputColumn& column = copy->output[other_columns[k]];
      keys_only->expressions.push_back(make_column(other_columns[k], column.type, column.name));
      keys_only->output.push_back(column);
      semi->left_keys.push_back(aggregate.expressions[key_columns[k]]->clone());
      semi->right_keys.push_back(make_column(k, column.type, column.name));
    }
    keys_only->children.push_back(std::move(copy));
    semi->output = aggregate.children[0]->output;
    semi->children.push_back(std::move(aggregate.children[0]));
    semi->children.push_back(std::move(keys_only));
    aggregate.children[0] = std::move(semi);
    return true;
  }

  // The smallest part of `op` that produces `columns` (positions in op's output, rewritten to
  // that part's): through inner joins (the side that has them all) and column projections.
  static const LogicalOperator* key_source(const LogicalOperator& op,
                                           std::vector<size_t>& columns) {
    const LogicalOperator* node = &op;
    while (true) {
      if (is_inner_join(*node)) {
        size_t left_width = node->children[0]->output.size();
        bool all_left = true, all_right = true;
        for (size_t c : columns) (c < left_width ? all_right : all_left) = false;
        if (all_left) {
          node = node->children[0].get();
        } else if (all_right) {
          for (size_t& c : columns) c -= left_width;
          node = node->children[1].get();
        } else {
          return node;
        }
      } else if (node->kind == LogicalKind::kProject) {
        for (size_t c : columns) {
          if (node->expressions[c]->kind != BoundExprKind::kColumn) return node;
        }
        for (size_t& c : columns) c = node->expressions[c]->column;
        node = node->children[0].get();
      } else {
        return node;
      }
    }
  }

  // A copy of a plan made of scans, filters, projections and joins (nullptr for anything else).
  static LogicalPlan clone_plan(const LogicalOperator& op) {
    if (op.kind != LogicalKind::kScan && op.kind != LogicalKind::kFilter &&
        op.kind != LogicalKind::kProject && op.kind != LogicalKind::kJoin) {
      return nullptr;
    }
    auto copy = std::make_unique<LogicalOperator>(op.kind);
    for (const auto& child : op.children) {
      LogicalPlan c = clone_plan(*child);
      if (!c) return nullptr;
      copy->children.push_back(std::move(c));
    }
    auto clone_all = [](const std::vector<BoundExprPtr>& from, std::vector<BoundExprPtr>& to) {
      for (const auto& e : from) to.push_back(e->clone());
    };
    copy->output = op.output;
    copy->table = op.table;
    copy->table_name = op.table_name;
    copy->projection = op.projection;
    clone_all(op.filters, copy->filters);
    if (op.predicate) copy->predicate = op.predicate->clone();
    clone_all(op.expressions, copy->expressions);
    copy->join_kind = op.join_kind;
    clone_all(op.left_keys, copy->left_keys);
    clone_all(op.right_keys, copy->right_keys);
    copy->null_aware = op.null_aware;
    copy->build_left = op.build_left;
    copy->limit = op.limit;
    return copy;
  }

  LogicalPlan reorder(LogicalPlan op) {
    if (!is_inner_join(*op)) {
      for (auto& child : op->children) child = reorder(std::move(child));
      return op;
    }
    // The whole tree of inner joins at once; each of its inputs is reordered on its own.
    std::vector<LogicalPlan> inputs;
    std::vector<BoundExprPtr> conditions;
    size_t width = op->output.size();
    std::vector<OutputColumn> output = op->output;
    flatten(std::move(op), 0, inputs, conditions);
    for (auto& input : inputs) input = reorder(std::move(input));
    if (inputs.size() < 3)
      return rebuild_in_order(std::move(inputs), std::move(conditions), output);
    return greedy(std::move(inputs), std::move(conditions), width, output);
  }

 private:
  // Inputs in order; conditions over the concatenation of all inputs' columns.
  void flatten(LogicalPlan op, size_t offset, std::vector<LogicalPlan>& inputs,
               std::vector<BoundExprPtr>& conditions) {
    if (is_inner_join(*op)) {
      size_t left_width = op->children[0]->output.size();
      for (size_t k = 0; k < op->left_keys.size(); ++k) {
        BoundExprPtr l = std::move(op->left_keys[k]);
        BoundExprPtr r = std::move(op->right_keys[k]);
        shift_columns(*l, static_cast<int64_t>(offset));
        shift_columns(*r, static_cast<int64_t>(offset + left_width));
        auto eq = std::make_unique<BoundExpr>(BoundExprKind::kFunction, LogicalType::boolean());
        eq->name = "=";
        eq->function = equality_function(l->type);
        eq->children.push_back(std::move(l));
        eq->children.push_back(std::move(r));
        conditions.push_back(std::move(eq));
      }
      if (op->predicate) {
        shift_columns(*op->predicate, static_cast<int64_t>(offset));
        split_and(std::move(op->predicate), conditions);
      }
      flatten(std::move(op->children[0]), offset, inputs, conditions);
      flatten(std::move(op->children[1]), offset + left_width, inputs, conditions);
      return;
    }
    inputs.push_back(std::move(op));
  }

  static const ScalarFunction* equality_function(const LogicalType& type);

  // Semi and anti joins whose left input is much smaller than the right build on the left
  // (EXISTS over a large table from a small one, TPC-H Q4).
 public:
  // A LEFT join whose left input is much smaller becomes a RIGHT join of the swapped inputs (the
  // hash table on the small side, its unmatched rows emitted at the end), projected back to the
  // original column order; and the other way round for RIGHT joins (TPC-H Q13).
  static LogicalPlan choose_build_sides(LogicalPlan op) {
    for (auto& child : op->children) child = choose_build_sides(std::move(child));
    if (op->kind != LogicalKind::kJoin || op->left_keys.empty()) return op;
    double left = estimate(*op->children[0]);
    double right = estimate(*op->children[1]);
    if (op->join_kind == JoinKind::kSemi || op->join_kind == JoinKind::kAnti) {
      op->build_left = left * 2 < right;
      return op;
    }
    // The hash table is built on the right input: the smaller one, where the kind allows a swap.
    bool swap = ((op->join_kind == JoinKind::kLeft || op->join_kind == JoinKind::kInner) &&
                 left * 2 < right) ||
                (op->join_kind == JoinKind::kRight && right * 2 < left);
    // A scalar subquery's join checks that its build side has at most one row: it stays there.
    if (!swap || op->limit.has_value()) return op;
    size_t left_width = op->children[0]->output.size();
    size_t right_width = op->children[1]->output.size();
    size_t width = left_width + right_width;
    // Old position -> position in the swapped join's output (right columns first).
    std::vector<size_t> moved(width);
    for (size_t c = 0; c < left_width; ++c) moved[c] = right_width + c;
    for (size_t c = 0; c < right_width; ++c) moved[left_width + c] = c;
    if (op->predicate) op->predicate->remap_columns(moved);
    std::swap(op->left_keys, op->right_keys);
    std::swap(op->children[0], op->children[1]);
    if (op->join_kind != JoinKind::kInner) {
      op->join_kind = op->join_kind == JoinKind::kLeft ? JoinKind::kRight : JoinKind::kLeft;
    }
    std::vector<OutputColumn> original = op->output;
    op->output = op->children[0]->output;
    for (const auto& c : op->children[1]->output) op->output.push_back(c);
    auto project = std::make_unique<LogicalOperator>(LogicalKind::kProject);
    for (size_t c = 0; c < width; ++c) {
      project->expressions.push_back(make_column(moved[c], original[c].type, original[c].name));
    }
    project->output = std::move(original);
    project->children.push_back(std::move(op));
    return project;
  }

 private:
  // Inner and cross joins commute: the orderer rearranges trees of them.
  static bool is_inner_join(const LogicalOperator& op) {
    return op.kind == LogicalKind::kJoin &&
           (op.join_kind == JoinKind::kInner || op.join_kind == JoinKind::kCross);
  }

  // Distinct values of output column `column` of `op`, when it traces back to a table column.
  static std::optional<double> distinct_values(const LogicalOperator& op, size_t column) {
    switch (op.kind) {
      case LogicalKind::kScan: {
        auto n = op.table->distinct_count(op.projection[column]);
        if (!n) return std::nullopt;
        return std::min(static_cast<double>(*n), estimate(op));
      }
      case LogicalKind::kFilter:
      case LogicalKind::kSort:
      case LogicalKind::kLimit:
      case LogicalKind::kTopN: {
        auto n = distinct_values(*op.children[0], column);
        if (!n) return std::nullopt;
        return std::min(*n, estimate(op));
      }
      case LogicalKind::kProject: {
        const BoundExpr& e = *op.expressions[column];
        if (e.kind != BoundExprKind::kColumn) return std::nullopt;
        return distinct_values(*op.children[0], e.column);
      }
      case LogicalKind::kAggregate:
        if (column < op.expressions.size() && op.expressions.size() == 1 &&
            op.expressions[0]->kind == BoundExprKind::kColumn) {
          return distinct_values(*op.children[0], op.expressions[0]->column);
        }
        return std::nullopt;
      case LogicalKind::kJoin: {
        size_t left = op.children[0]->output.size();
        return column < left ? distinct_values(*op.children[0], column)
                             : distinct_values(*op.children[1], column - left);
      }
      default:
        return std::nullopt;
    }
  }

  static double estimate(const LogicalOperator& op) {
    switch (op.kind) {
      case LogicalKind::kScan: {
        double rows = static_cast<double>(op.table->row_count().value_or(1000000));
        for (size_t i = 0; i < op.filters.size(); ++i) rows *= 0.2;
        return std::max(rows, 1.0);
      }
      case LogicalKind::kFilter:
        return std::max(estimate(*op.children[0]) * 0.2, 1.0);
      case LogicalKind::kAggregate:
        return op.expressions.empty() ? 1.0 : std::max(estimate(*op.children[0]) * 0.5, 1.0);
      case LogicalKind::kValues:
        return static_cast<double>(std::max<size_t>(op.rows.size(), 1));
      case LogicalKind::kLimit:
      case LogicalKind::kTopN:
        return std::min(estimate(*op.children[0]),
                        static_cast<double>(op.limit.value_or(UINT64_MAX)));
      case LogicalKind::kJoin: {
        double l = estimate(*op.children[0]);
        double r = estimate(*op.children[1]);
        // A semi join keeps at most one row per left row, and (with distinct keys on the right)
        // no more rows than the right side has.
        if (op.join_kind == JoinKind::kSemi) return std::max(std::min(l * 0.5, r), 1.0);
        if (op.join_kind == JoinKind::kAnti) return l * 0.5;
        // An equi-join on columns with known distinct counts: |l| |r| / max(ndv); otherwise it is
        // taken for a foreign-key join, as large as its larger input.
        if (!op.left_keys.empty() && op.left_keys[0]->kind == BoundExprKind::kColumn &&
            op.right_keys[0]->kind == BoundExprKind::kColumn) {
          auto nl = distinct_values(*op.children[0], op.left_keys[0]->column);
          auto nr = distinct_values(*op.children[1], op.right_keys[0]->column);
          if (nl && nr) {
            double joined = l * r / std::max({*nl, *nr, 1.0});
            if (op.join_kind == JoinKind::kLeft || op.join_kind == JoinKind::kFull)
              joined = std::max(joined, l);
            if (op.join_kind == JoinKind::kRight || op.join_kind == JoinKind::kFull)
              joined = std::max(joined, r);
            return std::max(joined, 1.0);
          }
        }
        bool keyed = !op.left_keys.empty() || op.predicate != nullptr;
        return keyed ? std::max(l, r) : l * r;
      }
      default:
        return op.children.empty() ? 1000.0 : estimate(*op.children[0]);
    }
  }

  LogicalPlan greedy(std::vector<LogicalPlan> inputs, std::vector<BoundExprPtr> conditions,
                     size_t width, const std::vector<OutputColumn>& output) {
    size_t n = inputs.size();
    // Global column ranges of each input.
    std::vector<size_t> begin(n);
    size_t position = 0;
    for (size_t i = 0; i < n; ++i) {
      begin[i] = position;
      position += inputs[i]->output.size();
    }
    auto input_of = [&](size_t column) {
      size_t i = n - 1;
      while (begin[i] > column) --i;
      return i;
    };
    std::vector<std::vector<size_t>> touches(conditions.size());
    for (size_t c = 0; c < conditions.size(); ++c) {
      for (size_t col : columns_of(*conditions[c])) {
        size_t i = input_of(col);
        if (std::find(touches[c].begin(), touches[c].end(), i) == touches[c].end())
          touches[c].push_back(i);
      }
    }
    std::vector<double> size(n);
    for (size_t i = 0; i < n; ++i) size[i] = estimate(*inputs[i]);
    // An equality between a column of input a and one of input b: its selectivity is
    // 1 / max(distinct values of the two), when both are known (else a foreign key is assumed:
    // the result is as large as the larger input).
    auto local_column = [&](const BoundExpr& e, size_t& input, size_t& column) {
      if (e.kind != BoundExprKind::kColumn) return false;
      input = input_of(e.column);
      column = e.column - begin[input];
      return true;
    };
    std::vector<bool> used(n, false);
    std::vector<size_t> order;
    size_t first = 0;
    for (size_t i = 1; i < n; ++i) {
      if (size[i] < size[first]) first = i;
    }
    order.push_back(first);
    used[first] = true;
    double current = size[first];
    while (order.size() < n) {
      size_t best = SIZE_MAX;
      double best_size = 0;
      for (size_t i = 0; i < n; ++i) {
        if (used[i]) continue;
        bool connected = false;
        double joined = current * size[i];
        for (size_t c = 0; c < conditions.size(); ++c) {
          const auto& t = touches[c];
          if (std::find(t.begin(), t.end(), i) == t.end() || t.size() < 2) continue;
          bool rest_built = true;
          for (size_t other : t) rest_built = rest_built && (other == i || used[other]);
          if (!rest_built) continue;
          connected = true;
          const BoundExpr& cond = *conditions[c];
          double estimate_here = std::max(current, size[i]);
          size_t ia, ca, ib, cb;
          if (cond.kind == BoundExprKind::kFunction && cond.name == "=" &&
              local_column(*cond.children[0], ia, ca) && local_column(*cond.children[1], ib, cb)) {
            auto na = distinct_values(*inputs[ia], ca);
            auto nb = distinct_values(*inputs[ib], cb);
            if (na && nb) estimate_here = current * size[i] / std::max({*na, *nb, 1.0});
          }
          joined = std::min(joined, estimate_here);
        }
        if (!connected) continue;
        if (best == SIZE_MAX || joined < best_size) {
          best = i;
          best_size = joined;
        }
      }
      if (best == SIZE_MAX) {
        for (size_t i = 0; i < n; ++i) {
          if (!used[i] && (best == SIZE_MAX || size[i] < size[best])) best = i;
        }
        best_size = current * size[best];
      }
      order.push_back(best);
      used[best] = true;
      current = std::max(best_size, 1.0);
    }
    // New global positions: inputs in `order`.
    std::vector<size_t> mapping(width);
    size_t next = 0;
    for (size_t i : order) {
      for (size_t c = 0; c < inputs[i]->output.size(); ++c) mapping[begin[i] + c] = next++;
    }
    for (auto& c : conditions) c->remap_columns(mapping);
    std::vector<LogicalPlan> ordered;
    for (size_t i : order) ordered.push_back(std::move(inputs[i]));
    LogicalPlan joined = rebuild_in_order(std::move(ordered), std::move(conditions), {});
    // Restore the original column order on top.
    auto project = std::make_unique<LogicalOperator>(LogicalKind::kProject);
    for (size_t c = 0; c < width; ++c) {
      project->expressions.push_back(make_column(mapping[c], output[c].type, output[c].name));
    }
    project->output = output;
    project->children.push_back(std::move(joined));
    return project;
  }

  // Left-deep joins of `inputs` in order, each condition attached at the first join that has all
  // its columns (and split into keys by the push-down pass that runs afterwards).
  LogicalPlan rebuild_in_order(std::vector<LogicalPlan> inputs,
                               std::vector<BoundExprPtr> conditions,
                               const std::vector<OutputColumn>&) {
    LogicalPlan current = std::move(inputs[0]);
    std::vector<bool> placed(conditions.size(), false);
    for (size_t i = 1; i < inputs.size(); ++i) {
      auto join = std::make_unique<LogicalOperator>(LogicalKind::kJoin);
      join->join_kind = JoinKind::kInner;
      join->output = current->output;
      for (const auto& c : inputs[i]->output) join->output.push_back(c);
      size_t width = join->output.size();
      std::vector<BoundExprPtr> here;
      for (size_t c = 0; c < conditions.size(); ++c) {
        if (placed[c]) continue;
        bool fits = true;
        for (size_t col : columns_of(*conditions[c])) fits = fits && col < width;
        if (fits) {
          here.push_back(std::move(conditions[c]));
          placed[c] = true;
        }
      }
      join->predicate = conjoin(std::move(here));
      // The right input is the hash join's build side: make it the smaller one. The swapped
      // join is projected back to (built so far, next input) for the conditions above it.
      double built = estimate(*current);
      double next_size = estimate(*inputs[i]);
      size_t left_width = current->output.size();
      size_t right_width = inputs[i]->output.size();
      if (built < next_size && join->predicate) {
        std::vector<size_t> swap(width);
        for (size_t c = 0; c < left_width; ++c) swap[c] = right_width + c;
        for (size_t c = 0; c < right_width; ++c) swap[left_width + c] = c;
        join->predicate->remap_columns(swap);
        std::vector<OutputColumn> original = join->output;
        join->output = inputs[i]->output;
        for (const auto& c : current->output) join->output.push_back(c);
        join->children.push_back(std::move(inputs[i]));
        join->children.push_back(std::move(current));
        auto project = std::make_unique<LogicalOperator>(LogicalKind::kProject);
        for (size_t c = 0; c < width; ++c) {
          project->expressions.push_back(make_column(swap[c], original[c].type, original[c].name));
        }
        project->output = std::move(original);
        project->children.push_back(std::move(join));
        current = std::move(project);
        continue;
      }
      join->children.push_back(std::move(current));
      join->children.push_back(std::move(inputs[i]));
      current = std::move(join);
    }
    std::vector<BoundExprPtr> rest;
    for (size_t c = 0; c < conditions.size(); ++c) {
      if (!placed[c]) rest.push_back(std::move(conditions[c]));
    }
    return make_filter(std::move(current), std::move(rest));
  }
};

}  // namespace

}  // namespace sluice::sql

#include "function_library.h"

namespace sluice::sql {

namespace {

const ScalarFunction* JoinOrderer::equality_function(const LogicalType& type) {
  std::string error;
  auto resolved = (*FunctionRegistry::builtins().find_scalar("="))({type, type}, error);
  return resolved->function;
}

}  // namespace

// ------------------------------------------------------------------ common sub-expressions
// A sub-expression that a projection's or an aggregate's expressions compute more than once (the
// l_extendedprice * (1 - l_discount) of TPC-H's q01) is computed once, by a projection inserted
// below that passes the input's columns on and adds it. Branches of CASE, COALESCE, AND and OR
// are left alone: they are evaluated only for some rows, and hoisting them could evaluate an
// expression (a division by zero, a failing cast) for rows that never reach it.
class CommonSubexpressions {
 public:
  void apply(LogicalOperator& op) {
    for (auto& child : op.children) apply(*child);
    std::vector<BoundExprPtr*> roots;
    if (op.kind == LogicalKind::kProject) {
      for (auto& e : op.expressions) roots.push_back(&e);
    } else if (op.kind == LogicalKind::kAggregate) {
      for (auto& e : op.expressions) roots.push_back(&e);
      for (auto& a : op.aggregates) {
        if (a.argument) roots.push_back(&a.argument);
      }
    } else {
      return;
    }
    extract(op, roots);
  }

 private:
  static size_t size(const BoundExpr& e) {
    size_t n = 1;
    for (const auto& c : e.children) n += size(*c);
    return n;
  }

  static bool conditional(const BoundExpr& e) {
    return e.kind == BoundExprKind::kCase || e.kind == BoundExprKind::kCoalesce ||
           e.kind == BoundExprKind::kAnd || e.kind == BoundExprKind::kOr;
  }

  static bool reads_only_below(const BoundExpr& e, size_t width) {
    if (e.kind == BoundExprKind::kColumn && e.column >= width) return false;
    for (const auto& c : e.children) {
      if (!reads_only_below(*c, width)) return false;
    }
    return true;
  }

  // The sub-expressions of `e` evaluated for every row, that are worth computing once.
  static void collect(BoundExpr& e, std::vector<BoundExpr*>& out) {
    if (e.kind != BoundExprKind::kColumn && e.kind != BoundExprKind::kConstant &&
        !e.is_constant_foldable() && is_deterministic(e)) {
      out.push_back(&e);
    }
    if (conditional(e)) return;
    for (auto& c : e.children) collect(*c, out);
  }

  // Replaces every occurrence of `pattern` that collect() reaches by a reference to `column`.
  static void replace(BoundExprPtr& e, const BoundExpr& pattern, size_t column) {
    if (e->equals(pattern)) {
      e = make_column(column, pattern.type);
      return;
    }
    if (conditional(*e)) return;
    for (auto& c : e->children) replace(c, pattern, column);
  }

  static void extract(LogicalOperator& op, const std::vector<BoundExprPtr*>& roots) {
    size_t width = op.children[0]->output.size();
    std::vector<BoundExprPtr> common;
    while (true) {
      std::vector<BoundExpr*> all;
      for (BoundExprPtr* root : roots) collect(**root, all);
      // The largest sub-expression computed twice or more (its parts are then computed once).
      const BoundExpr* best = nullptr;
      size_t best_size = 0;
      for (size_t i = 0; i < all.size(); ++i) {
        size_t n = size(*all[i]);
        if (n <= best_size || !reads_only_below(*all[i], width)) continue;
        for (size_t j = 0; j < all.size(); ++j) {
          if (j != i && all[j]->equals(*all[i])) {
            best = all[i];
            best_size = n;
            break;
          }
        }
      }
      if (!best) break;
      BoundExprPtr pattern = best->clone();
      for (BoundExprPtr* root : roots) replace(*root, *pattern, width + common.size());
      common.push_back(std::move(pattern));
    }
    if (common.empty()) return;
    auto below = std::make_unique<LogicalOperator>(LogicalKind::kProject);
    const auto& input = op.children[0]->output;
    for (size_t c = 0; c < width; ++c) {
      below->expressions.push_back(make_column(c, input[c].type, input[c].name));
      below->output.push_back(input[c]);
    }
    for (size_t i = 0; i < common.size(); ++i) {
      below->output.push_back({fmt::format("$common{}", i), common[i]->type});
      below->expressions.push_back(std::move(common[i]));
    }
    below->children.push_back(std::move(op.children[0]));
    op.children[0] = std::move(below);
  }
};

LogicalPlan optimize(LogicalPlan plan) {
  fold_constants(*plan);
  factor_ors(*plan);
  plan = FilterPushDown().push(std::move(plan), {});
  plan = JoinOrderer::push_semi_joins(std::move(plan));
  plan = JoinOrderer().reorder(std::move(plan));
  // Join ordering moved conditions into joins' predicates: split them into keys again.
  plan = FilterPushDown().push(std::move(plan), {});
  plan = JoinOrderer::reduce_grouped_joins(std::move(plan));
  CommonSubexpressions().apply(*plan);
  ColumnPruner().prune(*plan, std::vector<bool>(plan->output.size(), true));
  return JoinOrderer::choose_build_sides(std::move(plan));
}

}  // namespace sluice::sql
