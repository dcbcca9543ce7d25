// What an operator says about itself, for EXPLAIN and the execution plan (and, later, the web
// UI): its kind, its parameters in the order it gives them, the record type of each input and of
// its output, and the side outputs it declares.
//
//   OperatorDescription d{"window"};
//   d.add("assigner", "tumbling(60000 ms)").add("allowed lateness", "0 ms");
//
// Threading: a plain value.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/core/type_name.h"

namespace sluice {

struct OperatorDescription {
  std::string kind;  // "map", "window", "keyed_process", "source", "sink", ...
  std::vector<std::pair<std::string, std::string>> parameters;
  std::vector<std::string> inputs;  // record type of each input
  std::string output;               // record type of the main output; empty for sinks
  std::vector<std::pair<std::string, std::string>> side_outputs;  // tag -> record type

  bool operator==(const OperatorDescription&) const = default;

  OperatorDescription& add(std::string name, std::string value) {
    parameters.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  template <class In, class Out>
  static OperatorDescription of(std::string kind) {
    OperatorDescription d;
    d.kind = std::move(kind);
    d.inputs.push_back(readable_type_name<In>());
    if constexpr (!std::is_void_v<Out>) d.output = readable_type_name<Out>();
    return d;
  }
  template <class In1, class In2, class Out>
  static OperatorDescription of_two(std::string kind) {
    OperatorDescription d = of<In1, Out>(std::move(kind));
    d.inputs.push_back(readable_type_name<In2>());
    return d;
  }
};

}  // namespace sluice
