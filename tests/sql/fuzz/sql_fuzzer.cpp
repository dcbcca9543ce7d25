// libFuzzer target over the SQL front end: parse, bind and optimize arbitrary text against a small
// catalog. A statement may be rejected only with a sluice::Error (a SqlError names line and
// column); any other exception, crash, sanitizer report or hang is a bug. Statements are not
// executed: the target is the parser, the binder and the optimizer.
//
// Built and run by scripts/fuzz-sql (clang, -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "binder.h"
#include "optimizer.h"
#include "sluice/core/error.h"
#include "sluice/sql/catalog.h"
#include "sluice/sql/functions.h"
#include "sluice/sql/parser.h"

namespace {

const sluice::sql::Catalog& catalog() {
  using sluice::sql::LogicalType;
  static const sluice::sql::Catalog instance = [] {
    sluice::sql::Catalog c;
    auto add = [&](const char* name, std::vector<sluice::sql::ColumnSchema> columns) {
      sluice::sql::CatalogEntry entry;
      entry.name = name;
      entry.table = std::make_shared<sluice::sql::MemoryTable>(std::move(columns));
      c.add(std::move(entry));
    };
    add("t", {{"a", LogicalType::integer()},
              {"b", LogicalType::string()},
              {"c", LogicalType::decimal(10, 2)},
              {"d", LogicalType::date()},
              {"e", LogicalType::double_type()},
              {"f", LogicalType::boolean()}});
    add("u", {{"a", LogicalType::bigint()},
              {"x", LogicalType::varchar(10)},
              {"ts", LogicalType::timestamp(3)}});
    return c;
  }();
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view sql(reinterpret_cast<const char*>(data), size);
  try {
    auto statements = sluice::sql::parse_sql(sql);
    for (const auto& statement : statements) {
      if (statement->kind != sluice::sql::Statement::Kind::kQuery) continue;
      sluice::sql::Binder binder(catalog(), sluice::sql::FunctionRegistry::builtins(),
                                 statement->source);
      sluice::sql::optimize(binder.bind_query(*statement->query));
    }
  } catch (const sluice::Error&) {
    // A clean rejection.
  }
  return 0;
}
