#include "sluice/api/dataframe.h"

#include <fmt/format.h>

#include <atomic>
#include <iostream>
#include <map>

#include "sluice/core/error.h"

namespace sluice {

namespace {

std::string quote_identifier(const std::string& name) {
  std::string out = "`";
  for (char c : name) {
    out += c;
    if (c == '`') out += '`';
  }
  return out + "`";
}

std::string quote_string(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

Column binary(const Column& a, const char* op, const Column& b) {
  return Column::from_sql(fmt::format("({} {} {})", a.sql(), op, b.sql()));
}

std::string items(const std::vector<Column>& columns) {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) out += (i ? ", " : "") + columns[i].select_item();
  return out;
}

// Each nested query gets its own alias.
std::string next_alias() {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("df{}", counter.fetch_add(1));
}

}  // namespace

Column Column::from_sql(std::string sql, std::string alias) {
  Column c;
  c.sql_ = std::move(sql);
  c.alias_ = std::move(alias);
  return c;
}

Column::Column(int value) : sql_(std::to_string(value)) {}
Column::Column(int64_t value) : sql_(std::to_string(value)) {}
Column::Column(double value) : sql_(fmt::format("CAST({} AS DOUBLE)", value)) {}
Column::Column(const char* value) : sql_(quote_string(value)) {}

std::string Column::select_item() const {
  return alias_.empty() ? sql_ : fmt::format("{} AS {}", sql_, quote_identifier(alias_));
}

Column Column::as(const std::string& alias) const { return from_sql(sql_, alias); }
Column Column::cast(const std::string& type) const {
  return from_sql(fmt::format("CAST({} AS {})", sql_, type));
}
Column Column::is_null() const { return from_sql(fmt::format("({} IS NULL)", sql_)); }
Column Column::is_not_null() const { return from_sql(fmt::format("({} IS NOT NULL)", sql_)); }
Column Column::like(const std::string& pattern) const {
  return from_sql(fmt::format("({} LIKE {})", sql_, quote_string(pattern)));
}
Column Column::between(const Column& low, const Column& high) const {
  return from_sql(fmt::format("({} BETWEEN {} AND {})", sql_, low.sql(), high.sql()));
}
Column Column::isin(const std::vector<Column>& values) const {
  std::string list;
  for (size_t i = 0; i < values.size(); ++i) list += (i ? ", " : "") + values[i].sql();
  return from_sql(fmt::format("({} IN ({}))", sql_, list));
}

Column operator+(const Column& a, const Column& b) { return binary(a, "+", b); }
Column operator-(const Column& a, const Column& b) { return binary(a, "-", b); }
Column operator*(const Column& a, const Column& b) { return binary(a, "*", b); }
Column operator/(const Column& a, const Column& b) { return binary(a, "/", b); }
Column operator%(const Column& a, const Column& b) { return binary(a, "%", b); }
Column operator==(const Column& a, const Column& b) { return binary(a, "=", b); }
Column operator!=(const Column& a, const Column& b) { return binary(a, "<>", b); }
Column operator<(const Column& a, const Column& b) { return binary(a, "<", b); }
Column operator<=(const Column& a, const Column& b) { return binary(a, "<=", b); }
Column operator>(const Column& a, const Column& b) { return binary(a, ">", b); }
Column operator>=(const Column& a, const Column& b) { return binary(a, ">=", b); }
Column operator&&(const Column& a, const Column& b) { return binary(a, "AND", b); }
Column operator||(const Column& a, const Column& b) { return binary(a, "OR", b); }
Column operator!(const Column& a) { return Column::from_sql(fmt::format("(NOT {})", a.sql())); }

Column col(const std::string& name) { return Column::from_sql(quote_identifier(name), {}); }
Column lit(const std::string& value) { return Column::from_sql(quote_string(value)); }
Column expr(const std::string& sql) { return Column::from_sql(fmt::format("({})", sql)); }
Column call(const std::string& function, const std::vector<Column>& arguments) {
  std::string list;
  for (size_t i = 0; i < arguments.size(); ++i) list += (i ? ", " : "") + arguments[i].sql();
  return Column::from_sql(fmt::format("{}({})", function, list));
}
Column sum(const Column& c) { return call("SUM", {c}); }
Column avg(const Column& c) { return call("AVG", {c}); }
Column min(const Column& c) { return call("MIN", {c}); }
Column max(const Column& c) { return call("MAX", {c}); }
Column count(const Column& c) { return call("COUNT", {c}); }
Column count_star() { return Column::from_sql("COUNT(*)"); }
Column count_distinct(const Column& c) {
  return Column::from_sql(fmt::format("COUNT(DISTINCT {})", c.sql()));
}

SortOrder asc(const Column& c) { return {c, false}; }
SortOrder desc(const Column& c) { return {c, true}; }

DataFrame DataFrame::table(sql::Session& session, const std::string& name) {
  return DataFrame(&session, fmt::format("SELECT * FROM {}", quote_identifier(name)));
}

DataFrame DataFrame::sql(sql::Session& session, const std::string& query) {
  return DataFrame(&session, query);
}

std::string DataFrame::from() const { return fmt::format("({}) AS {}", sql_, next_alias()); }

DataFrame DataFrame::filter(const Column& condition) const {
  return derive(fmt::format("SELECT * FROM {} WHERE {}", from(), condition.sql()));
}

DataFrame DataFrame::select(const std::vector<Column>& columns) const {
  return derive(fmt::format("SELECT {} FROM {}", items(columns), from()));
}

DataFrame DataFrame::with_column(const std::string& name, const Column& value) const {
  return derive(
      fmt::format("SELECT *, {} AS {} FROM {}", value.sql(), quote_identifier(name), from()));
}

GroupedData DataFrame::group_by(const std::vector<std::string>& columns) const {
  return GroupedData(*this, columns);
}

DataFrame DataFrame::agg(const std::vector<Column>& aggregates) const {
  return derive(fmt::format("SELECT {} FROM {}", items(aggregates), from()));
}

DataFrame GroupedData::agg(const std::vector<Column>& aggregates) const {
  std::string keys;
  for (size_t i = 0; i < keys_.size(); ++i) keys += (i ? ", " : "") + quote_identifier(keys_[i]);
  std::string select = keys;
  if (!aggregates.empty()) select += (keys.empty() ? "" : ", ") + items(aggregates);
  return source_.derive(fmt::format("SELECT {} FROM {} GROUP BY {}", select, source_.from(), keys));
}

DataFrame DataFrame::join(const DataFrame& other, const Column& on, const std::string& kind) const {
  static const std::map<std::string, std::string> kKinds = {
      {"inner", "JOIN"},     {"left", "LEFT JOIN"},      {"right", "RIGHT JOIN"},
      {"full", "FULL JOIN"}, {"semi", "LEFT SEMI JOIN"}, {"anti", "LEFT ANTI JOIN"}};
  auto it = kKinds.find(kind);
  if (it == kKinds.end()) {
    throw Error(
        ErrorCategory::kInvalidArgument,
        fmt::format("join kind '{}' is not one of inner, left, right, full, semi, anti", kind));
  }
  return derive(
      fmt::format("SELECT * FROM {} {} {} ON {}", from(), it->second, other.from(), on.sql()));
}

DataFrame DataFrame::order_by(const std::vector<SortOrder>& keys) const {
  std::string list;
  for (size_t i = 0; i < keys.size(); ++i) {
    list += fmt::format("{}{} {}", i ? ", " : "", keys[i].column.sql(),
                        keys[i].descending ? "DESC" : "ASC");
  }
  return derive(fmt::format("SELECT * FROM {} ORDER BY {}", from(), list));
}

DataFrame DataFrame::limit(uint64_t n) const {
  return derive(fmt::format("SELECT * FROM {} LIMIT {}", from(), n));
}

DataFrame DataFrame::distinct() const {
  return derive(fmt::format("SELECT DISTINCT * FROM {}", from()));
}

DataFrame DataFrame::union_all(const DataFrame& other) const {
  return derive(fmt::format("SELECT * FROM {} UNION ALL SELECT * FROM {}", from(), other.from()));
}

std::string DataFrame::explain() const { return session_->explain(sql_); }

sql::QueryResult DataFrame::collect() const { return session_->execute(sql_); }

void DataFrame::show(size_t rows) const { show(std::cout, rows); }

void DataFrame::show(std::ostream& out, size_t rows) const { out << collect().to_table(rows); }

void DataFrame::write_table(const std::string& name) const {
  session_->execute(fmt::format("CREATE TABLE {} AS {}", quote_identifier(name), sql_));
}

void DataFrame::insert_into(const std::string& name) const {
  session_->execute(fmt::format("INSERT INTO {} {}", quote_identifier(name), sql_));
}

}  // namespace sluice
