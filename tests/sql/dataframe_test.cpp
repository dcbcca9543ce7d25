// The DataFrame API plans through the same binder and executor as SQL: each DataFrame program
// here is checked against the SQL that says the same thing.
#include "sluice/api/dataframe.h"

#include "sluice/core/error.h"

#include <gtest/gtest.h>

#include <sstream>

namespace sluice {
namespace {

class DataFrameTest : public ::testing::Test {
 protected:
  void SetUp() override {
    session_.execute(
        "CREATE TABLE orders (o_orderkey BIGINT, o_custkey INT, o_totalprice DECIMAL(15, 2), "
        "o_status STRING)");
    session_.execute(
        "INSERT INTO orders VALUES (1, 10, 500.00, 'O'), (2, 10, 1500.50, 'F'), (3, 20, 2500.00, "
        "'O'), (4, 30, 999.99, 'F'), (5, 20, 3000.25, 'F'), (6, NULL, 1200.00, 'O')");
    session_.execute("CREATE TABLE customer (c_custkey INT, c_name STRING)");
    session_.execute("INSERT INTO customer VALUES (10, 'ann'), (20, 'bob'), (40, 'cat')");
  }

  std::vector<std::vector<std::string>> rows(const DataFrame& df) {
    return df.collect().rendered_rows();
  }
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    return session_.execute(sql).rendered_rows();
  }

  sql::Session session_;
};

TEST_F(DataFrameTest, FilterGroupAggregateOrderMatchesSql) {
  DataFrame df = DataFrame::table(session_, "orders")
                     .filter(col("o_totalprice") > 1000)
                     .group_by({"o_custkey"})
                     .agg({sum(col("o_totalprice")).as("total"), count_star().as("n")})
                     .order_by({desc(col("total"))});
  EXPECT_EQ(rows(df),
            rows("SELECT o_custkey, SUM(o_totalprice) AS total, COUNT(*) AS n FROM orders "
                 "WHERE o_totalprice > 1000 GROUP BY o_custkey ORDER BY total DESC"));
  EXPECT_EQ(rows(df).size(), 3u);
  EXPECT_EQ(rows(df)[0][1], "5500.25");
}

TEST_F(DataFrameTest, JoinSelectLimit) {
  DataFrame orders = DataFrame::table(session_, "orders");
  DataFrame customers = DataFrame::table(session_, "customer");
  DataFrame df = orders.join(customers, col("o_custkey") == col("c_custkey"))
                     .select({col("c_name"), (col("o_totalprice") * 2).as("doubled")})
                     .order_by({asc(col("doubled"))})
                     .limit(2);
  EXPECT_EQ(rows(df),
            rows("SELECT c_name, o_totalprice * 2 AS doubled FROM orders JOIN customer ON "
                 "o_custkey = c_custkey ORDER BY doubled LIMIT 2"));
}

TEST_F(DataFrameTest, AntiJoinAndWithColumn) {
  DataFrame df =
      DataFrame::table(session_, "customer")
          .join(DataFrame::table(session_, "orders"), col("c_custkey") == col("o_custkey"), "anti")
          .with_column("upper_name", call("UPPER", {col("c_name")}));
  EXPECT_EQ(rows(df), (std::vector<std::vector<std::string>>{{"40", "cat", "CAT"}}));
}

TEST_F(DataFrameTest, ExplainShowsTheSamePlanKinds) {
  DataFrame df = DataFrame::table(session_, "orders").group_by({"o_status"}).agg({count_star()});
  std::string plan = df.explain();
  EXPECT_NE(plan.find("HashAggregate"), std::string::npos) << plan;
  EXPECT_NE(plan.find("TableScan orders"), std::string::npos) << plan;
}

TEST_F(DataFrameTest, ShowAndWrite) {
  DataFrame df = DataFrame::table(session_, "orders")
                     .filter(col("o_status") == "F")
                     .select({col("o_orderkey")});
  std::ostringstream out;
  df.show(out, 2);
  EXPECT_NE(out.str().find("o_orderkey"), std::string::npos);
  EXPECT_NE(out.str().find("3 rows (2 shown)"), std::string::npos) << out.str();
  df.write_table("finished");
  EXPECT_EQ(rows("SELECT COUNT(*) FROM finished"), (std::vector<std::vector<std::string>>{{"3"}}));
  df.insert_into("finished");
  EXPECT_EQ(rows("SELECT COUNT(*) FROM finished"), (std::vector<std::vector<std::string>>{{"6"}}));
}

TEST_F(DataFrameTest, BadColumnFailsWithTheSqlMessage) {
  DataFrame df = DataFrame::table(session_, "orders").filter(col("o_totalprise") > 1);
  try {
    df.collect();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "column 'o_totalprise' not found (did you mean 'o_totalprice'?)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sluice
