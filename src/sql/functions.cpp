#include "sluice/sql/functions.h"

#include <algorithm>
#include <cctype>

#include "function_library.h"
#include "sluice/sql/parser.h"
#include "sluice/sql/vector.h"

namespace sluice::sql {

namespace {

std::string upper(std::string_view s) { return ascii_upper(s); }

}  // namespace

const FunctionRegistry& FunctionRegistry::builtins() {
  static const FunctionRegistry registry = [] {
    FunctionRegistry r;
    register_scalar_functions(r);
    register_aggregate_functions(r);
    return r;
  }();
  return registry;
}

FunctionRegistry FunctionRegistry::with_builtins() {
  FunctionRegistry r;
  r.scalars_ = builtins().scalars_;
  r.aggregates_ = builtins().aggregates_;
  return r;
}

void FunctionRegistry::add_scalar(const std::string& name, ScalarResolver resolver) {
  scalars_[upper(name)] = std::move(resolver);
}

void FunctionRegistry::add_aggregate(const std::string& name, AggregateResolver resolver) {
  aggregates_[upper(name)] = std::move(resolver);
}

void FunctionRegistry::add_scalar_udf(const std::string& name, std::vector<LogicalType> arguments,
                                      LogicalType result, ScalarKernel kernel) {
  auto function = std::make_unique<ScalarFunction>();
  function->name = name;
  function->kernel = kernel;
  const ScalarFunction* fn = function.get();
  owned_.push_back(std::move(function));
  add_scalar(name,
             [fn, arguments, result, name](const std::vector<LogicalType>& args,
                                           std::string& error) -> std::optional<ResolvedScalar> {
               if (args.size() != arguments.size()) {
                 error = name + " takes " + std::to_string(arguments.size()) + " argument(s)";
                 return std::nullopt;
               }
               for (size_t i = 0; i < args.size(); ++i) {
                 if (!can_cast(args[i], arguments[i])) {
                   error =
                       "argument " + std::to_string(i + 1) + " must be " + arguments[i].to_string();
                   return std::nullopt;
                 }
               }
               ResolvedScalar r;
               r.function = fn;
               r.result = result;
               r.argument_types = arguments;
               return r;
             });
}

void FunctionRegistry::add_aggregate_udf(const std::string& name, LogicalType argument,
                                         LogicalType result, AggregateFunction function) {
  function.name = name;
  owned_aggregates_.push_back(std::make_unique<AggregateFunction>(std::move(function)));
  const AggregateFunction* fn = owned_aggregates_.back().get();
  add_aggregate(
      name,
      [fn, argument, result, name](const std::vector<LogicalType>& args,
                                   std::string& error) -> std::optional<ResolvedAggregate> {
        if (args.size() != 1 || !can_cast(args[0], argument)) {
          error = name + " takes one " + argument.to_string();
          return std::nullopt;
        }
        ResolvedAggregate r;
        r.function = fn;
        r.result = result;
        r.argument_type = argument;
        return r;
      });
}

const ScalarResolver* FunctionRegistry::find_scalar(const std::string& name) const {
  auto it = scalars_.find(upper(name));
  return it == scalars_.end() ? nullptr : &it->second;
}

const AggregateResolver* FunctionRegistry::find_aggregate(const std::string& name) const {
  auto it = aggregates_.find(upper(name));
  return it == aggregates_.end() ? nullptr : &it->second;
}

std::vector<std::string> FunctionRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : scalars_) {
    // Operators and internal names (IS_TRUE, NEGATE) are not names a user would mistype.
    if (std::isalpha(static_cast<unsigned char>(name[0])) && name.rfind("IS_", 0) != 0 &&
        name != "NEGATE") {
      out.push_back(name);
    }
  }
  for (const auto& [name, _] : aggregates_) out.push_back(name);
  return out;
}

}  // namespace sluice::sql
