// PostgreSQL's own parser (libpg_query) as an oracle of expression structure: random expressions
// over the operators whose precedence both dialects share — arithmetic, comparison, AND/OR/NOT,
// IS [NOT] NULL, [NOT] BETWEEN, [NOT] IN and [NOT] LIKE — printed with parentheses only here and
// there, so that precedence and associativity decide their shape. Every expression PostgreSQL
// accepts must parse here too, into the same tree (AND and OR chains compared flattened, as
// PostgreSQL builds them).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pg_query.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "sluice/sql/ast.h"
#include "sluice/sql/parser.h"

namespace sluice::sql {
namespace {

using nlohmann::json;

// ---- canonical trees: "(op child ...)" with AND/OR chains flattened

std::string join(const std::string& head, const std::vector<std::string>& parts) {
  std::string out = "(" + head;
  for (const auto& p : parts) out += " " + p;
  return out + ")";
}

std::string pg_tree(const json& node);

void pg_chain(const json& node, const std::string& op, std::vector<std::string>& out) {
  if (node.contains("BoolExpr") && node["BoolExpr"]["boolop"] == op) {
    for (const auto& a : node["BoolExpr"]["args"]) pg_chain(a, op, out);
    return;
  }
  out.push_back(pg_tree(node));
}

std::string pg_tree(const json& node) {
  if (node.contains("A_Const")) {
    const json& c = node["A_Const"];
    if (c.contains("isnull")) return "NULL";
    if (c.contains("sval")) return "'" + c["sval"].value("sval", std::string()) + "'";
    if (c.contains("ival")) return std::to_string(c["ival"].value("ival", 0));
    return "?const";
  }
  if (node.contains("ColumnRef")) return node["ColumnRef"]["fields"].back()["String"]["sval"];
  if (node.contains("BoolExpr")) {
    const json& b = node["BoolExpr"];
    if (b["boolop"] == "NOT_EXPR") return join("not", {pg_tree(b["args"][0])});
    std::vector<std::string> parts;
    pg_chain(node, b["boolop"], parts);
    return join(b["boolop"] == "AND_EXPR" ? "and" : "or", parts);
  }
  if (node.contains("NullTest")) {
    const json& n = node["NullTest"];
    return join(n["nulltesttype"] == "IS_NULL" ? "isnull" : "notnull", {pg_tree(n["arg"])});
  }
  if (node.contains("A_Expr")) {
    const json& a = node["A_Expr"];
    std::string kind = a["kind"];
    std::string name = a["name"].back()["String"]["sval"];
    if (kind == "AEXPR_OP" && !a.contains("lexpr")) {
      return join(name == "-" ? "neg" : "pos", {pg_tree(a.at("rexpr"))});
    }
    std::vector<std::string> items;
    if (a.contains("rexpr") && a["rexpr"].contains("List")) {
      for (const auto& item : a["rexpr"]["List"]["items"]) items.push_back(pg_tree(item));
    }
    std::vector<std::string> args{pg_tree(a.at("lexpr"))};
    args.insert(args.end(), items.begin(), items.end());
    if (kind == "AEXPR_BETWEEN") return join("between", args);
    if (kind == "AEXPR_NOT_BETWEEN") return join("notbetween", args);
    if (kind == "AEXPR_IN") return join(name == "=" ? "in" : "notin", args);
    if (kind == "AEXPR_LIKE")
      return join(name == "~~" ? "like" : "notlike", {args[0], pg_tree(a["rexpr"])});
    if (kind == "AEXPR_OP") return join(name, {pg_tree(a["lexpr"]), pg_tree(a["rexpr"])});
  }
  return "?" + node.dump();
}

std::string our_tree(const ParsedExpr& e);

void our_chain(const ParsedExpr& e, const std::string& op, std::vector<std::string>& out) {
  if (e.kind == ExprKind::kBinary && e.name == op) {
    for (const auto& c : e.children) our_chain(*c, op, out);
    return;
  }
  out.push_back(our_tree(e));
}

std::string our_tree(const ParsedExpr& e) {
  std::vector<std::string> children;
  switch (e.kind) {
    case ExprKind::kLiteral:
      if (e.literal_kind == LiteralKind::kNull) return "NULL";
      if (e.literal_kind == LiteralKind::kString) return "'" + e.text + "'";
      return e.text;
    case ExprKind::kColumn:
      return e.name;
    case ExprKind::kUnary:
      if (e.name == "NOT") return join("not", {our_tree(*e.children[0])});
      return join(e.name == "-" ? "neg" : "pos", {our_tree(*e.children[0])});
    case ExprKind::kBinary: {
      if (e.name == "AND" || e.name == "OR") {
        our_chain(e, e.name, children);
        return join(e.name == "AND" ? "and" : "or", children);
      }
      std::string op = e.name == "!=" ? "<>" : e.name;
      return join(op, {our_tree(*e.children[0]), our_tree(*e.children[1])});
    }
    case ExprKind::kIsNull:
      return join(e.negated ? "notnull" : "isnull", {our_tree(*e.children[0])});
    default:
      break;
  }
  for (const auto& c : e.children) children.push_back(our_tree(*c));
  switch (e.kind) {
    case ExprKind::kBetween:
      return join(e.negated ? "notbetween" : "between", children);
    case ExprKind::kInList:
      return join(e.negated ? "notin" : "in", children);
    case ExprKind::kLike:
      return join(e.negated ? "notlike" : "like", children);
    default:
      return "?" + e.to_string();
  }
}

// ---- random expressions, printed with parentheses only sometimes

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  std::string boolean(int depth) {
    int choice = depth <= 0 ? pick(2) : pick(9);
    switch (choice) {
      case 0:
        return number(depth - 1) + " " + one_of({"=", "<>", "<", "<=", ">", ">=", "!="}) + " " +
               number(depth - 1);
      case 1:
        return (pick(2) ? number(depth - 1) : boolean(depth - 1)) +
               (pick(2) ? " IS NULL" : " IS NOT NULL");
      case 2:
      case 3:
        return maybe_parens(boolean(depth - 1)) + (pick(2) ? " AND " : " OR ") +
               maybe_parens(boolean(depth - 1));
      case 4:
        return "NOT " + maybe_parens(boolean(depth - 1));
      case 5:
        return number(depth - 1) + (pick(2) ? " BETWEEN " : " NOT BETWEEN ") + number(depth - 1) +
               " AND " + number(depth - 1);
      case 6: {
        std::string items = number(depth - 1);
        for (int i = pick(3); i > 0; --i) items += ", " + number(depth - 1);
        return number(depth - 1) + (pick(2) ? " IN (" : " NOT IN (") + items + ")";
      }
      case 7:
        return column() + (pick(2) ? " LIKE " : " NOT LIKE ") + "'a%'";
      default:
        return "(" + boolean(depth - 1) + ")";
    }
  }

