// Runs sqllogictest-style files (tests/sql/README.md) through a Sluice SQL session:
//   sql_logic_test [--data DIR] [--parallelism N] FILE...
// Prints every mismatch as FILE:LINE with the SQL, the expected and the actual rows; exits 1 if
// any record failed. The same files run through DuckDB (scripts/sql-oracle), so each expected
// answer is DuckDB's too.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "sluice/connectors/filesystem_table.h"
#include "sluice/core/error.h"
#include "sluice/sql/session.h"

namespace {

struct Record {
  int line = 0;
  std::string kind;      // statement or query
  std::string argument;  // ok / error message / column types
  std::string sort_mode = "nosort";
  std::string sql;
  std::vector<std::string> expected;
  bool skip = false;
};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<Record> parse(const std::string& path, const std::string& data_dir) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t at;
    while ((at = line.find("__DATA__")) != std::string::npos) line.replace(at, 8, data_dir);
    lines.push_back(line);
  }
  std::vector<Record> records;
  size_t i = 0;
  bool skip_next = false;
  while (i < lines.size()) {
    std::string line = trim(lines[i]);
    if (line.empty() || line[0] == '#') {
      ++i;
      continue;
    }
    std::istringstream words(line);
    std::string first;
    words >> first;
    if (first == "onlyif" || first == "skipif") {
      std::string engine;
      words >> engine;
      if (engine != "sluice" && engine != "duckdb") {
        throw std::runtime_error(fmt::format("{}:{}: unknown engine '{}'", path, i + 1, engine));
      }
      bool is_sluice = engine == "sluice";
      skip_next = skip_next || (first == "onlyif" ? !is_sluice : is_sluice);
      ++i;
      continue;
    }
    Record r;
    r.line = static_cast<int>(i + 1);
    r.kind = first;
    r.skip = skip_next;
    skip_next = false;
    if (first == "statement") {
      std::string rest;
      std::getline(words, rest);
      r.argument = trim(rest);
    } else if (first == "query") {
      words >> r.argument;
      std::string mode;
      if (words >> mode) r.sort_mode = mode;
    } else {
      throw std::runtime_error(fmt::format("{}:{}: unknown record '{}'", path, i + 1, first));
    }
    ++i;
    std::vector<std::string> sql_lines;
    while (i < lines.size() && !trim(lines[i]).empty() && lines[i] != "----")
      sql_lines.push_back(lines[i++]);
    for (size_t k = 0; k < sql_lines.size(); ++k) r.sql += (k ? "\n" : "") + sql_lines[k];
    if (i < lines.size() && lines[i] == "----") {
      ++i;
      while (i < lines.size() && !trim(lines[i]).empty()) r.expected.push_back(lines[i++]);
    }
    records.push_back(std::move(r));
  }
  return records;
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t b = 0;
  while (true) {
    size_t e = line.find('\t', b);
    out.push_back(line.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return out;
}

bool values_match(const std::string& expected, const std::string& actual, char type) {
  if (expected == actual) return true;
  if (type != 'R' || expected == "NULL" || actual == "NULL") return false;
  char* end1 = nullptr;
  char* end2 = nullptr;
  double e = std::strtod(expected.c_str(), &end1);
  double a = std::strtod(actual.c_str(), &end2);
  if (*end1 != '\0' || *end2 != '\0') return false;
  if (std::isnan(e) && std::isnan(a)) return true;
  return std::fabs(e - a) <= 1e-9 * std::max(std::fabs(e), std::fabs(a));
}

char type_letter(const sluice::sql::LogicalType& t) {
  if (t.is_integer()) return 'I';
  if (t.is_numeric()) return 'R';
  return 'T';
}

int run_file(const std::string& path, const std::string& data_dir, int parallelism) {
  std::vector<Record> records = parse(path, data_dir);
  sluice::sql::Session session;
  sluice::connectors::register_filesystem_connector(session);
  session.execute(fmt::format("SET 'parallelism.default' = '{}'", parallelism));
  int failures = 0;
  int ran = 0;
  int skipped = 0;
  auto report = [&](const Record& r, const std::string& what) {
    ++failures;
    std::cerr << fmt::format("{}:{}: {}\n  {}\n", path, r.line, what, r.sql);
  };
  for (const Record& r : records) {
    if (r.skip) {
      ++skipped;
      continue;
    }
    ++ran;
    if (r.kind == "statement") {
      bool want_error = r.argument.rfind("error", 0) == 0;
      std::string message = want_error ? trim(r.argument.substr(5)) : "";
      try {
        session.execute(r.sql);
        if (want_error) report(r, "expected an error but the statement succeeded");
      } catch (const std::exception& e) {
        if (!want_error) {
          report(r, fmt::format("unexpected error: {}", e.what()));
        } else if (!message.empty() && std::string(e.what()).find(message) == std::string::npos) {
          report(r, fmt::format("the error does not contain '{}':\n{}", message, e.what()));
        }
      }
      continue;
    }
    sluice::sql::QueryResult result;
    try {
      result = session.execute(r.sql);
    } catch (const std::exception& e) {
      report(r, fmt::format("unexpected error: {}", e.what()));
      continue;
    }
    const std::string& types = r.argument;
    if (types.size() != result.column_types.size()) {
      report(r, fmt::format("{} column types given but the query returns {} columns", types.size(),
                            result.column_types.size()));
      continue;
    }
    bool letters_ok = true;
    for (size_t c = 0; c < types.size(); ++c) {
      if (type_letter(result.column_types[c]) != types[c]) {
        report(r, fmt::format("column {} is {}, not '{}'", c + 1,
                              result.column_types[c].to_string(), types[c]));
        letters_ok = false;
        break;
      }
    }
    if (!letters_ok) continue;
    std::vector<std::vector<std::string>> rows = result.rendered_rows();
    for (auto& row : rows) {
      for (auto& v : row) {
        if (v.empty()) v = "(empty)";
      }
    }
    std::vector<std::string> actual_lines;
    for (const auto& row : rows) {
      std::string line;
      for (size_t c = 0; c < row.size(); ++c) line += (c ? "\t" : "") + row[c];
      actual_lines.push_back(line);
    }
    std::vector<std::string> expected = r.expected;
    bool ok;
    if (r.sort_mode == "valuesort") {
      std::vector<std::string> a;
      std::vector<std::string> e;
      for (const auto& row : rows) a.insert(a.end(), row.begin(), row.end());
      for (const auto& line : expected) {
        for (auto& v : split_tabs(line)) e.push_back(v);
      }
      std::sort(a.begin(), a.end());
      std::sort(e.begin(), e.end());
      ok = a.size() == e.size();
      for (size_t k = 0; ok && k < a.size(); ++k) ok = values_match(e[k], a[k], 'R');
    } else {
      if (r.sort_mode == "rowsort") {
        std::sort(actual_lines.begin(), actual_lines.end());
        std::sort(expected.begin(), expected.end());
      }
      ok = actual_lines.size() == expected.size();
      for (size_t k = 0; ok && k < expected.size(); ++k) {
        std::vector<std::string> ev = split_tabs(expected[k]);
        std::vector<std::string> av = split_tabs(actual_lines[k]);
        ok = ev.size() == av.size();
        for (size_t c = 0; ok && c < ev.size(); ++c) ok = values_match(ev[c], av[c], types[c]);
      }
    }
    if (!ok) {
      std::string text = "wrong result\n  expected:\n";
      for (const auto& line : expected) text += "    " + line + "\n";
      text += "  actual:\n";
      for (const auto& line : actual_lines) text += "    " + line + "\n";
      report(r, text);
    }
  }
  std::cout << fmt::format("{} (parallelism {}): {} records, {} skipped, {} failed\n", path,
                           parallelism, ran, skipped, failures);
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir;
  int parallelism = 1;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--data" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (arg == "--parallelism" && i + 1 < argc) {
      parallelism = std::stoi(argv[++i]);
    } else if (arg == "--help") {
      std::cout << "usage: sql_logic_test [--data DIR] [--parallelism N] FILE_OR_DIR...\n";
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "unknown option " << arg << "\n";
      return 2;
    } else {
      files.push_back(arg);
    }
  }
  std::vector<std::string> expanded;
  for (const auto& f : files) {
    if (std::filesystem::is_directory(f)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(f)) {
        if (e.path().extension() == ".test" &&
            e.path().string().find("node_modules") == std::string::npos) {
          expanded.push_back(e.path().string());
        }
      }
    } else {
      expanded.push_back(f);
    }
  }
  std::sort(expanded.begin(), expanded.end());
  int failures = 0;
  for (const auto& f : expanded) {
    try {
      failures += run_file(f, data_dir, parallelism);
    } catch (const std::exception& e) {
      std::cerr << e.what() << "\n";
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
