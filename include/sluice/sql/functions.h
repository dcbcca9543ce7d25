// The function library: scalar functions (operators such as + and =, casts aside, and named
// functions such as UPPER), aggregate functions, and the user's C++ UDFs, all found by name.
// A function is resolved for its argument types once, when a statement is bound: resolution
// picks the kernel for the arguments' physical types, the result type (Flink's rules, e.g.
// DECIMAL(p1, s1) * DECIMAL(p2, s2) = DECIMAL(p1 + p2, s1 + s2)), and the types the binder must
// cast the arguments to.
//
// Threading: the built-in registry is immutable after start-up. A FunctionRegistry that users
// register UDFs into is not synchronized: register before running statements.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/sql/expression.h"

namespace sluice::sql {

struct ResolvedScalar {
  const ScalarFunction* function = nullptr;
  LogicalType result;
  std::vector<LogicalType> argument_types;  // what each argument is cast to
};

// Returns the resolution, or nullopt with `error` saying why these argument types do not fit.
using ScalarResolver = std::function<std::optional<ResolvedScalar>(
    const std::vector<LogicalType>& arguments, std::string& error)>;

// A vectorized aggregate: a fixed-size state per group, updated a batch at a time. One instance
// exists per resolved input type; `parameter` carries what its kernels need of that type (for
// AVG of a DECIMAL, the scale by which the result is finer than the input).
struct AggregateFunction {
  std::string name;
  size_t state_size = 0;
  int64_t parameter = 0;
  void (*initialize)(uint8_t* state) = nullptr;
  // For each row i < count: update states[i] with input row i. NULL rows are skipped by the
  // function itself; COUNT(*) has no input.
  void (*update)(const AggregateFunction& self, uint8_t* const* states, const Vector* input,
                 size_t count) = nullptr;
  void (*combine)(uint8_t* target, const uint8_t* source) = nullptr;
  // Writes the result of states[i] into row i of `result`.
  void (*finalize)(const AggregateFunction& self, uint8_t* const* states, size_t count,
                   Vector& result) = nullptr;
  void (*destroy)(uint8_t* state) = nullptr;  // for states that own memory; may be null
  // States that own memory (destroy set) are spilled to disk through these: serialize appends
  // the state's bytes to `out`, deserialize rebuilds an initialized state from them. Other states
  // are spilled as their state_size bytes. A hash aggregate with an owning state and no
  // serialize cannot spill: it keeps its groups in memory past the budget.
  void (*serialize)(const uint8_t* state, std::string& out) = nullptr;
  void (*deserialize)(uint8_t* state, std::string_view bytes) = nullptr;
};

struct ResolvedAggregate {
  const AggregateFunction* function = nullptr;
  LogicalType result;
  std::optional<LogicalType> argument_type;  // none for COUNT(*)
};

using AggregateResolver = std::function<std::optional<ResolvedAggregate>(
    const std::vector<LogicalType>& arguments, std::string& error)>;

class FunctionRegistry {
 public:
  // The built-in functions.
  static const FunctionRegistry& builtins();

  FunctionRegistry() = default;
  // A registry that starts with the built-ins, for a session to add UDFs to.
  static FunctionRegistry with_builtins();

  void add_scalar(const std::string& name, ScalarResolver resolver);
  void add_aggregate(const std::string& name, AggregateResolver resolver);
  // A C++ scalar UDF with fixed argument and result types (NULL in, NULL out).
  void add_scalar_udf(const std::string& name, std::vector<LogicalType> arguments,
                      LogicalType result, ScalarKernel kernel);
  // A C++ aggregate UDF over one argument of type `argument` (arguments of other types are cast
  // to it when CAST allows), producing `result`. Its kernels skip NULL inputs themselves; combine
  // merges the partial states of parallel instances.
  void add_aggregate_udf(const std::string& name, LogicalType argument, LogicalType result,
                         AggregateFunction function);

  // Names are case-insensitive, as Flink's built-in functions.
  const ScalarResolver* find_scalar(const std::string& name) const;
  const AggregateResolver* find_aggregate(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ScalarResolver> scalars_;
  std::map<std::string, AggregateResolver> aggregates_;
  std::vector<std::unique_ptr<ScalarFunction>> owned_;
  std::vector<std::unique_ptr<AggregateFunction>> owned_aggregates_;
};

// The arithmetic result type of Flink for `op` (+ - * / %) on two numeric types; false if the
// operation is not defined for them.
bool arithmetic_result_type(const std::string& op, const LogicalType& a, const LogicalType& b,
                            LogicalType& result);

}  // namespace sluice::sql
