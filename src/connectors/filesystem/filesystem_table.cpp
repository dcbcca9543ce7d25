#include "sluice/connectors/filesystem_table.h"

#include <fmt/format.h>

#include <set>

#include "sluice/formats/csv.h"
#include "sluice/formats/json_lines.h"
#include "sluice/sql/parser.h"

namespace sluice::connectors {

namespace {

char single_character(const std::map<std::string, std::string>& options, const std::string& key,
                      char fallback) {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  std::string value = it->second;
  if (value == "\\t") value = "\t";
  if (value.size() != 1) {
    throw sql::SqlError(
        fmt::format("option '{}' must be one character, not '{}'", key, it->second));
  }
  return value[0];
}

bool flag(const std::map<std::string, std::string>& options, const std::string& key) {
  auto it = options.find(key);
  if (it == options.end()) return false;
  if (it->second == "true") return true;
  if (it->second == "false") return false;
  throw sql::SqlError(
      fmt::format("option '{}' must be 'true' or 'false', not '{}'", key, it->second));
}

std::shared_ptr<sql::TableSource> create(const std::string& table,
                                         const std::vector<sql::ColumnSchema>& columns,
                                         const std::map<std::string, std::string>& options) {
  static const std::set<std::string> kKnown = {"connector",
                                               "path",
                                               "format",
                                               "csv.field-delimiter",
                                               "csv.quote-character",
                                               "csv.null-literal",
                                               "csv.ignore-parse-errors",
                                               "csv.ignore-first-line",
                                               "csv.trailing-delimiter",
                                               "json.ignore-parse-errors",
                                               "json.fail-on-missing-field"};
  for (const auto& [key, value] : options) {
    if (!kKnown.count(key)) {
      std::vector<std::string> known(kKnown.begin(), kKnown.end());
      std::string near = sql::nearest_name(key, known);
      throw sql::SqlError(
          fmt::format("table '{}': unknown option '{}' of the filesystem connector{}", table, key,
                      near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near)));
    }
  }
  auto path = options.find("path");
  if (path == options.end()) {
    throw sql::SqlError(fmt::format("table '{}': the filesystem connector needs 'path'", table));
  }
  auto format = options.find("format");
  if (format == options.end() || (format->second != "csv" && format->second != "json")) {
    throw sql::SqlError(fmt::format(
        "table '{}': 'format' must be 'csv' or 'json' (Parquet is not supported yet)", table));
  }
  if (!std::filesystem::exists(path->second)) {
    throw sql::SqlError(fmt::format("table '{}': path '{}' does not exist", table, path->second));
  }
  if (format->second == "json") {
    formats::JsonLinesOptions json;
    json.ignore_parse_errors = flag(options, "json.ignore-parse-errors");
    json.fail_on_missing_field = flag(options, "json.fail-on-missing-field");
    return std::make_shared<formats::JsonLinesTable>(path->second, columns, json);
  }
  formats::CsvOptions csv;
  csv.delimiter = single_character(options, "csv.field-delimiter", ',');
  csv.quote = single_character(options, "csv.quote-character", '"');
  if (auto it = options.find("csv.null-literal"); it != options.end())
    csv.null_literal = it->second;
  csv.ignore_parse_errors = flag(options, "csv.ignore-parse-errors");
  csv.header = flag(options, "csv.ignore-first-line");
  csv.trailing_delimiter = flag(options, "csv.trailing-delimiter");
  return std::make_shared<formats::CsvTable>(path->second, columns, csv);
}

}  // namespace

void register_filesystem_connector(sql::Session& session) {
  session.register_table_factory("filesystem", &create);
}

}  // namespace sluice::connectors
