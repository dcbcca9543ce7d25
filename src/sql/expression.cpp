#include "sluice/sql/expression.h"

#include <fmt/format.h>

namespace sluice::sql {

BoundExprPtr make_column(size_t column, LogicalType type, std::string name) {
  auto e = std::make_unique<BoundExpr>(BoundExprKind::kColumn, std::move(type));
  e->column = column;
  e->name = std::move(name);
  return e;
}

BoundExprPtr make_constant(Value value) {
  auto e = std::make_unique<BoundExpr>(BoundExprKind::kConstant, value.type());
  e->constant = std::move(value);
  return e;
}

BoundExprPtr make_cast(BoundExprPtr input, LogicalType type) {
  auto e = std::make_unique<BoundExpr>(BoundExprKind::kCast, std::move(type));
  e->children.push_back(std::move(input));
  return e;
}

BoundExprPtr BoundExpr::clone() const {
  auto e = std::make_unique<BoundExpr>(kind, type);
  e->column = column;
  e->constant = constant;
  e->function = function;
  e->negated = negated;
  e->try_cast = try_cast;
  e->outer_reference = outer_reference;
  e->name = name;
  for (const auto& c : children) e->children.push_back(c->clone());
  return e;
}

bool BoundExpr::equals(const BoundExpr& other) const {
  if (kind != other.kind || !(type == other.type) || negated != other.negated ||
      try_cast != other.try_cast || outer_reference != other.outer_reference ||
      children.size() != other.children.size()) {
    return false;
  }
  switch (kind) {
    case BoundExprKind::kColumn:
      if (column != other.column) return false;
      break;
    case BoundExprKind::kConstant:
      if (constant.is_null() != other.constant.is_null() ||
          constant.to_string() != other.constant.to_string()) {
        return false;
      }
      break;
    case BoundExprKind::kFunction:
      if (function != other.function) return false;
      break;
    default:
      break;
  }
  for (size_t i = 0; i < children.size(); ++i) {
    if (!children[i]->equals(*other.children[i])) return false;
  }
  return true;
}

bool BoundExpr::is_constant_foldable() const {
  if (kind == BoundExprKind::kColumn) return false;
  if (kind == BoundExprKind::kFunction && function->is_volatile) return false;
  for (const auto& c : children) {
    if (!c->is_constant_foldable()) return false;
  }
  return true;
}

void BoundExpr::collect_columns(std::vector<size_t>& out) const {
  if (kind == BoundExprKind::kColumn) out.push_back(column);
  for (const auto& c : children) c->collect_columns(out);
}

void BoundExpr::remap_columns(const std::vector<size_t>& mapping) {
  if (kind == BoundExprKind::kColumn) column = mapping[column];
  for (auto& c : children) c->remap_columns(mapping);
}

std::string BoundExpr::to_string() const {
  auto child = [&](size_t i) { return children[i]->to_string(); };
  switch (kind) {
    case BoundExprKind::kColumn:
      return name.empty() ? fmt::format("#{}", column) : fmt::format("{}#{}", name, column);
    case BoundExprKind::kConstant:
      return constant.to_sql();
    case BoundExprKind::kFunction: {
      bool infix = !name.empty() && !std::isalpha(static_cast<unsigned char>(name[0])) &&
                   children.size() == 2;
      if (infix) return fmt::format("({} {} {})", child(0), name, child(1));
      std::string out = name + "(";
      for (size_t i = 0; i < children.size(); ++i) out += (i ? ", " : "") + child(i);
      return out + ")";
    }
    case BoundExprKind::kCast:
      return fmt::format("CAST({} AS {})", child(0), type.to_string());
    case BoundExprKind::kCase: {
      std::string out = "CASE";
      for (size_t i = 0; i + 1 < children.size(); i += 2) {
        out += fmt::format(" WHEN {} THEN {}", child(i), child(i + 1));
      }
      return out + fmt::format(" ELSE {} END", children.back()->to_string());
    }
    case BoundExprKind::kAnd:
    case BoundExprKind::kOr: {
      std::string out = "(";
      for (size_t i = 0; i < children.size(); ++i) {
        out += (i ? (kind == BoundExprKind::kAnd ? " AND " : " OR ") : "") + child(i);
      }
      return out + ")";
    }
    case BoundExprKind::kNot:
      return "NOT " + child(0);
    case BoundExprKind::kIsNull:
      return child(0) + (negated ? " IS NOT NULL" : " IS NULL");
    case BoundExprKind::kInList: {
      std::string out = child(0) + (negated ? " NOT IN (" : " IN (");
      for (size_t i = 1; i < children.size(); ++i) out += (i > 1 ? ", " : "") + child(i);
      return out + ")";
    }
    case BoundExprKind::kCoalesce: {
      std::string out = "COALESCE(";
      for (size_t i = 0; i < children.size(); ++i) out += (i ? ", " : "") + child(i);
      return out + ")";
    }
  }
  return "?";
}

}  // namespace sluice::sql
