// The catalog: the tables and views a SQL session knows by name, and the TableSource interface
// through which the batch executor reads a table. A TableSource describes its columns and opens
// scans that produce only the columns asked for (projection push-down); in-memory tables hold
// chunks (CREATE TABLE AS, INSERT INTO), file tables read CSV or JSON lines on every scan.
//
// Threading: a Catalog is owned by one session and used from its thread. A TableSource may be
// scanned by several scans at once (each scan is one thread's); MemoryTable::append must not
// run concurrently with a scan of the same table.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sluice/sql/types.h"
#include "sluice/sql/vector.h"

namespace sluice::sql {

struct QueryNode;

struct ColumnSchema {
  std::string name;
  LogicalType type;
  bool nullable = true;
};

// One scan of a table: fills chunks with the projected columns until the table is exhausted.
class TableScan {
 public:
  virtual ~TableScan() = default;
  // Fills `out` (initialized with the projected columns' types) with the next rows; false at the
  // end, with out.size() == 0.
  virtual bool next(DataChunk& out) = 0;
};

class TableSource {
 public:
  virtual ~TableSource() = default;
  virtual const std::vector<ColumnSchema>& columns() const = 0;
  // A scan producing `projection` (positions in columns()), in that order: part `part` of
  // `parts` disjoint parts that together hold every row (parallel scans; a source that cannot
  // split gives every row to part 0).
  virtual std::unique_ptr<TableScan> scan(const std::vector<size_t>& projection, size_t part = 0,
                                          size_t parts = 1) const = 0;
  // The number of rows, exact or estimated (the optimizer orders joins by it).
  virtual std::optional<uint64_t> row_count() const { return std::nullopt; }
  // The number of distinct non-NULL values of a column, if known (join size estimates).
  virtual std::optional<uint64_t> distinct_count(size_t) const { return std::nullopt; }
  // For EXPLAIN: "memory", "csv '/path'", ...
  virtual std::string describe() const = 0;
};

// Rows held in memory as chunks.
class MemoryTable : public TableSource {
 public:
  explicit MemoryTable(std::vector<ColumnSchema> columns);
  const std::vector<ColumnSchema>& columns() const override { return columns_; }
  std::unique_ptr<TableScan> scan(const std::vector<size_t>& projection, size_t part = 0,
                                  size_t parts = 1) const override;
  std::optional<uint64_t> row_count() const override { return rows_; }
  // Counted on first use and kept until the table changes.
  std::optional<uint64_t> distinct_count(size_t column) const override;
  std::string describe() const override { return "memory"; }

  // Appends the rows of `chunk`, whose columns have exactly this table's types.
  void append(const DataChunk& chunk);
  // Takes a full chunk of the table's types as it is (no copy) when the table's chunks so far are
  // full too; otherwise appends its rows. CREATE TABLE AS SELECT loads this way, so a table is
  // not held twice while it loads.
  void adopt(std::unique_ptr<DataChunk> chunk);
  void clear();

 private:
  std::vector<ColumnSchema> columns_;
  std::vector<std::unique_ptr<DataChunk>> chunks_;
  uint64_t rows_ = 0;
  mutable std::mutex statistics_mutex_;
  mutable std::map<size_t, uint64_t> distinct_counts_;
};

struct CatalogEntry {
  enum class Kind { kTable, kView };
  Kind kind = Kind::kTable;
  std::string name;
  std::shared_ptr<TableSource> table;  // kTable
  std::string view_sql;                // kView: the query text, bound at each use
  std::vector<std::string> view_columns;
  std::map<std::string, std::string> options;  // WITH (...) as written
};

class Catalog {
 public:
  // Names are case-sensitive, as Flink's identifiers.
  const CatalogEntry* find(const std::string& name) const;
  void add(CatalogEntry entry);  // replaces nothing: the caller checks for existence first
  bool remove(const std::string& name);
  std::vector<std::string> names() const;

 private:
  std::map<std::string, CatalogEntry> entries_;
};

}  // namespace sluice::sql
