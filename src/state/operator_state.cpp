#include "sluice/state/operator_state.h"

namespace sluice {

std::vector<OperatorStateSnapshot> redistribute_operator_state(
    const std::vector<OperatorStateSnapshot>& old, int parallelism) {
  if (parallelism <= 0) throw Error(ErrorCategory::kInvalidArgument, "parallelism must be > 0");
  // Every list's elements in old subtask order.
  std::map<std::string, OperatorStateSnapshot::List> all;
  for (const auto& instance : old) {
    for (const auto& list : instance.lists) {
      auto [it, inserted] =
          all.try_emplace(list.name, OperatorStateSnapshot::List{list.name, list.mode, {}});
      if (!inserted && it->second.mode != list.mode) {
        throw Error(ErrorCategory::kInvalidJob,
                    "operator state '" + list.name + "' has different modes in different subtasks");
      }
      it->second.elements.insert(it->second.elements.end(), list.elements.begin(),
                                 list.elements.end());
    }
  }
  std::vector<OperatorStateSnapshot> result(static_cast<size_t>(parallelism));
  for (const auto& [name, list] : all) {
    const size_t n = list.elements.size();
    const auto p = static_cast<size_t>(parallelism);
    size_t next = 0;
    for (size_t i = 0; i < p; ++i) {
      OperatorStateSnapshot::List share{name, list.mode, {}};
      if (list.mode == OperatorStateMode::kUnion) {
        share.elements = list.elements;
      } else {
        const size_t count = n / p + (i < n % p ? 1 : 0);
        share.elements.assign(list.elements.begin() + static_cast<std::ptrdiff_t>(next),
                              list.elements.begin() + static_cast<std::ptrdiff_t>(next + count));
        next += count;
      }
      result[i].lists.push_back(std::move(share));
    }
  }
  return result;
}

OperatorStateSnapshot OperatorStateStore::snapshot() const {
  OperatorStateSnapshot snapshot;
  for (const auto& [name, state] : lists_) {
    snapshot.lists.push_back({name, state->mode, state->serialize()});
  }
  for (const auto& [name, pending] : restored_) snapshot.lists.push_back(pending);
  return snapshot;
}

void OperatorStateStore::restore(const OperatorStateSnapshot& snapshot) {
  lists_.clear();
  restored_.clear();
  for (const auto& list : snapshot.lists) restored_[list.name] = list;
}

}  // namespace sluice
