// The `sluice` binary. Subcommands:
//   sluice sql [-e SQL]... [-f FILE]... [--format table|tsv|csv] [--timing]
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "sql_shell.h"

int main(int argc, char** argv) {
  CLI::App app{"Sluice: stream and batch processing in one engine"};
  app.require_subcommand(1);
  sluice::cli::SqlShellOptions sql;
  CLI::App* sql_command =
      app.add_subcommand("sql", "Run SQL: interactively, from -e or -f, or from standard input");
  sql_command->add_option("-e,--execute", sql.statements, "SQL statements to run (repeatable)");
  sql_command->add_option("-f,--file", sql.files, "SQL scripts to run, before -e (repeatable)")
      ->check(CLI::ExistingFile);
  sql_command->add_option("--format", sql.format, "How results print")
      ->check(CLI::IsMember({"table", "tsv", "csv"}));
  sql_command->add_flag("--timing", sql.timing, "Print how long each statement took (stderr)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (sql_command->parsed()) {
    sql.interactive = sql.statements.empty() && sql.files.empty() && isatty(STDIN_FILENO);
    return sluice::cli::run_sql_shell(sql);
  }
  return 2;
}
