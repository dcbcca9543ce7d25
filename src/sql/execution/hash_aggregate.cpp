// Hash aggregation: GROUP BY keys (and DISTINCT) into a hash table of encoded row keys, each
// group owning a block of aggregate states; aggregates are updated a batch at a time through
// arrays of state pointers. DISTINCT aggregates first filter their input through a set of
// (group, value) keys. Without GROUP BY, the one group exists even for empty input (COUNT(*) = 0).
#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include <cstring>
#include <memory>
#include <new>

#include "expression_executor.h"
#include "physical_operator.h"
#include "row_key.h"

namespace sluice::sql {

namespace {

class HashAggregateOperator : public PhysicalOperator {
 public:
  HashAggregateOperator(const LogicalOperator& plan, PhysicalPlan child)
      : PhysicalOperator(plan.types()),
        child_(std::move(child)),
        group_count_(plan.expressions.size()),
        input_(child_->types()) {
    for (const auto& e : plan.expressions) {
      group_exprs_.push_back(std::make_unique<ExpressionExecutor>(*e));
      group_values_.push_back(std::make_unique<Vector>(e->type));
    }
    size_t offset = 0;
    for (const auto& a : plan.aggregates) {
      Aggregate agg;
      agg.function = a.function.function;
      agg.distinct = a.distinct;
      if (a.argument) {
        agg.argument = std::make_unique<ExpressionExecutor>(*a.argument);
        agg.value = std::make_unique<Vector>(a.argument->type);
        agg.distinct_value = std::make_unique<Vector>(a.argument->type);
      }
      // States are 16-byte aligned inside a group's block.
      agg.offset = offset;
      offset += (agg.function->state_size + 15) / 16 * 16;
      aggregates_.push_back(std::move(agg));
    }
    state_stride_ = std::max<size_t>(offset, 16);
  }

  ~HashAggregateOperator() override {
    for (const auto& agg : aggregates_) {
      if (!agg.function->destroy) continue;
      for (size_t g = 0; g < group_keys_.size(); ++g) agg.function->destroy(state(g) + agg.offset);
    }
  }

  bool next(DataChunk& out) override {
    if (!built_) build();
    out.reset();
    if (emitted_ >= group_keys_.size()) return false;
    size_t n = std::min(kBatchSize, group_keys_.size() - emitted_);
    std::vector<Vector*> key_columns;
    for (size_t k = 0; k < group_count_; ++k) key_columns.push_back(&out.column(k));
    for (size_t i = 0; i < n; ++i) {
      decode_row_key(group_keys_[emitted_ + i], key_columns, i);
      states_[i] = state(emitted_ + i);
    }
    for (size_t a = 0; a < aggregates_.size(); ++a) {
      const Aggregate& agg = aggregates_[a];
      for (size_t i = 0; i < n; ++i) offset_states_[i] = states_[i] + agg.offset;
      agg.function->finalize(*agg.function, offset_states_.data(), n, out.column(group_count_ + a));
    }
    emitted_ += n;
    out.set_size(n);
    return true;
  }

 private:
  struct Aggregate {
    const AggregateFunction* function;
    bool distinct = false;
    std::unique_ptr<ExpressionExecutor> argument;
    std::unique_ptr<Vector> value;
    std::unique_ptr<Vector> distinct_value;
    absl::flat_hash_set<std::string> seen;  // DISTINCT: group id + value key
    size_t offset = 0;
  };

  static constexpr size_t kGroupsPerBlock = 1024;

  uint8_t* state(size_t group) {
    return blocks_[group / kGroupsPerBlock].get() + (group % kGroupsPerBlock) * state_stride_;
  }

