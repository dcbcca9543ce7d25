// Vectors that borrow another vector's rows (in-memory table scans lend their chunks): reads see
// the source, the first write copies the rows in and leaves the source unchanged, reset() ends
// the borrow, and a query's result owns its rows after the table it came from is gone.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sluice/sql/catalog.h"
#include "sluice/sql/session.h"
#include "sluice/sql/vector.h"

namespace sluice::sql {
namespace {

TEST(BorrowedVectors, ReadTheSourceAndCopyOnTheFirstWrite) {
  Vector source(LogicalType::bigint());
  for (int64_t i = 0; i < 10; ++i) source.data<int64_t>()[i] = i * 10;
  source.set_null(3);
  Vector view(LogicalType::bigint());
  view.borrow(source);
  EXPECT_TRUE(view.borrowed());
  EXPECT_EQ(static_cast<const Vector&>(view).data<int64_t>(),
            static_cast<const Vector&>(source).data<int64_t>());
  EXPECT_FALSE(view.is_valid(3));
  EXPECT_TRUE(view.is_valid(4));
  // A write: the view gets its own copy; the source keeps its rows and NULLs.
  view.data<int64_t>()[5] = -1;
  view.set_valid(3);
  EXPECT_FALSE(view.borrowed());
  EXPECT_EQ(view.data<int64_t>()[5], -1);
  EXPECT_EQ(view.data<int64_t>()[6], 60);
  EXPECT_TRUE(view.is_valid(3));
  EXPECT_EQ(source.data<int64_t>()[5], 50);
  EXPECT_FALSE(source.is_valid(3));
}

TEST(BorrowedVectors, ResetEndsTheBorrowAndChunksCanOwnTheirRows) {
  DataChunk table({LogicalType::integer(), LogicalType::varchar()});
  for (int i = 0; i < 4; ++i) {
    table.column(0).data<int32_t>()[i] = i;
    table.column(1).add_string(static_cast<size_t>(i),
                               "a string longer than twelve " + std::to_string(i));
  }
  table.set_size(4);
  DataChunk scan({LogicalType::integer(), LogicalType::varchar()});
  scan.column(0).borrow(table.column(0));
  scan.column(1).borrow(table.column(1));
  scan.set_size(4);
  scan.own();
  EXPECT_FALSE(scan.column(0).borrowed());
  table.column(0).data<int32_t>()[2] = 99;
  EXPECT_EQ(scan.column(0).data<int32_t>()[2], 2);
  // The strings' bytes stay alive with the chunk that owns the rows.
  EXPECT_EQ(scan.column(1).data<StringRef>()[3].view(), "a string longer than twelve 3");
  scan.column(0).borrow(table.column(0));
  scan.reset();
  EXPECT_FALSE(scan.column(0).borrowed());
}

TEST(BorrowedVectors, AResultOutlivesItsTable) {
  for (int parallelism : {1, 3}) {
    Session session;
    session.execute("SET 'parallelism.default' = '" + std::to_string(parallelism) + "'");
    session.execute("CREATE TABLE t (k INT, s STRING)");
    session.execute(
        "INSERT INTO t VALUES (1, 'first row with a long string'), (2, NULL), (3, 'third')");
    QueryResult all = session.execute("SELECT k, s FROM t WHERE k <> 2 ORDER BY k");
    QueryResult raw = session.execute("SELECT * FROM t");
    session.execute("INSERT INTO t VALUES (4, 'four')");
    session.execute("DROP TABLE t");
    // Reuse the freed memory, so that rows still pointing into it would read garbage.
    session.execute("CREATE TABLE u (k INT, s STRING)");
    session.execute(
        "INSERT INTO u VALUES (7, 'overwritten overwritten'), (8, 'overwritten overwritten'), "
        "(9, 'overwritten overwritten')");
    auto rows = all.rendered_rows();
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0][1], "first row with a long string");
    EXPECT_EQ(rows[1][0], "3");
    auto raw_rows = raw.rendered_rows();
    ASSERT_EQ(raw_rows.size(), 3u);
    std::multiset<std::string> keys;
    for (const auto& row : raw_rows) keys.insert(row[0] + "|" + row[1]);
    EXPECT_EQ(keys,
              (std::multiset<std::string>{"1|first row with a long string", "2|NULL", "3|third"}));
  }
}

TEST(MemoryTables, AdoptTakesFullChunksAsTheyAreAndCopiesTheRest) {
  MemoryTable table({{"k", LogicalType::integer(), true}});
  auto full = std::make_unique<DataChunk>(std::vector<LogicalType>{LogicalType::integer()});
  for (size_t i = 0; i < kBatchSize; ++i) full->column(0).data<int32_t>()[i] = static_cast<int>(i);
  full->set_size(kBatchSize);
  const int32_t* rows = static_cast<const Vector&>(full->column(0)).data<int32_t>();
  table.adopt(std::move(full));
  auto partial = std::make_unique<DataChunk>(std::vector<LogicalType>{LogicalType::integer()});
  partial->column(0).data<int32_t>()[0] = -7;
  partial->column(0).set_null(1);
  partial->set_size(2);
  table.adopt(std::move(partial));
  EXPECT_EQ(table.row_count(), kBatchSize + 2);
  // The full chunk is the table's first chunk, not a copy of it.
  auto scan = table.scan({0}, 0, 1);
  DataChunk out(std::vector<LogicalType>{LogicalType::integer()});
  ASSERT_TRUE(scan->next(out));
  EXPECT_EQ(static_cast<const Vector&>(out.column(0)).data<int32_t>(), rows);
  ASSERT_TRUE(scan->next(out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out.column(0).data<int32_t>()[0], -7);
  EXPECT_FALSE(out.column(0).is_valid(1));
  EXPECT_FALSE(scan->next(out));
}

}  // namespace
}  // namespace sluice::sql
