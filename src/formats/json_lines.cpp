#include "sluice/formats/json_lines.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <map>

#include "line_reader.h"
#include "sluice/core/error.h"
#include "sluice/sql/value.h"

namespace sluice::formats {

namespace {

// simdjson returns some views directly and others as results, depending on the call and the
// version: either way, false on success with `out` set.
template <typename R>
bool failed_view(R&& result, std::string_view& out) {
  if constexpr (std::is_same_v<std::decay_t<R>, std::string_view>) {
    out = result;
    return false;
  } else {
    return std::forward<R>(result).get(out) != simdjson::SUCCESS;
  }
}

class JsonLinesScan : public sql::TableScan {
 public:
  JsonLinesScan(std::vector<std::filesystem::path> files, std::vector<sql::ColumnSchema> columns,
                std::vector<size_t> projection, JsonLinesOptions options)
      : files_(std::move(files)), columns_(std::move(columns)), options_(options) {
    for (size_t i = 0; i < projection.size(); ++i)
      output_of_name_[columns_[projection[i]].name] = i;
    projected_.resize(projection.size());
    for (size_t i = 0; i < projection.size(); ++i) projected_[i] = projection[i];
  }

  bool next(sql::DataChunk& out) override {
    out.reset();
    size_t row = 0;
    std::string_view line;
    while (row < sql::kBatchSize) {
      if (!lines_) {
        if (next_file_ >= files_.size()) break;
        lines_ = std::make_unique<LineReader>(files_[next_file_++], 0);
      }
      if (!lines_->next(line)) {
        lines_.reset();
        continue;
      }
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      decode(line, out, row);
      ++row;
    }
    out.set_size(row);
    return row > 0;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw Error(ErrorCategory::kBadInput, message,
                ErrorContext{.file = lines_->path().string(), .line = lines_->line_number()});
  }

  void decode(std::string_view line, sql::DataChunk& out, size_t row) {
    seen_.assign(projected_.size(), 0);
    padded_.assign(line.begin(), line.end());
    padded_.resize(line.size() + simdjson::SIMDJSON_PADDING);
    simdjson::ondemand::document doc;
    simdjson::ondemand::object object;
    if (parser_.iterate(padded_.data(), line.size(), padded_.size()).get(doc) ||
        doc.get_object().get(object)) {
      if (!options_.ignore_parse_errors) fail("the line is not a JSON object");
      for (size_t c = 0; c < projected_.size(); ++c) out.column(c).set_null(row);
      return;
    }
    for (auto field : object) {
      std::string_view key;
      if (failed_view(field.unescaped_key(), key)) fail("a field name is not valid JSON");
      auto it = output_of_name_.find(std::string(key));
      if (it == output_of_name_.end()) continue;
      size_t c = it->second;
      seen_[c] = 1;
      sql::Vector& v = out.column(c);
      simdjson::ondemand::value value = field.value();
      bool ok = convert(value, v, row);
      if (!ok) {
        if (!options_.ignore_parse_errors) {
          std::string_view raw;
          if (failed_view(value.raw_json_token(), raw)) raw = "?";
          fail(fmt::format("column '{}': cannot read {} as {}", columns_[projected_[c]].name, raw,
                           v.type().to_string()));
        }
        v.set_null(row);
      }
    }
    for (size_t c = 0; c < projected_.size(); ++c) {
      if (seen_[c]) continue;
      if (options_.fail_on_missing_field) {
        fail(fmt::format("field '{}' is missing", columns_[projected_[c]].name));
      }
      out.column(c).set_null(row);
    }
  }