  std::string number(int depth) {
    if (depth <= 0 || pick(3) == 0) return pick(2) ? column() : std::to_string(pick(100));
    if (pick(6) == 0) {
      // Unary minus never directly over a literal: PostgreSQL folds it into the constant (and
      // libpg_query 15-4.0's JSON loses a negative constant's value).
      std::string operand = number(depth - 1);
      bool literal = operand.find_first_not_of("0123456789") == std::string::npos;
      return "- " + (literal || pick(2) ? column() : "(" + operand + ")");
    }
    return maybe_parens(number(depth - 1)) + " " + one_of({"+", "-", "*", "/", "%"}) + " " +
           maybe_parens(number(depth - 1));
  }

 private:
  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  std::string one_of(std::initializer_list<const char*> options) {
    return *(options.begin() + pick(options.size()));
  }
  std::string column() { return std::string(1, static_cast<char>('a' + pick(5))); }
  std::string maybe_parens(const std::string& s) { return pick(4) == 0 ? "(" + s + ")" : s; }

  std::mt19937 rng_;
};

TEST(ParserOracle, ExpressionsParseAsPostgreSqlParsesThem) {
  Generator generator(20261208);
  int compared = 0;
  int rejected_by_postgres = 0;
  std::vector<std::string> failures;
  for (int i = 0; i < 3000 && failures.size() < 10; ++i) {
    std::string expression = generator.boolean(4);
    std::string sql = "SELECT " + expression;
    PgQueryParseResult pg = pg_query_parse(sql.c_str());
    if (pg.error) {
      ++rejected_by_postgres;
      pg_query_free_parse_result(pg);
      continue;
    }
    json tree = json::parse(pg.parse_tree);
    pg_query_free_parse_result(pg);
    std::string expected =
        pg_tree(tree["stmts"][0]["stmt"]["SelectStmt"]["targetList"][0]["ResTarget"]["val"]);
    std::string actual;
    try {
      actual = our_tree(*parse_expression(expression));
    } catch (const std::exception& e) {
      actual = std::string("error: ") + e.what();
    }
    ++compared;
    if (actual != expected) {
      failures.push_back(
          fmt::format("{}\n  PostgreSQL: {}\n  Sluice:     {}", expression, expected, actual));
    }
  }
  for (const auto& f : failures) ADD_FAILURE() << f;
  // The generator stays within what PostgreSQL accepts, except for rare corner cases.
  EXPECT_GT(compared, 2500) << rejected_by_postgres << " rejected by PostgreSQL";
}

// Where the dialects differ, Flink's (Calcite's) precedence holds: `||` binds as tightly as `*`
// (PostgreSQL puts it below `+`, so the oracle's expressions leave it out).
TEST(ParserOracle, ConcatBindsLikeMultiplicationAsInCalcite) {
  EXPECT_EQ(our_tree(*parse_expression("a || b * c")), "(* (|| a b) c)");
  EXPECT_EQ(our_tree(*parse_expression("a * b || c")), "(|| (* a b) c)");
  EXPECT_EQ(our_tree(*parse_expression("a + b || c - d")), "(- (+ a (|| b c)) d)");
}

}  // namespace
}  // namespace sluice::sql
