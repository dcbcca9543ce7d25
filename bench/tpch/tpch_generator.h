// Sluice's own TPC-H data generator, written from the rules of the TPC-H specification (clause
// 4.2: cardinalities per scale factor, key ranges, value domains and the relationships between
// columns) and not from dbgen's source. It writes the eight tables in dbgen's text format
// (`|`-separated fields with a trailing `|`, dates as YYYY-MM-DD, decimals with two places), so the
// same files feed Sluice's TPC-H benchmark and a reference engine such as DuckDB. The values are
// not dbgen's, but they keep the specification's domains and relations, so the 22 queries
// (bench/tpch/queries/) have non-trivial answers.
//
// Determinism: the output depends only on the scale factor. Each row draws its values from a
// generator seeded by its table and its row number, so any range of rows can be generated without
// the rows before it, and the files are the same byte for byte whatever the thread count.
//
// Threading: generate_tpch() blocks its caller. With threads > 1, worker threads generate chunks
// of rows while the calling thread writes the finished chunks in order. Nothing is global, so
// calls on different threads into different directories are independent.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace sluice::tpch {

// Rows per table at a scale factor (clause 4.2.5), at least one each. lineitem has 1 to 7 rows per
// order, so its count is only known once generated (about 4 per order). Below SF 0.0004 there are
// fewer than four suppliers, so a part's four partsupp rows repeat supplier keys.
struct Cardinalities {
  int64_t parts = 0;
  int64_t suppliers = 0;
  int64_t customers = 0;
  int64_t orders = 0;
  int64_t clerks = 0;
};

Cardinalities cardinalities(double scale_factor);

struct GeneratedRows {
  int64_t region = 0;
  int64_t nation = 0;
  int64_t part = 0;
  int64_t supplier = 0;
  int64_t partsupp = 0;
  int64_t customer = 0;
  int64_t orders = 0;
  int64_t lineitem = 0;
};

// Writes region.tbl, nation.tbl, part.tbl, supplier.tbl, partsupp.tbl, customer.tbl, orders.tbl
// and lineitem.tbl into `dir` (created if missing, files replaced). Throws std::invalid_argument
// for a scale factor that is not positive and finite, std::runtime_error when a file cannot be
// written.
GeneratedRows generate_tpch(double scale_factor, const std::filesystem::path& dir, int threads = 1);

// The CREATE TABLE statement of `table`, named `name`, over `dir`/<table>.tbl with the columns that
// `schema` (bench/tpch/schema.sql) gives it: a filesystem table of |-separated CSV with a trailing
// delimiter, as the generator writes.
std::string tbl_table_sql(const std::string& schema, const std::string& table,
                          const std::string& name, const std::filesystem::path& dir);

}  // namespace sluice::tpch