  size_t add_group(std::string_view key) {
    size_t id = group_keys_.size();
    if (id % kGroupsPerBlock == 0) {
      blocks_.emplace_back(static_cast<uint8_t*>(
          ::operator new[](kGroupsPerBlock* state_stride_, std::align_val_t(16))));
    }
    // The key's bytes live in the arena; the map's string_view points at them.
    char* bytes = key_arena_.allocate(key.size() == 0 ? 1 : key.size());
    std::memcpy(bytes, key.data(), key.size());
    group_keys_.emplace_back(bytes, key.size());
    uint8_t* block = state(id);
    for (const auto& agg : aggregates_) agg.function->initialize(block + agg.offset);
    return id;
  }

  void build() {
    built_ = true;
    states_.resize(kBatchSize);
    offset_states_.resize(kBatchSize);
    group_ids_.resize(kBatchSize);
    std::vector<const Vector*> key_columns;
    for (auto& v : group_values_) key_columns.push_back(v.get());
    while (child_->next(input_)) {
      size_t n = input_.size();
      if (n == 0) continue;
      for (size_t k = 0; k < group_count_; ++k) {
        group_values_[k]->reset();
        group_exprs_[k]->execute(input_, *group_values_[k]);
      }
      encoder_.encode(key_columns, n);
      for (size_t i = 0; i < n; ++i) {
        std::string_view key = encoder_.key(i);
        auto it = groups_.find(key);
        size_t id;
        if (it == groups_.end()) {
          id = add_group(key);
          groups_.emplace(group_keys_.back(), id);
        } else {
          id = it->second;
        }
        group_ids_[i] = id;
        states_[i] = state(id);
      }
      for (auto& agg : aggregates_) update(agg, n);
    }
    if (group_count_ == 0 && group_keys_.empty()) add_group(std::string_view());
  }

  void update(Aggregate& agg, size_t n) {
    const Vector* value = nullptr;
    if (agg.argument) {
      agg.value->reset();
      agg.argument->execute(input_, *agg.value);
      value = agg.value.get();
    }
    if (!agg.distinct) {
      for (size_t i = 0; i < n; ++i) offset_states_[i] = states_[i] + agg.offset;
      agg.function->update(*agg.function, offset_states_.data(), value, n);
      return;
    }
    // Only the first occurrence of each (group, value) reaches the aggregate.
    std::vector<const Vector*> columns{value};
    distinct_encoder_.encode(columns, n);
    size_t kept = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!value->is_valid(value->is_constant() ? 0 : i)) continue;
      std::string key(reinterpret_cast<const char*>(&group_ids_[i]), sizeof(size_t));
      key += distinct_encoder_.key(i);
      if (!agg.seen.insert(std::move(key)).second) continue;
      sel_.data()[kept] = static_cast<uint32_t>(i);
      offset_states_[kept] = states_[i] + agg.offset;
      ++kept;
    }
    if (kept == 0) return;
    agg.distinct_value->gather(*value, sel_.data(), kept);
    agg.function->update(*agg.function, offset_states_.data(), agg.distinct_value.get(), kept);
  }

  PhysicalPlan child_;
  size_t group_count_;
  DataChunk input_;
  std::vector<std::unique_ptr<ExpressionExecutor>> group_exprs_;
  std::vector<std::unique_ptr<Vector>> group_values_;
  std::vector<Aggregate> aggregates_;
  size_t state_stride_ = 16;
  RowKeyEncoder encoder_;
  RowKeyEncoder distinct_encoder_;
  absl::flat_hash_map<std::string_view, size_t> groups_;
  std::vector<std::string_view> group_keys_;
  StringHeap key_arena_;
  struct AlignedDelete {
    void operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(16)); }
  };
  std::vector<std::unique_ptr<uint8_t[], AlignedDelete>> blocks_;
  std::vector<uint8_t*> states_;
  std::vector<uint8_t*> offset_states_;
  std::vector<size_t> group_ids_;
  SelectionVector sel_;
  bool built_ = false;
  size_t emitted_ = 0;
};

}  // namespace

PhysicalPlan make_hash_aggregate(const LogicalOperator& plan, PhysicalPlan child) {
  return std::make_unique<HashAggregateOperator>(plan, std::move(child));
}

}  // namespace sluice::sql
