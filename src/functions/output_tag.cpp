#include "sluice/functions/output_tag.h"

#include <mutex>
#include <unordered_map>

namespace sluice {

int intern_output_tag(const std::string& name) {
  static std::mutex mutex;
  static std::unordered_map<std::string, int> tags;
  std::lock_guard lock(mutex);
  auto [it, inserted] = tags.try_emplace(name, static_cast<int>(tags.size()) + 1);
  return it->second;
}

}  // namespace sluice
