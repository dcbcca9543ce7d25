// TPC-H queries 1, 3, 5, 6 and 10 written as DataFrame programs: each must give exactly the rows
// of its SQL text (bench/tpch/queries, whose answers tpch-check compares with DuckDB's) on the same
// generated data (scale factor 0.01, read from the .tbl files).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sluice/api/dataframe.h"
#include "sluice/connectors/filesystem_table.h"
#include "tpch/tpch_generator.h"

namespace sluice {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class DataFrameTpch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                      fmt::format("sluice-dataframe-tpch-{}", ::getpid()));
    tpch::generate_tpch(0.01, *data_, 2);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*data_);
    delete data_;
  }

  void SetUp() override {
    connectors::register_filesystem_connector(session_);
    std::string schema = read_file(std::filesystem::path(SLUICE_TPCH_DIR) / "schema.sql");
    for (const char* table :
         {"region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem"}) {
      session_.execute(tpch::tbl_table_sql(schema, table, table, *data_));
    }
  }

  // The rows of query `q`'s SQL text.
  std::vector<std::vector<std::string>> sql_rows(int q) {
    std::string sql = read_file(std::filesystem::path(SLUICE_TPCH_DIR) / "queries" /
                                fmt::format("q{:02}.sql", q));
    return session_.execute(sql).rendered_rows();
  }

  DataFrame table(const std::string& name) { return DataFrame::table(session_, name); }

  static Column date(const std::string& iso) { return expr(fmt::format("DATE '{}'", iso)); }
  static Column revenue() { return col("l_extendedprice") * (1 - col("l_discount")); }

  static std::filesystem::path* data_;
  sql::Session session_;
};

std::filesystem::path* DataFrameTpch::data_ = nullptr;

TEST_F(DataFrameTpch, Q1PricingSummary) {
  DataFrame q1 =
      table("lineitem")
          .filter(col("l_shipdate") <= expr("DATE '1998-12-01' - INTERVAL '90' DAY"))
          .group_by({"l_returnflag", "l_linestatus"})
          .agg({sum(col("l_quantity")).as("sum_qty"),
                sum(col("l_extendedprice")).as("sum_base_price"),
                sum(revenue()).as("sum_disc_price"),
                sum(revenue() * (1 + col("l_tax"))).as("sum_charge"),
                avg(col("l_quantity")).as("avg_qty"), avg(col("l_extendedprice")).as("avg_price"),
                avg(col("l_discount")).as("avg_disc"), count_star().as("count_order")})
          .order_by({asc(col("l_returnflag")), asc(col("l_linestatus"))});
  auto expected = sql_rows(1);
  EXPECT_EQ(expected.size(), 4u);
  EXPECT_EQ(q1.collect().rendered_rows(), expected);
}

TEST_F(DataFrameTpch, Q3ShippingPriority) {
  DataFrame q3 =
      table("customer")
          .filter(col("c_mktsegment") == "BUILDING")
          .join(table("orders").filter(col("o_orderdate") < date("1995-03-15")),
                col("c_custkey") == col("o_custkey"))
          .join(table("lineitem").filter(col("l_shipdate") > date("1995-03-15")),
                col("l_orderkey") == col("o_orderkey"))
          .group_by({"l_orderkey", "o_orderdate", "o_shippriority"})
          .agg({sum(revenue()).as("revenue")})
          .select({col("l_orderkey"), col("revenue"), col("o_orderdate"), col("o_shippriority")})
          .order_by({desc(col("revenue")), asc(col("o_orderdate"))})
          .limit(10);
  auto expected = sql_rows(3);
  EXPECT_EQ(expected.size(), 10u);
  EXPECT_EQ(q3.collect().rendered_rows(), expected);
}

TEST_F(DataFrameTpch, Q5LocalSupplierVolume) {
  DataFrame asia = table("nation").join(table("region").filter(col("r_name") == "ASIA"),
                                        col("n_regionkey") == col("r_regionkey"));
  DataFrame q5 = table("customer")
                     .join(table("orders").filter(col("o_orderdate") >= date("1994-01-01") &&
                                                  col("o_orderdate") < date("1995-01-01")),
                           col("c_custkey") == col("o_custkey"))
                     .join(table("lineitem"), col("l_orderkey") == col("o_orderkey"))
                     .join(table("supplier"), col("l_suppkey") == col("s_suppkey") &&
                                                  col("c_nationkey") == col("s_nationkey"))
                     .join(asia, col("s_nationkey") == col("n_nationkey"))
                     .group_by({"n_name"})
                     .agg({sum(revenue()).as("revenue")})
                     .order_by({desc(col("revenue"))});
  auto expected = sql_rows(5);
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(q5.collect().rendered_rows(), expected);
}

TEST_F(DataFrameTpch, Q6ForecastingRevenueChange) {
  DataFrame q6 =
      table("lineitem")
          .filter(col("l_shipdate") >= date("1994-01-01") &&
                  col("l_shipdate") < date("1995-01-01") &&
                  col("l_discount").between(expr("0.05"), expr("0.07")) && col("l_quantity") < 24)
          .agg({sum(col("l_extendedprice") * col("l_discount")).as("revenue")});
  auto expected = sql_rows(6);
  ASSERT_EQ(expected.size(), 1u);
  EXPECT_NE(expected[0][0], "NULL");
  EXPECT_EQ(q6.collect().rendered_rows(), expected);
}

TEST_F(DataFrameTpch, Q10ReturnedItems) {
  DataFrame q10 = table("customer")
                      .join(table("orders").filter(col("o_orderdate") >= date("1993-10-01") &&
                                                   col("o_orderdate") < date("1994-01-01")),
                            col("c_custkey") == col("o_custkey"))
                      .join(table("lineitem").filter(col("l_returnflag") == "R"),
                            col("l_orderkey") == col("o_orderkey"))
                      .join(table("nation"), col("c_nationkey") == col("n_nationkey"))
                      .group_by({"c_custkey", "c_name", "c_acctbal", "c_phone", "n_name",
                                 "c_address", "c_comment"})
                      .agg({sum(revenue()).as("revenue")})
                      .select({col("c_custkey"), col("c_name"), col("revenue"), col("c_acctbal"),
                               col("n_name"), col("c_address"), col("c_phone"), col("c_comment")})
                      .order_by({desc(col("revenue"))})
                      .limit(20);
  auto expected = sql_rows(10);
  EXPECT_EQ(expected.size(), 20u);
  EXPECT_EQ(q10.collect().rendered_rows(), expected);
}

}  // namespace
}  // namespace sluice