  // False if the value does not fit the column's type.
  static bool convert(simdjson::ondemand::value& value, sql::Vector& v, size_t row) {
    using sql::TypeId;
    simdjson::ondemand::json_type type;
    if (value.type().get(type)) return false;
    if (type == simdjson::ondemand::json_type::null) {
      v.set_null(row);
      return true;
    }
    v.set_valid(row);
    const sql::LogicalType& t = v.type();
    switch (t.id()) {
      case TypeId::kBoolean: {
        bool b;
        if (value.get_bool().get(b)) return false;
        v.data<uint8_t>()[row] = b;
        return true;
      }
      case TypeId::kTinyInt:
      case TypeId::kSmallInt:
      case TypeId::kInt:
      case TypeId::kBigInt: {
        int64_t i;
        if (value.get_int64().get(i)) return false;
        int64_t lo = t.id() == TypeId::kTinyInt    ? INT8_MIN
                     : t.id() == TypeId::kSmallInt ? INT16_MIN
                     : t.id() == TypeId::kInt      ? INT32_MIN
                                                   : INT64_MIN;
        int64_t hi = t.id() == TypeId::kTinyInt    ? INT8_MAX
                     : t.id() == TypeId::kSmallInt ? INT16_MAX
                     : t.id() == TypeId::kInt      ? INT32_MAX
                                                   : INT64_MAX;
        if (i < lo || i > hi) return false;
        sql::Value::integer(t, i).write_to(v, row);
        return true;
      }
      case TypeId::kFloat:
      case TypeId::kDouble: {
        double d;
        if (value.get_double().get(d)) return false;
        sql::Value::floating(t, d).write_to(v, row);
        return true;
      }
      case TypeId::kDecimal: {
        // From the number's own text, so that 0.1 stays exact.
        std::string_view text;
        if (type == simdjson::ondemand::json_type::string) {
          if (value.get_string().get(text)) return false;
        } else {
          if (failed_view(value.raw_json_token(), text)) return false;
          while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
            text.remove_suffix(1);
        }
        sql::int128_t unscaled;
        if (!sql::parse_decimal(text, t.precision(), t.scale(), unscaled)) return false;
        sql::Value::decimal(unscaled, t.precision(), t.scale()).write_to(v, row);
        return true;
      }
      case TypeId::kChar:
      case TypeId::kVarchar:
      case TypeId::kBytes: {
        std::string_view text;
        if (type == simdjson::ondemand::json_type::string) {
          if (value.get_string().get(text)) return false;
        } else if (failed_view(value.raw_json_token(), text)) {
          return false;
        }
        v.add_string(row, text);
        return true;
      }
      case TypeId::kDate:
      case TypeId::kTime:
      case TypeId::kTimestamp:
      case TypeId::kTimestampLtz: {
        std::string_view text;
        if (value.get_string().get(text)) return false;
        if (t.id() == TypeId::kDate) return sql::parse_date(text, v.data<int32_t>()[row]);
        if (t.id() == TypeId::kTime) return sql::parse_time(text, v.data<int64_t>()[row]);
        return sql::parse_timestamp(text, v.data<int64_t>()[row]);
      }
      default:
        return false;
    }
  }

  std::vector<std::filesystem::path> files_;
  std::vector<sql::ColumnSchema> columns_;
  std::vector<size_t> projected_;
  std::map<std::string, size_t> output_of_name_;
  JsonLinesOptions options_;
  std::unique_ptr<LineReader> lines_;
  size_t next_file_ = 0;
  simdjson::ondemand::parser parser_;
  std::string padded_;
  std::vector<uint8_t> seen_;
};

}  // namespace

JsonLinesTable::JsonLinesTable(std::filesystem::path path, std::vector<sql::ColumnSchema> columns,
                               JsonLinesOptions options)
    : path_(std::move(path)), columns_(std::move(columns)), options_(options) {}

std::unique_ptr<sql::TableScan> JsonLinesTable::scan(const std::vector<size_t>& projection,
                                                     size_t part, size_t parts) const {
  return std::make_unique<JsonLinesScan>(table_files(path_, part, parts), columns_, projection,
                                         options_);
}

std::optional<uint64_t> JsonLinesTable::row_count() const {
  // An estimate for join ordering: about 24 bytes per field with its name.
  std::optional<uint64_t> bytes = table_bytes(path_);
  if (!bytes) return std::nullopt;
  return std::max<uint64_t>(1, *bytes / (24 * std::max<size_t>(columns_.size(), 1)));
}

std::string JsonLinesTable::describe() const { return fmt::format("json '{}'", path_.string()); }

}  // namespace sluice::formats
