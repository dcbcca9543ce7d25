// The 'filesystem' connector of SQL tables, as Flink's: CREATE TABLE t (...) WITH ('connector' =
// 'filesystem', 'path' = '...', 'format' = 'csv' | 'json', ...). Reads a file or a directory of
// files. Options (Flink's names where Flink has them): 'csv.field-delimiter',
// 'csv.quote-character', 'csv.null-literal', 'csv.ignore-parse-errors', and Sluice's
// 'csv.ignore-first-line' (a header) and 'csv.trailing-delimiter' (lines end with the delimiter, as
// TPC-H's .tbl files); for 'json' (one object per line): 'json.ignore-parse-errors',
// 'json.fail-on-missing-field'.
//
// Threading: register before running statements; the tables follow sql::TableSource's rules.
#pragma once

#include "sluice/sql/session.h"

namespace sluice::connectors {

// Makes 'filesystem' known to CREATE TABLE ... WITH ('connector' = 'filesystem').
void register_filesystem_connector(sql::Session& session);

}  // namespace sluice::connectors
