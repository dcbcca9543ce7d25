// CSV decoding into the SQL engine's column vectors: RFC 4180 quoting (a quote doubled inside a
// quoted field), a configurable delimiter and quote, an optional header line to skip, a null
// literal, and an optional trailing delimiter at the end of each line (TPC-H's .tbl files end
// every line with '|'). Fields convert straight into typed vectors; a field that does not convert
// fails with the file, line, column name and the text.
//
// Threading: a CsvReader is one thread's; several readers may read the same file.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "sluice/sql/catalog.h"
#include "sluice/sql/vector.h"

namespace sluice::formats {

class LineReader;

struct CsvOptions {
  char delimiter = ',';
  char quote = '"';
  bool header = false;               // skip the first line
  std::string null_literal;          // a field equal to this (unquoted) is NULL; "" by default
  bool trailing_delimiter = false;   // every line ends with the delimiter
  bool ignore_parse_errors = false;  // unconvertible fields become NULL instead of failing
};

class CsvReader {
 public:
  // Reads `path`, whose lines hold `columns` in order, producing `projection` (positions in
  // `columns`).
  CsvReader(std::filesystem::path path, std::vector<sql::ColumnSchema> columns,
            std::vector<size_t> projection, CsvOptions options);
  ~CsvReader();

  // Fills `out` with up to kBatchSize rows; false at the end of the file.
  bool next(sql::DataChunk& out);

 private:
  void split(std::string_view line);
  [[noreturn]] void fail(const std::string& message) const;

  std::filesystem::path path_;
  std::vector<sql::ColumnSchema> columns_;
  std::vector<size_t> projection_;
  std::vector<int> output_of_column_;  // column -> projected position, or -1
  CsvOptions options_;
  std::unique_ptr<LineReader> lines_;
  std::vector<std::string_view> fields_;
  std::vector<uint8_t> quoted_;       // per field: it was quoted (so never the null literal)
  std::deque<std::string> unquoted_;  // quoted fields' text, stable while fields_ point at it
  size_t unquoted_used_ = 0;
};

// A table over a CSV file (or every file of a directory, in name order).
class CsvTable : public sql::TableSource {
 public:
  CsvTable(std::filesystem::path path, std::vector<sql::ColumnSchema> columns, CsvOptions options);
  const std::vector<sql::ColumnSchema>& columns() const override { return columns_; }
  // Files are dealt round-robin to the parts; a single file is read by part 0.
  std::unique_ptr<sql::TableScan> scan(const std::vector<size_t>& projection, size_t part = 0,
                                       size_t parts = 1) const override;
  std::string describe() const override;
  std::optional<uint64_t> row_count() const override;  // estimated from the files' size

 private:
  std::filesystem::path path_;
  std::vector<sql::ColumnSchema> columns_;
  CsvOptions options_;
};

}  // namespace sluice::formats
