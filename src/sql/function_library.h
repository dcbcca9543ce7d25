// Registration of the built-in functions (scalar_functions.cpp, aggregate_functions.cpp) and the
// few resolutions whose result type depends on a constant argument, which the binder calls
// directly.
//
// Threading: called while the built-in registry is built (once) and by binders.
#pragma once

#include <optional>
#include <string>

#include "sluice/sql/functions.h"

namespace sluice::sql {

void register_scalar_functions(FunctionRegistry& registry);
void register_aggregate_functions(FunctionRegistry& registry);

// EXTRACT(unit FROM value) and YEAR(value) & co.
std::optional<ResolvedScalar> resolve_extract_unit(const std::string& unit,
                                                   const LogicalType& input, std::string& error);
// ROUND(decimal, digits): the result type depends on the digits (Flink's findRoundDecimalType).
std::optional<ResolvedScalar> resolve_round_decimal(const LogicalType& input, int64_t digits);

}  // namespace sluice::sql
