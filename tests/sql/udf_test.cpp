// C++ UDFs registered by name: a scalar kernel over batches and an aggregate with partial states
// merged across parallel instances.
#include <gtest/gtest.h>

#include <cmath>
#include <new>

#include "sluice/core/error.h"
#include "sluice/sql/session.h"

namespace sluice::sql {
namespace {

void twice(const BoundExpr&, Vector* const* args, size_t count, Vector& result) {
  const Vector& in = *args[0];
  for (size_t i = 0; i < count; ++i) {
    result.data<int64_t>()[i] = 2 * in.data<int64_t>()[in.is_constant() ? 0 : i];
  }
}

struct ProductState {
  double product;
  bool seen;
};

AggregateFunction product_function() {
  AggregateFunction f;
  f.state_size = sizeof(ProductState);
  f.initialize = [](uint8_t* s) { new (s) ProductState{1.0, false}; };
  f.update = [](const AggregateFunction&, uint8_t* const* states, const Vector* input,
                size_t count) {
    for (size_t i = 0; i < count; ++i) {
      size_t row = input->is_constant() ? 0 : i;
      if (!input->is_valid(row)) continue;
      auto* st = reinterpret_cast<ProductState*>(states[i]);
      st->product *= input->data<double>()[row];
      st->seen = true;
    }
  };
  f.combine = [](uint8_t* target, const uint8_t* source) {
    auto* t = reinterpret_cast<ProductState*>(target);
    const auto* s = reinterpret_cast<const ProductState*>(source);
    if (!s->seen) return;
    t->product *= s->product;
    t->seen = true;
  };
  f.finalize = [](const AggregateFunction&, uint8_t* const* states, size_t count, Vector& result) {
    for (size_t i = 0; i < count; ++i) {
      const auto* st = reinterpret_cast<const ProductState*>(states[i]);
      if (st->seen) {
        result.data<double>()[i] = st->product;
      } else {
        result.set_null(i);
      }
    }
  };
  return f;
}

class UdfTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    session_.execute("SET 'parallelism.default' = '" + std::to_string(GetParam()) + "'");
    session_.functions().add_scalar_udf("twice", {LogicalType::bigint()}, LogicalType::bigint(),
                                        &twice);
    session_.functions().add_aggregate_udf("product", LogicalType::double_type(),
                                           LogicalType::double_type(), product_function());
    session_.execute("CREATE TABLE t (g INT, x INT)");
    std::string values;
    for (int i = 1; i <= 5000; ++i) {
      values += (i > 1 ? ", " : "") + std::string("(") + std::to_string(i % 3) + ", " +
                (i % 7 == 0 ? std::string("NULL") : std::to_string(i % 4 == 0 ? 1 : -1)) + ")";
    }
    session_.execute("INSERT INTO t VALUES " + values);
  }

  Session session_;
};

TEST_P(UdfTest, ScalarUdfRunsOverBatchesWithNullsPropagated) {
  auto rows =
      session_.execute("SELECT SUM(twice(x)), COUNT(twice(x)), twice(21) FROM t").rendered_rows();
  auto expected =
      session_.execute("SELECT SUM(2 * CAST(x AS BIGINT)), COUNT(x), 42 FROM t").rendered_rows();
  EXPECT_EQ(rows, expected);
}

TEST_P(UdfTest, AggregateUdfMergesPartialStates) {
  // The product of +-1 values is the parity of the count of -1s.
  auto rows = session_
                  .execute(
                      "SELECT g, product(x), SUM(CASE WHEN x = -1 THEN 1 ELSE 0 END) FROM t "
                      "GROUP BY g ORDER BY g")
                  .rendered_rows();
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    int negatives = std::stoi(row[2]);
    EXPECT_EQ(row[1], negatives % 2 == 0 ? "1" : "-1") << "group " << row[0];
  }
  EXPECT_EQ(session_.execute("SELECT product(x) FROM t WHERE x IS NULL").rendered_rows()[0][0],
            "NULL");
}

TEST_P(UdfTest, UnknownNamesStillSuggest) {
  try {
    session_.execute("SELECT twise(x) FROM t");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("function 'twise' not found (did you mean TWICE?)"),
              std::string::npos)
        << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Parallelism, UdfTest, ::testing::Values(1, 3));

}  // namespace
}  // namespace sluice::sql
