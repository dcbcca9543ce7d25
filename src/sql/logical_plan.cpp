#include "sluice/sql/logical_plan.h"

#include <fmt/format.h>

namespace sluice::sql {

std::vector<LogicalType> LogicalOperator::types() const {
  std::vector<LogicalType> out;
  out.reserve(output.size());
  for (const auto& c : output) out.push_back(c.type);
  return out;
}

namespace {

const char* join_name(JoinKind kind) {
  switch (kind) {
    case JoinKind::kInner:
      return "inner";
    case JoinKind::kLeft:
      return "left";
    case JoinKind::kRight:
      return "right";
    case JoinKind::kFull:
      return "full";
    case JoinKind::kCross:
      return "cross";
    case JoinKind::kSemi:
      return "semi";
    case JoinKind::kAnti:
      return "anti";
  }
  return "?";
}

std::string list(const std::vector<BoundExprPtr>& exprs) {
  std::string out;
  for (size_t i = 0; i < exprs.size(); ++i) out += (i ? ", " : "") + exprs[i]->to_string();
  return out;
}

std::string sort_keys(const std::vector<SortKey>& keys) {
  std::string out;
  for (size_t i = 0; i < keys.size(); ++i) {
    out += fmt::format("{}#{} {} NULLS {}", i ? ", " : "", keys[i].column,
                       keys[i].descending ? "DESC" : "ASC", keys[i].nulls_first ? "FIRST" : "LAST");
  }
  return out;
}

void render(const LogicalOperator& op, int depth, std::string& out) {
  std::string line(static_cast<size_t>(depth) * 2, ' ');
  switch (op.kind) {
    case LogicalKind::kScan: {
      line += fmt::format("Scan {} [", op.table_name);
      for (size_t i = 0; i < op.output.size(); ++i) line += (i ? ", " : "") + op.output[i].name;
      line += "]";
      if (!op.filters.empty()) line += " filters: " + list(op.filters);
      break;
    }
    case LogicalKind::kValues:
      line += fmt::format("Values ({} rows)", op.rows.size());
      break;
    case LogicalKind::kFilter:
      line += "Filter " + op.predicate->to_string();
      break;
    case LogicalKind::kProject:
      line += "Project " + list(op.expressions);
      break;
    case LogicalKind::kAggregate: {
      line += "Aggregate groups: [" + list(op.expressions) + "] aggregates: [";
      for (size_t i = 0; i < op.aggregates.size(); ++i) {
        const auto& a = op.aggregates[i];
        line += fmt::format("{}{}({}{})", i ? ", " : "", a.name, a.distinct ? "DISTINCT " : "",
                            a.argument ? a.argument->to_string() : "*");
      }
      line += "]";
      break;
    }
    case LogicalKind::kJoin: {
      line += fmt::format("Join {}", join_name(op.join_kind));
      if (!op.left_keys.empty()) {
        line += " on";
        for (size_t i = 0; i < op.left_keys.size(); ++i) {
          line += fmt::format("{} {} = {}", i ? "," : "", op.left_keys[i]->to_string(),
                              op.right_keys[i]->to_string());
        }
      }
      if (op.predicate) line += " where " + op.predicate->to_string();
      if (op.null_aware) line += " (null-aware)";
      if (op.build_left) line += " (build left)";
      break;
    }
    case LogicalKind::kSort:
      line += "Sort " + sort_keys(op.sort_keys);
      break;
    case LogicalKind::kTopN:
      line +=
          fmt::format("TopN {} limit {} offset {}", sort_keys(op.sort_keys), *op.limit, op.offset);
      break;
    case LogicalKind::kLimit:
      line += fmt::format("Limit {} offset {}", op.limit ? std::to_string(*op.limit) : "all",
                          op.offset);
      break;
    case LogicalKind::kUnion:
      line += op.all ? "Union all" : "Union";
      break;
    case LogicalKind::kWindow: {
      line += "Window";
      for (size_t i = 0; i < op.windows.size(); ++i) {
        const auto& w = op.windows[i];
        line += fmt::format("{} {}({}) OVER (PARTITION BY [{}] ORDER BY [{}])", i ? "," : "",
                            w.name, w.argument ? w.argument->to_string() : "", list(w.partition_by),
                            list(w.order_by));
      }
      break;
    }
    case LogicalKind::kExpand: {
      line += "Expand [" + list(op.expressions) + "] sets:";
      for (const auto& set : op.grouping_sets) {
        std::string keys;
        for (size_t k = 0; k < set.size(); ++k) {
          if (set[k]) keys += fmt::format("{}{}", keys.empty() ? "" : ", ", k);
        }
        line += " (" + keys + ")";
      }
      break;
    }
    case LogicalKind::kSetOp:
      line +=
          fmt::format("{}{}", op.set_op == QueryNode::SetOp::kIntersect ? "Intersect" : "Except",
                      op.all ? " all" : "");
      break;
  }
  out += line + "\n";
  for (const auto& child : op.children) render(*child, depth + 1, out);
}

}  // namespace

std::string LogicalOperator::to_string() const {
  std::string out;
  render(*this, 0, out);
  return out;
}

}  // namespace sluice::sql
