// A SQL session: the entry point for running SQL in-process. It owns a catalog (tables and
// views), the function registry (built-ins plus the program's UDFs), and the connectors that
// CREATE TABLE ... WITH ('connector' = ...) can use. execute() parses, binds, optimizes and runs
// each statement on the batch executor and returns the last statement's result.
//
// Threading: a Session is used from one thread at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/sql/catalog.h"
#include "sluice/sql/functions.h"
#include "sluice/sql/value.h"
#include "sluice/sql/vector.h"

namespace sluice::sql {

struct Statement;
struct ExecutionOptions;

// What a statement returned: rows for a query (and for SHOW, DESCRIBE, EXPLAIN), a message
// for other statements.
class QueryResult {
 public:
  std::vector<std::string> column_names;
  std::vector<LogicalType> column_types;
  std::vector<std::unique_ptr<DataChunk>> chunks;
  std::string message;  // "OK", "3 rows inserted", ...
  bool has_rows = false;
  // A query's use of managed memory ('taskmanager.memory.managed.size'): the most its blocking
  // operators held at once, and what they wrote to spill files.
  size_t peak_managed_bytes = 0;
  size_t spilled_bytes = 0;

  size_t row_count() const;
  Value value(size_t row, size_t column) const;
  // Rows as printed by tests and the CLI (Value::to_string for every value).
  std::vector<std::vector<std::string>> rendered_rows() const;
  // An aligned text table with a header, as the CLI prints it.
  std::string to_table(size_t max_rows = SIZE_MAX) const;
};

// Creates the table of a CREATE TABLE ... WITH ('connector' = <name>, ...).
using TableFactory = std::function<std::shared_ptr<TableSource>(
    const std::string& table, const std::vector<ColumnSchema>& columns,
    const std::map<std::string, std::string>& options)>;

class Session {
 public:
  Session();
  ~Session();

  // Runs every statement of `sql`; returns the result of the last one. Throws SqlError (bad
  // SQL) or Error (a failure while running) naming what and where; a failed statement leaves
  // the catalog as it was before it.
  QueryResult execute(std::string_view sql);
  // The logical and the physical plan of a query, as EXPLAIN prints them.
  std::string explain(std::string_view query);

  void register_table_factory(const std::string& connector, TableFactory factory);
  void register_table(const std::string& name, std::shared_ptr<TableSource> table);
  FunctionRegistry& functions() { return functions_; }
  const Catalog& catalog() const { return catalog_; }
  // SET 'key' = 'value' options: 'parallelism.default' (threads per query, all cores unless set),
  // 'taskmanager.memory.managed.size' (memory of the blocking operators, past which they spill;
  // 40% of the machine's by default) and 'io.tmp.dirs' (where they spill; ',' or ':' separated).
  const std::map<std::string, std::string>& options() const { return options_; }

 private:
  QueryResult run(const Statement& statement);
  QueryResult run_query(const Statement& statement);
  QueryResult create_table(const Statement& statement);
  QueryResult insert(const Statement& statement);
  // The options above, checked.
  ExecutionOptions execution_options() const;

  Catalog catalog_;
  FunctionRegistry functions_;
  std::map<std::string, TableFactory> factories_;
  std::map<std::string, std::string> options_;
};

}  // namespace sluice::sql
