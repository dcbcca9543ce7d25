// JSON-lines decoding into the SQL engine's column vectors: one JSON object per line, fields
// matched to columns by name (Flink's 'json' format), a missing field or a JSON null is SQL NULL,
// numbers go into numeric columns exactly (decimals from their text), strings into string, date
// and timestamp columns. A line that is not an object, or a value that does not fit its column,
// fails with the file, line and column name, unless parse errors are ignored (then the field is
// NULL). Parsing uses simdjson's on-demand parser.
//
// Threading: a reader is one thread's; several readers may read the same file.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "sluice/sql/catalog.h"

namespace sluice::formats {

struct JsonLinesOptions {
  bool ignore_parse_errors = false;    // 'json.ignore-parse-errors'
  bool fail_on_missing_field = false;  // 'json.fail-on-missing-field'
};

// A table over a JSON-lines file (or every file of a directory, in name order).
class JsonLinesTable : public sql::TableSource {
 public:
  JsonLinesTable(std::filesystem::path path, std::vector<sql::ColumnSchema> columns,
                 JsonLinesOptions options);
  const std::vector<sql::ColumnSchema>& columns() const override { return columns_; }
  // Files are dealt round-robin to the parts.
  std::unique_ptr<sql::TableScan> scan(const std::vector<size_t>& projection, size_t part = 0,
                                       size_t parts = 1) const override;
  std::optional<uint64_t> row_count() const override;  // estimated from the files' size
  std::string describe() const override;

 private:
  std::filesystem::path path_;
  std::vector<sql::ColumnSchema> columns_;
  JsonLinesOptions options_;
};

}  // namespace sluice::formats
