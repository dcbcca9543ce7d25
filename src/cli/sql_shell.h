// `sluice sql`: runs SQL from -e statements, -f scripts, standard input, or an interactive shell
// (readline line editing and history, statements spanning lines until a ';', results as aligned
// tables, timing). Tables over files come from CREATE TABLE ... WITH ('connector' =
// 'filesystem', ...).
//
// Threading: runs on the calling thread.
#pragma once

#include <string>
#include <vector>

namespace sluice::cli {

struct SqlShellOptions {
  std::vector<std::string> statements;  // -e, in order
  std::vector<std::string> files;       // -f, in order, before the -e statements
  std::string format = "table";         // table, tsv or csv
  bool timing = false;
  bool interactive = false;  // no -e/-f and standard input is a terminal
};

// Returns the process exit code: 0, or 1 after the first failing statement (the error is
// printed to stderr naming the statement's file and line).
int run_sql_shell(const SqlShellOptions& options);

}  // namespace sluice::cli
