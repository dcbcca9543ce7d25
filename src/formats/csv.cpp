#include "sluice/formats/csv.h"

#include "line_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "sluice/core/error.h"
#include "sluice/sql/value.h"

namespace sluice::formats {

namespace {

// Converts `text` into row `row` of `v`; false if it is not a value of v's type.
bool convert(std::string_view text, sql::Vector& v, size_t row) {
  using sql::TypeId;
  const sql::LogicalType& type = v.type();
  auto integer = [&](auto& out) {
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && ptr == text.data() + text.size();
  };
  switch (type.id()) {
    case TypeId::kBoolean: {
      if (text == "true" || text == "TRUE" || text == "True" || text == "1") {
        v.data<uint8_t>()[row] = 1;
        return true;
      }
      if (text == "false" || text == "FALSE" || text == "False" || text == "0") {
        v.data<uint8_t>()[row] = 0;
        return true;
      }
      return false;
    }
    case TypeId::kTinyInt:
      return integer(v.data<int8_t>()[row]);
    case TypeId::kSmallInt:
      return integer(v.data<int16_t>()[row]);
    case TypeId::kInt:
      return integer(v.data<int32_t>()[row]);
    case TypeId::kBigInt:
      return integer(v.data<int64_t>()[row]);
    case TypeId::kFloat: {
      std::string copy(text);
      char* end = nullptr;
      float f = std::strtof(copy.c_str(), &end);
      if (copy.empty() || end != copy.c_str() + copy.size()) return false;
      v.data<float>()[row] = f;
      return true;
    }
    case TypeId::kDouble: {
      auto [ptr, ec] =
          std::from_chars(text.data(), text.data() + text.size(), v.data<double>()[row]);
      return ec == std::errc() && ptr == text.data() + text.size();
    }
    case TypeId::kDecimal: {
      sql::int128_t unscaled;
      if (!sql::parse_decimal(text, type.precision(), type.scale(), unscaled)) return false;
      if (v.physical() == sql::PhysicalType::kInt64) {
        v.data<int64_t>()[row] = static_cast<int64_t>(unscaled);
      } else {
        v.data<sql::int128_t>()[row] = unscaled;
      }
      return true;
    }
    case TypeId::kChar:
    case TypeId::kVarchar:
    case TypeId::kBytes:
      if (type.length() < sql::LogicalType::kMaxLength &&
          text.size() > static_cast<size_t>(type.length())) {
        return false;
      }
      v.add_string(row, text);
      return true;
    case TypeId::kDate:
      return sql::parse_date(text, v.data<int32_t>()[row]);
    case TypeId::kTime:
      return sql::parse_time(text, v.data<int64_t>()[row]);
    case TypeId::kTimestamp:
    case TypeId::kTimestampLtz:
      return sql::parse_timestamp(text, v.data<int64_t>()[row]);
    default:
      return false;
  }
}

}  // namespace

CsvReader::CsvReader(std::filesystem::path path, std::vector<sql::ColumnSchema> columns,
                     std::vector<size_t> projection, CsvOptions options)
    : path_(std::move(path)),
      columns_(std::move(columns)),
      projection_(std::move(projection)),
      output_of_column_(columns_.size(), -1),
      options_(std::move(options)),
      lines_(std::make_unique<LineReader>(path_, options_.quote)) {
  for (size_t i = 0; i < projection_.size(); ++i) {
    output_of_column_[projection_[i]] = static_cast<int>(i);
  }
  if (options_.header) {
    std::string_view ignored;
    lines_->next(ignored);
  }
}

CsvReader::~CsvReader() = default;

void CsvReader::fail(const std::string& message) const {
  throw Error(ErrorCategory::kBadInput, message,
              ErrorContext{.file = path_.string(), .line = lines_->line_number()});
}

void CsvReader::split(std::string_view line) {
  fields_.clear();
  quoted_.clear();
  unquoted_used_ = 0;
  size_t i = 0;
  while (true) {
    if (i < line.size() && line[i] == options_.quote) {
      // Quoted: up to the closing quote; a doubled quote is a quote.
      if (unquoted_used_ == unquoted_.size()) unquoted_.emplace_back();
      std::string& field = unquoted_[unquoted_used_++];
      field.clear();
      ++i;
      while (true) {
        if (i >= line.size()) fail("unterminated quoted field");
        if (line[i] == options_.quote) {
          if (i + 1 < line.size() && line[i + 1] == options_.quote) {
            field += options_.quote;
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      fields_.push_back(field);
      quoted_.push_back(1);
      if (i < line.size() && line[i] != options_.delimiter) {
        fail(fmt::format("unexpected '{}' after a quoted field", line[i]));
      }
    } else {
      size_t end = line.find(options_.delimiter, i);
      if (end == std::string_view::npos) end = line.size();
      fields_.push_back(line.substr(i, end - i));
      quoted_.push_back(0);
      i = end;
    }
    if (i >= line.size()) break;
    ++i;  // the delimiter
    if (i == line.size()) {
      // A delimiter at the very end: an empty last field, unless lines carry a trailing one.
      if (!options_.trailing_delimiter) {
        fields_.push_back(std::string_view());
        quoted_.push_back(0);
      }
      break;
    }
  }
}

bool CsvReader::next(sql::DataChunk& out) {
  out.reset();
  size_t row = 0;
  std::string_view line;
  while (row < sql::kBatchSize && lines_->next(line)) {
    if (line.empty()) continue;
    split(line);
    if (fields_.size() != columns_.size()) {
      fail(fmt::format("expected {} fields but found {}", columns_.size(), fields_.size()));
    }
    for (size_t c = 0; c < columns_.size(); ++c) {
      int target = output_of_column_[c];
      if (target < 0) continue;
      sql::Vector& v = out.column(static_cast<size_t>(target));
      std::string_view text = fields_[c];
      if (!quoted_[c] && text == options_.null_literal) {
        v.set_null(row);
        continue;
      }
      v.set_valid(row);
      if (!convert(text, v, row)) {
        if (options_.ignore_parse_errors) {
          v.set_null(row);
          continue;
        }
        fail(fmt::format("column '{}': cannot read '{}' as {}", columns_[c].name, text,
                         columns_[c].type.to_string()));
      }
    }
    ++row;
  }
  out.set_size(row);
  return row > 0;
}

namespace {

class CsvScan : public sql::TableScan {
 public:
  CsvScan(std::vector<std::filesystem::path> files, std::vector<sql::ColumnSchema> columns,
          std::vector<size_t> projection, CsvOptions options)
      : files_(std::move(files)),
        columns_(std::move(columns)),
        projection_(std::move(projection)),
        options_(std::move(options)) {}

  bool next(sql::DataChunk& out) override {
    while (true) {
      if (!reader_) {
        if (next_file_ >= files_.size()) {
          out.reset();
          return false;
        }
        reader_ =
            std::make_unique<CsvReader>(files_[next_file_++], columns_, projection_, options_);
      }
      if (reader_->next(out)) return true;
      reader_.reset();
    }
  }

 private:
  std::vector<std::filesystem::path> files_;
  std::vector<sql::ColumnSchema> columns_;
  std::vector<size_t> projection_;
  CsvOptions options_;
  std::unique_ptr<CsvReader> reader_;
  size_t next_file_ = 0;
};

}  // namespace

CsvTable::CsvTable(std::filesystem::path path, std::vector<sql::ColumnSchema> columns,
                   CsvOptions options)
    : path_(std::move(path)), columns_(std::move(columns)), options_(std::move(options)) {}

std::unique_ptr<sql::TableScan> CsvTable::scan(const std::vector<size_t>& projection, size_t part,
                                               size_t parts) const {
  return std::make_unique<CsvScan>(table_files(path_, part, parts), columns_, projection, options_);
}

std::optional<uint64_t> CsvTable::row_count() const {
  // An estimate for join ordering: about 12 bytes per field.
  std::optional<uint64_t> bytes = table_bytes(path_);
  if (!bytes) return std::nullopt;
  return std::max<uint64_t>(1, *bytes / (12 * std::max<size_t>(columns_.size(), 1)));
}

std::string CsvTable::describe() const { return fmt::format("csv '{}'", path_.string()); }

}  // namespace sluice::formats
