// The DataFrame API: batch queries built in C++ instead of written as SQL, over the same binder,
// optimizer and vectorized executor (a DataFrame is planned lazily, when explained, collected or
// written). Spark's and Flink's Table API shape:
//
//   auto orders = session.table("orders");   // or DataFrame::table(session, "orders")
//   orders.filter(col("o_totalprice") > 1000)
//         .group_by({"o_custkey"})
//         .agg({sum(col("o_totalprice")).as("total")})
//         .order_by({desc(col("total"))})
//         .limit(10)
//         .show();
//
// Threading: DataFrames are immutable values; collecting one uses its Session, which is used from
// one thread at a time.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>
#include <vector>

#include "sluice/sql/session.h"

namespace sluice {

// A column expression.
class Column {
 public:
  // The expression as SQL (identifiers back-quoted), with its alias if it has one.
  const std::string& sql() const { return sql_; }
  const std::string& alias() const { return alias_; }
  std::string select_item() const;

  Column as(const std::string& alias) const;
  Column cast(const std::string& type) const;  // CAST(x AS type), type in SQL
  Column is_null() const;
  Column is_not_null() const;
  Column like(const std::string& pattern) const;
  Column between(const Column& low, const Column& high) const;
  Column isin(const std::vector<Column>& values) const;

  friend Column operator+(const Column& a, const Column& b);
  friend Column operator-(const Column& a, const Column& b);
  friend Column operator*(const Column& a, const Column& b);
  friend Column operator/(const Column& a, const Column& b);
  friend Column operator%(const Column& a, const Column& b);
  friend Column operator==(const Column& a, const Column& b);
  friend Column operator!=(const Column& a, const Column& b);
  friend Column operator<(const Column& a, const Column& b);
  friend Column operator<=(const Column& a, const Column& b);
  friend Column operator>(const Column& a, const Column& b);
  friend Column operator>=(const Column& a, const Column& b);
  friend Column operator&&(const Column& a, const Column& b);
  friend Column operator||(const Column& a, const Column& b);
  friend Column operator!(const Column& a);

  // Implicit from literals, so that `col("x") > 1000` reads naturally.
  Column(int value);          // NOLINT(google-explicit-constructor)
  Column(int64_t value);      // NOLINT(google-explicit-constructor)
  Column(double value);       // NOLINT(google-explicit-constructor)
  Column(const char* value);  // a string literal  NOLINT(google-explicit-constructor)

  static Column from_sql(std::string sql, std::string alias = {});

 private:
  Column() = default;
  std::string sql_;
  std::string alias_;
};

Column col(const std::string& name);
Column lit(const std::string& value);
Column expr(const std::string& sql);  // any SQL expression
Column sum(const Column& c);
Column avg(const Column& c);
Column min(const Column& c);
Column max(const Column& c);
Column count(const Column& c);
Column count_star();
Column count_distinct(const Column& c);
Column call(const std::string& function, const std::vector<Column>& arguments);

// An ORDER BY key.
struct SortOrder {
  Column column;
  bool descending = false;
};
SortOrder asc(const Column& c);
SortOrder desc(const Column& c);

class GroupedData;

class DataFrame {
 public:
  static DataFrame table(sql::Session& session, const std::string& name);
  static DataFrame sql(sql::Session& session, const std::string& query);

  DataFrame filter(const Column& condition) const;
  DataFrame where(const Column& condition) const { return filter(condition); }
  DataFrame select(const std::vector<Column>& columns) const;
  DataFrame with_column(const std::string& name, const Column& value) const;
  GroupedData group_by(const std::vector<std::string>& columns) const;
  DataFrame agg(const std::vector<Column>& aggregates) const;  // over all rows
  // kind: "inner", "left", "right", "full", "semi", "anti".
  DataFrame join(const DataFrame& other, const Column& on, const std::string& kind = "inner") const;
  DataFrame order_by(const std::vector<SortOrder>& keys) const;
  DataFrame limit(uint64_t n) const;
  DataFrame distinct() const;
  DataFrame union_all(const DataFrame& other) const;

  // The query this DataFrame stands for.
  const std::string& to_sql() const { return sql_; }
  std::string explain() const;
  sql::QueryResult collect() const;
  // Prints the first `rows` rows as an aligned table.
  void show(size_t rows = 20) const;
  void show(std::ostream& out, size_t rows = 20) const;
  // CREATE TABLE name AS the query / INSERT INTO name the query.
  void write_table(const std::string& name) const;
  void insert_into(const std::string& name) const;

 private:
  DataFrame(sql::Session* session, std::string sql) : session_(session), sql_(std::move(sql)) {}
  DataFrame derive(const std::string& sql) const { return DataFrame(session_, sql); }
  std::string from() const;  // this query as a FROM item

  friend class GroupedData;
  sql::Session* session_;
  std::string sql_;
};

class GroupedData {
 public:
  DataFrame agg(const std::vector<Column>& aggregates) const;

 private:
  friend class DataFrame;
  GroupedData(DataFrame source, std::vector<std::string> keys)
      : source_(std::move(source)), keys_(std::move(keys)) {}
  DataFrame source_;
  std::vector<std::string> keys_;
};

}  // namespace sluice
