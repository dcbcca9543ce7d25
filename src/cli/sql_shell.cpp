#include "sql_shell.h"

#include <fmt/format.h>
#include <readline/history.h>
#include <readline/readline.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "sluice/connectors/filesystem_table.h"
#include "sluice/core/error.h"
#include "sluice/sql/session.h"

namespace sluice::cli {

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

void print(const sql::QueryResult& result, const std::string& format) {
  if (!result.has_rows) {
    std::cout << result.message << "\n";
    return;
  }
  if (format == "table") {
    std::cout << result.to_table();
    return;
  }
  char separator = format == "csv" ? ',' : '\t';
  auto field = [&](const std::string& s) { return format == "csv" ? csv_field(s) : s; };
  for (size_t c = 0; c < result.column_names.size(); ++c) {
    std::cout << (c ? std::string(1, separator) : "") << field(result.column_names[c]);
  }
  std::cout << "\n";
  for (const auto& row : result.rendered_rows()) {
    for (size_t c = 0; c < row.size(); ++c)
      std::cout << (c ? std::string(1, separator) : "") << field(row[c]);
    std::cout << "\n";
  }
}

// Runs one chunk of SQL (one or more statements); false if it failed.
bool run(sql::Session& session, const std::string& sql, const std::string& where,
         const SqlShellOptions& options) {
  auto start = std::chrono::steady_clock::now();
  sql::QueryResult result;
  try {
    result = session.execute(sql);
    print(result, options.format);
  } catch (const std::exception& e) {
    std::cerr << fmt::format("{}: {}\n", where, e.what());
    return false;
  }
  if (options.timing) {
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::cerr << fmt::format("Time: {:.3f} ms", ms);
    if (result.spilled_bytes > 0) {
      std::cerr << fmt::format(" (spilled {:.1f} MiB past a managed memory peak of {:.1f} MiB)",
                               result.spilled_bytes / 1048576.0,
                               result.peak_managed_bytes / 1048576.0);
    }
    std::cerr << "\n";
  }
  return true;
}

// Whether `text` ends a statement: a ';' outside quotes and comments at its end.
bool complete(const std::string& text) {
  char quote = 0;
  bool ends_with_semicolon = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"' || c == '`') {
      quote = c;
      ends_with_semicolon = false;
    } else if (c == '-' && i + 1 < text.size() && text[i + 1] == '-') {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == ';') {
      ends_with_semicolon = true;
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      ends_with_semicolon = false;
    }
  }
  return ends_with_semicolon && quote == 0;
}

int interactive(sql::Session& session, const SqlShellOptions& options) {
  std::string history = std::string(getenv("HOME") ? getenv("HOME") : ".") + "/.sluice_history";
  read_history(history.c_str());
  std::cout << "Sluice SQL. End statements with ';'. Ctrl-D quits.\n";
  std::string buffer;
  while (true) {
    char* line = readline(buffer.empty() ? "sluice> " : "   ...> ");
    if (!line) break;
    std::string text(line);
    free(line);
    if (buffer.empty() && (text == "quit" || text == "exit")) break;
    if (!text.empty()) add_history(text.c_str());
    buffer += (buffer.empty() ? "" : "\n") + text;
    if (!complete(buffer)) continue;
    run(session, buffer, "error", options);
    buffer.clear();
  }
  write_history(history.c_str());
  std::cout << "\n";
  return 0;
}

}  // namespace

int run_sql_shell(const SqlShellOptions& options) {
  sql::Session session;
  connectors::register_filesystem_connector(session);
  for (const auto& file : options.files) {
    std::ifstream in(file);
    if (!in) {
      std::cerr << fmt::format("{}: cannot open the script\n", file);
      return 1;
    }
    std::stringstream text;
    text << in.rdbuf();
    if (!run(session, text.str(), file, options)) return 1;
  }
  for (size_t i = 0; i < options.statements.size(); ++i) {
    if (!run(session, options.statements[i], fmt::format("-e #{}", i + 1), options)) return 1;
  }
  if (options.interactive) return interactive(session, options);
  if (options.files.empty() && options.statements.empty()) {
    std::stringstream text;
    text << std::cin.rdbuf();
    if (!run(session, text.str(), "<stdin>", options)) return 1;
  }
  return 0;
}

}  // namespace sluice::cli
