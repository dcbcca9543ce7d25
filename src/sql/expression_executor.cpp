#include "expression_executor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "sluice/core/error.h"

namespace sluice::sql {

struct ExpressionExecutor::Node {
  const BoundExpr* expr;
  std::vector<std::unique_ptr<Node>> children;
  std::vector<std::unique_ptr<Vector>> results;  // one per child (unused for columns/constants)
  std::vector<Vector*> arguments;
  std::unique_ptr<Vector> constant;  // a folded constant child of this node's own kind
  // A CASE whose later conditions or results are computed, or an AND/OR whose later operands
  // could fail: each is evaluated only over the rows that reach it (evaluate_case,
  // evaluate_logic), as Flink's generated code does, so that CASE WHEN b <> 0 THEN a / b END and
  // b <> 0 AND a / b > 1 never divide by zero.
  bool lazy = false;
  std::vector<std::vector<size_t>> child_columns;  // input columns each child reads
  DataChunk slice;                                 // the rows a child is evaluated over
  std::vector<uint32_t> remaining;                 // rows no condition has decided yet
  std::vector<uint8_t> saw_null;                   // AND/OR: a row met a NULL operand
  std::vector<std::vector<uint32_t>> branch_rows;  // CASE, per result child: the rows it gives
};

namespace {

std::unique_ptr<Vector> constant_vector(const Value& value, const LogicalType& type) {
  auto v = std::make_unique<Vector>(type);
  value.write_to(*v, 0);
  v->set_constant(true);
  return v;
}

// result validity = AND of the arguments' validities.
void propagate_nulls(Vector* const* args, size_t n, size_t count, Vector& result) {
  result.reset_validity();
  for (size_t a = 0; a < n; ++a) {
    const Vector& arg = *args[a];
    if (arg.all_valid()) continue;
    if (arg.is_constant()) {
      if (!arg.is_valid(0)) {
        for (size_t i = 0; i < count; ++i) result.set_null(i);
        return;
      }
      continue;
    }
    const uint64_t* in = arg.validity_words_or_null();
    uint64_t* out = result.validity_words();
    for (size_t w = 0; w < (count + 63) / 64; ++w) out[w] &= in[w];
  }
}

// Whether evaluating `e` can raise an error for some rows (a division or modulo by zero, a cast
// of a value that does not convert): such operands of AND and OR are evaluated lazily.
bool may_fail(const BoundExpr& e) {
  if (e.kind == BoundExprKind::kCast && !e.try_cast) return true;
  if (e.kind == BoundExprKind::kFunction) {
    std::string name = e.name;
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (name == "/" || name == "%" || name == "MOD" || name == "DIV") return true;
  }
  for (const auto& c : e.children) {
    if (may_fail(*c)) return true;
  }
  return false;
}

template <typename T>
int three_way(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

template <typename T>
bool equal_rows(const Vector& x, size_t a, const Vector& y, size_t b) {
  return x.data<T>()[a] == y.data<T>()[b];
}

}  // namespace

int compare_values(const Vector& x, size_t a, const Vector& y, size_t b) {
  if (x.is_constant()) a = 0;
  if (y.is_constant()) b = 0;
  switch (x.physical()) {
    case PhysicalType::kBool:
      return three_way(x.data<uint8_t>()[a], y.data<uint8_t>()[b]);
    case PhysicalType::kInt8:
      return three_way(x.data<int8_t>()[a], y.data<int8_t>()[b]);
    case PhysicalType::kInt16:
      return three_way(x.data<int16_t>()[a], y.data<int16_t>()[b]);
    case PhysicalType::kInt32:
      return three_way(x.data<int32_t>()[a], y.data<int32_t>()[b]);
    case PhysicalType::kInt64:
      return three_way(x.data<int64_t>()[a], y.data<int64_t>()[b]);
    case PhysicalType::kInt128:
      return three_way(x.data<int128_t>()[a], y.data<int128_t>()[b]);
    case PhysicalType::kFloat:
      return three_way(x.data<float>()[a], y.data<float>()[b]);
    case PhysicalType::kDouble:
      return three_way(x.data<double>()[a], y.data<double>()[b]);
    case PhysicalType::kString:
      return compare(x.data<StringRef>()[a], y.data<StringRef>()[b]);
    case PhysicalType::kNested:
      break;
  }
  return 0;
}

int compare_for_order(const Vector& x, size_t a, const Vector& y, size_t b, bool descending,
                      bool nulls_first) {
  bool null_a = !x.is_valid(x.is_constant() ? 0 : a);
  bool null_b = !y.is_valid(y.is_constant() ? 0 : b);
  if (null_a || null_b) {
    if (null_a && null_b) return 0;
    return null_a == nulls_first ? -1 : 1;
  }
  int c = compare_values(x, a, y, b);
  return descending ? -c : c;
}

ExpressionExecutor::ExpressionExecutor(const BoundExpr& expr)
    : root_(build(expr)), boolean_scratch_(std::make_unique<Vector>(LogicalType::boolean())) {}

ExpressionExecutor::~ExpressionExecutor() = default;

std::unique_ptr<ExpressionExecutor::Node> ExpressionExecutor::build(const BoundExpr& expr) {
  auto node = std::make_unique<Node>();
  node->expr = &expr;
  for (const auto& child : expr.children) {
    if (child->kind == BoundExprKind::kConstant) {
      node->children.push_back(nullptr);
      node->results.push_back(constant_vector(child->constant, child->type));
    } else if (child->kind == BoundExprKind::kColumn) {
      node->children.push_back(nullptr);
      node->results.push_back(nullptr);
    } else {
      node->children.push_back(build(*child));
      node->results.push_back(std::make_unique<Vector>(child->type));
    }
  }
  node->arguments.resize(expr.children.size());
  if (expr.kind == BoundExprKind::kConstant)
    node->constant = constant_vector(expr.constant, expr.type);
  if (expr.kind == BoundExprKind::kCase) {
    for (size_t i = 1; i < expr.children.size(); ++i) node->lazy |= node->children[i] != nullptr;
  } else if (expr.kind == BoundExprKind::kAnd || expr.kind == BoundExprKind::kOr) {
    // Cheap operands are evaluated for every row; gathering slices costs more than they do.
    for (size_t i = 1; i < expr.children.size(); ++i) node->lazy |= may_fail(*expr.children[i]);
  }
  if (node->lazy) {
    for (const auto& child : expr.children) {
      // Each column once: a slice gathers what the child reads.
      std::vector<size_t>& columns = node->child_columns.emplace_back();
      child->collect_columns(columns);
      std::sort(columns.begin(), columns.end());
      columns.erase(std::unique(columns.begin(), columns.end()), columns.end());
    }
    node->branch_rows.resize(expr.children.size());
  }
  return node;
}

void ExpressionExecutor::evaluate_on(Node& node, size_t child, const DataChunk& input,
                                     const std::vector<uint32_t>& rows, Vector*& result) {
  if (rows.size() == input.size()) {
    result = argument(node, child, input);
    return;
  }
  if (node.slice.column_count() == 0) node.slice.initialize(input.types());
  node.slice.reset();
  for (size_t c : node.child_columns[child]) {
    node.slice.column(c).gather(input.column(c), rows.data(), rows.size());
  }
  node.slice.set_size(rows.size());
  result = argument(node, child, node.slice);
}

void ExpressionExecutor::evaluate_logic(Node& node, const DataChunk& input, Vector& out) {
  // Three-valued: AND is FALSE if any operand is FALSE, else NULL if any is NULL, else TRUE (OR
  // dual). A row leaves once an operand decides it; later operands never see it.
  bool is_and = node.expr->kind == BoundExprKind::kAnd;
  size_t count = input.size();
  uint8_t* result = out.data<uint8_t>();
  node.saw_null.assign(count, 0);
  node.remaining.resize(count);
  for (size_t i = 0; i < count; ++i) node.remaining[i] = static_cast<uint32_t>(i);
  for (size_t c = 0; c < node.expr->children.size() && !node.remaining.empty(); ++c) {
    Vector* value = nullptr;
    evaluate_on(node, c, input, node.remaining, value);
    size_t kept = 0;
    for (size_t j = 0; j < node.remaining.size(); ++j) {
      uint32_t row = node.remaining[j];
      size_t at = value->is_constant() ? 0 : j;
      if (!value->is_valid(at)) {
        node.saw_null[row] = 1;
      } else if ((value->data<uint8_t>()[at] != 0) != is_and) {
        result[row] = is_and ? 0 : 1;
        continue;
      }
      node.remaining[kept++] = row;
    }
    node.remaining.resize(kept);
  }
  for (uint32_t row : node.remaining) {
    if (node.saw_null[row]) {
      out.set_null(row);
    } else {
      result[row] = is_and ? 1 : 0;
    }
  }
}

void ExpressionExecutor::evaluate_case(Node& node, const DataChunk& input, Vector& out) {
  const BoundExpr& e = *node.expr;
  size_t n_args = e.children.size();
  size_t count = input.size();
  size_t pairs = (n_args - 1) / 2;
  node.remaining.resize(count);
  for (size_t i = 0; i < count; ++i) node.remaining[i] = static_cast<uint32_t>(i);
  for (auto& rows : node.branch_rows) rows.clear();
  for (size_t p = 0; p < pairs && !node.remaining.empty(); ++p) {
    Vector* when = nullptr;
    evaluate_on(node, 2 * p, input, node.remaining, when);
    size_t kept = 0;
    for (size_t j = 0; j < node.remaining.size(); ++j) {
      size_t row = when->is_constant() ? 0 : j;
      if (when->is_valid(row) && when->data<uint8_t>()[row] != 0) {
        node.branch_rows[2 * p + 1].push_back(node.remaining[j]);
      } else {
        node.remaining[kept++] = node.remaining[j];
      }
    }
    node.remaining.resize(kept);
  }
  node.branch_rows[n_args - 1] = node.remaining;
  // Each result child over the rows that chose it, written back to their positions.
  for (size_t b = 0; b < n_args; ++b) {
    bool result_child = b == n_args - 1 || b % 2 == 1;
    if (!result_child || node.branch_rows[b].empty()) continue;
    const std::vector<uint32_t>& rows = node.branch_rows[b];
    Vector* value = nullptr;
    evaluate_on(node, b, input, rows, value);
    for (size_t j = 0; j < rows.size(); ++j) {
      out.copy_row(rows[j], *value, value->is_constant() ? 0 : j);
    }
  }
}

Vector* ExpressionExecutor::argument(Node& node, size_t i, const DataChunk& input) {
  const BoundExpr& child = *node.expr->children[i];
  if (child.kind == BoundExprKind::kColumn) {
    // Kernels only read their arguments.
    return const_cast<Vector*>(&input.column(child.column));
  }
  if (child.kind != BoundExprKind::kConstant) evaluate(*node.children[i], input, *node.results[i]);
  return node.results[i].get();
}

void ExpressionExecutor::execute(const DataChunk& input, Vector& result) {
  const BoundExpr& e = *root_->expr;
  if (e.kind == BoundExprKind::kColumn) {
    result.copy_from(input.column(e.column), input.size());
    return;
  }
  if (e.kind == BoundExprKind::kConstant) {
    result.copy_from(*root_->constant, 1);
    return;
  }
  evaluate(*root_, input, result);
}

size_t ExpressionExecutor::select(const DataChunk& input, uint32_t* sel) {
  Vector& v = *boolean_scratch_;
  execute(input, v);
  size_t count = input.size();
  const uint8_t* data = v.data<uint8_t>();
  if (v.is_constant()) {
    if (!v.is_valid(0) || data[0] == 0) return 0;
    for (size_t i = 0; i < count; ++i) sel[i] = static_cast<uint32_t>(i);
    return count;
  }
  size_t n = 0;
  if (v.all_valid()) {
    for (size_t i = 0; i < count; ++i) {
      sel[n] = static_cast<uint32_t>(i);
      n += data[i] != 0;
    }
  } else {
    for (size_t i = 0; i < count; ++i) {
      sel[n] = static_cast<uint32_t>(i);
      n += (data[i] != 0) & v.is_valid(i);
    }
  }
  return n;
}

void ExpressionExecutor::evaluate(Node& node, const DataChunk& input, Vector& out) {
  const BoundExpr& e = *node.expr;
  if (node.lazy && input.size() > 0) {
    out.reset_validity();
    out.set_constant(false);
    if (out.physical() == PhysicalType::kString) out.reset();
    if (e.kind == BoundExprKind::kCase) {
      evaluate_case(node, input, out);
    } else {
      evaluate_logic(node, input, out);
    }
    return;
  }
  size_t n_args = e.children.size();
  bool all_constant = true;
  for (size_t i = 0; i < n_args; ++i) {
    node.arguments[i] = argument(node, i, input);
    all_constant = all_constant && node.arguments[i]->is_constant();
  }
  // A chunk without columns (SELECT 1) still has rows; constants evaluate once.
  size_t count = all_constant ? 1 : input.size();
  Vector* const* args = node.arguments.data();
  out.reset_validity();
  out.set_constant(false);
  if (out.physical() == PhysicalType::kString) out.reset();
  switch (e.kind) {
    case BoundExprKind::kColumn: {
      // A column a table lent (Vector::borrow) is lent on; any other is copied, as its buffer is
      // its operator's to reuse.
      const Vector& column = input.column(e.column);
      if (column.borrowed()) {
        out.borrow(column);
      } else {
        out.copy_from(column, input.size());
      }
      return;
    }
    case BoundExprKind::kConstant:
      out.copy_from(*node.constant, 1);
      return;
    case BoundExprKind::kFunction:
      if (e.function->propagates_nulls) propagate_nulls(args, n_args, count, out);
      e.function->kernel(e, args, count, out);
      break;
    case BoundExprKind::kCast:
      cast_vector(*args[0], out, count, e.try_cast);
      break;
    case BoundExprKind::kNot: {
      const Vector& a = *args[0];
      const uint8_t* in = a.data<uint8_t>();
      uint8_t* r = out.data<uint8_t>();
      for (size_t i = 0; i < count; ++i) r[i] = in[i] == 0;
      propagate_nulls(args, 1, count, out);
      break;
    }
    case BoundExprKind::kAnd:
    case BoundExprKind::kOr: {
      // Three-valued: AND is FALSE if any is FALSE, else NULL if any is NULL, else TRUE (OR dual).
      bool is_and = e.kind == BoundExprKind::kAnd;
      uint8_t* r = out.data<uint8_t>();
      std::fill_n(r, count, is_and ? 1 : 0);
      bool any_null = false;
      for (size_t a = 0; a < n_args; ++a) any_null = any_null || !args[a]->all_valid();
      if (!any_null) {
        for (size_t a = 0; a < n_args; ++a) {
          const Vector& v = *args[a];
          const uint8_t* in = v.data<uint8_t>();
          if (v.is_constant()) {
            for (size_t i = 0; i < count; ++i) r[i] = is_and ? (r[i] & in[0]) : (r[i] | in[0]);
          } else {
            for (size_t i = 0; i < count; ++i) r[i] = is_and ? (r[i] & in[i]) : (r[i] | in[i]);
          }
        }
        break;
      }
      for (size_t i = 0; i < count; ++i) {
        bool decided = false;
        bool saw_null = false;
        for (size_t a = 0; a < n_args; ++a) {
          const Vector& v = *args[a];
          size_t row = v.is_constant() ? 0 : i;
          if (!v.is_valid(row)) {
            saw_null = true;
            continue;
          }
          bool value = v.data<uint8_t>()[row] != 0;
          if (value != is_and) {
            decided = true;
            break;
          }
        }
        if (decided) {
          r[i] = is_and ? 0 : 1;
        } else if (saw_null) {
          out.set_null(i);
        } else {
          r[i] = is_and ? 1 : 0;
        }
      }
      break;
    }
    case BoundExprKind::kIsNull: {
      const Vector& a = *args[0];
      uint8_t* r = out.data<uint8_t>();
      for (size_t i = 0; i < count; ++i) r[i] = a.is_valid(a.is_constant() ? 0 : i) == e.negated;
      break;
    }
    case BoundExprKind::kCoalesce: {
      for (size_t i = 0; i < count; ++i) {
        bool found = false;
        for (size_t a = 0; a < n_args; ++a) {
          const Vector& v = *args[a];
          size_t row = v.is_constant() ? 0 : i;
          if (v.is_valid(row)) {
            out.copy_row(i, v, row);
            found = true;
            break;
          }
        }
        if (!found) out.set_null(i);
      }
      break;
    }
    case BoundExprKind::kCase: {
      size_t pairs = (n_args - 1) / 2;
      for (size_t i = 0; i < count; ++i) {
        const Vector* chosen = args[n_args - 1];
        for (size_t p = 0; p < pairs; ++p) {
          const Vector& when = *args[2 * p];
          size_t row = when.is_constant() ? 0 : i;
          if (when.is_valid(row) && when.data<uint8_t>()[row] != 0) {
            chosen = args[2 * p + 1];
            break;
          }
        }
        out.copy_row(i, *chosen, chosen->is_constant() ? 0 : i);
      }
      break;
    }
    case BoundExprKind::kInList: {
      // TRUE if equal to an item; else NULL if the value or any item is NULL; else FALSE.
      const Vector& value = *args[0];
      uint8_t* r = out.data<uint8_t>();
      for (size_t i = 0; i < count; ++i) {
        size_t row = value.is_constant() ? 0 : i;
        if (!value.is_valid(row)) {
          out.set_null(i);
          continue;
        }
        bool found = false;
        bool saw_null = false;
        for (size_t a = 1; a < n_args; ++a) {
          const Vector& item = *args[a];
          size_t item_row = item.is_constant() ? 0 : i;
          if (!item.is_valid(item_row)) {
            saw_null = true;
            continue;
          }
          if (compare_values(value, row, item, item_row) == 0) {
            found = true;
            break;
          }
        }
        bool result = found != e.negated;
        if (!found && saw_null) {
          out.set_null(i);
        } else {
          r[i] = result;
        }
      }
      break;
    }
  }
  if (all_constant) out.set_constant(true);
}

}  // namespace sluice::sql
