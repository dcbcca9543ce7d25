// The readable name of a C++ type, for plans and messages: type_name<Txn>() is "Txn",
// type_name<std::pair<int, double>>() "std::pair<int, double>". Computed at compile time from the
// compiler's own spelling of the type (GCC's __PRETTY_FUNCTION__), so no RTTI or demangling.
//
// Threading: constant expressions.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

template <class T>
constexpr std::string_view type_name() {
  constexpr std::string_view function = __PRETTY_FUNCTION__;
  // "constexpr std::string_view sluice::type_name() [with T = Txn; std::string_view = ...]"
  constexpr std::string_view marker = "T = ";
  constexpr size_t start = function.find(marker) + marker.size();
  constexpr size_t end = function.find_first_of(";]", start);
  return function.substr(start, end - start);
}

// type_name's text made for people: without "{anonymous}::", and a lambda as "lambda in <its
// function>" (or just "lambda" when that function's own name is a mouthful).
std::string readable_type_name(std::string_view name);

template <class T>
std::string readable_type_name() {
  return readable_type_name(type_name<T>());
}

}  // namespace sluice
