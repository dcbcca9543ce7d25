#include "sluice/core/type_name.h"

namespace sluice {

std::string readable_type_name(std::string_view name) {
  std::string text;
  constexpr std::string_view kAnonymous = "{anonymous}::";
  for (size_t i = 0; i < name.size();) {
    if (name.substr(i).starts_with(kAnonymous)) {
      i += kAnonymous.size();
    } else {
      text += name[i++];
    }
  }
  const size_t lambda = text.find("::<lambda(");
  if (lambda == std::string::npos) return text;
  const std::string scope = text.substr(0, lambda);
  if (scope.find('<') != std::string::npos || scope.size() > 60) return "lambda";
  return "lambda in " + scope;
}

}  // namespace sluice
