// Hash aggregation: GROUP BY keys (and DISTINCT) into a hash table of encoded row keys (or of
// packed integer words), each group owning a block of aggregate states; aggregates are updated a
// batch at a time through arrays of state pointers. In parallel, each instance aggregates its part
// of the input into a table of its own; once all have, each instance merges the groups it owns
// (by the hash of their key) from every table, in parallel, and emits them. DISTINCT aggregates
// collect their (group, value) pairs and feed each pair once to the aggregate after the merge.
// Without GROUP BY, the one group exists even for empty input (COUNT(*) = 0).
#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include <cstring>
#include <memory>
#include <new>

#include "expression_executor.h"
#include "large_memory.h"
#include "physical_operator.h"
#include "row_key.h"

namespace sluice::sql {

namespace {

struct AggregateLayout {
  const AggregateFunction* function;
  bool distinct;
  size_t offset;  // of its state inside a group's block
  LogicalType argument_type;
};

using PackedPair = std::pair<uint64_t, uint64_t>;
using PackedPairSet = absl::flat_hash_set<PackedPair, absl::Hash<PackedPair>,
                                          std::equal_to<PackedPair>, LargeAllocator<PackedPair>>;

// Groups by encoded key, each with a block of aggregate states.
class GroupTable {
 public:
  static constexpr size_t kGroupsPerBlock = 1024;

  // The layout is copied: the merged table outlives the operator instance that made it.
  GroupTable(std::vector<AggregateLayout> layout, size_t stride)
      : layout_(std::move(layout)),
        stride_(stride),
        distinct_(layout_.size()),
        packed_distinct_(layout_.size()) {}
  GroupTable(const GroupTable&) = delete;
  ~GroupTable() {
    for (const auto& agg : layout_) {
      if (!agg.function->destroy) continue;
      for (size_t g = 0; g < keys_.size(); ++g) agg.function->destroy(state(g) + agg.offset);
    }
  }

  size_t size() const { return keys_.size(); }
  // A group's key: encoded bytes (row_key.h), or, if packed(group), the packed word's 8 bytes.
  std::string_view key(size_t group) const { return keys_[group]; }
  bool packed(size_t group) const { return packed_[group] != 0; }
  uint64_t packed_key(size_t group) const {
    uint64_t word;
    std::memcpy(&word, keys_[group].data(), 8);
    return word;
  }
  uint8_t* state(size_t group) {
    return blocks_[group / kGroupsPerBlock].get() + (group % kGroupsPerBlock) * stride_;
  }

  size_t find_or_add(std::string_view key) {
    auto it = index_.find(key);
    if (it != index_.end()) return it->second;
    size_t id = add(key, false);
    index_.emplace(keys_.back(), id);
    return id;
  }

  // Keys that pack into a word (PackedKeys): a hash map of words.
  size_t find_or_add_packed(uint64_t key) {
    auto it = packed_index_.find(key);
    if (it != packed_index_.end()) return it->second;
    size_t id = add(std::string_view(reinterpret_cast<const char*>(&key), 8), true);
    packed_index_.emplace(key, id);
    return id;
  }

  // Starts loading the slot of a packed key that find_or_add_packed will look up soon.
  void prefetch_packed(uint64_t key) const { packed_index_.prefetch(key); }

  // A group's identity in DISTINCT sets: which map it is in, and its key.
  std::string identity(size_t group) const {
    std::string out(1, packed(group) ? 'P' : 'S');
    out.append(key(group));
    return out;
  }
  size_t find_or_add_identity(std::string_view identity) {
    std::string_view key = identity.substr(1);
    if (identity[0] == 'P') {
      uint64_t word;
      std::memcpy(&word, key.data(), 8);
      return find_or_add_packed(word);
    }
    return find_or_add(key);
  }

  // DISTINCT aggregate `a`: its (group key, value key) pairs, as one string each.
  absl::flat_hash_set<std::string>& distinct(size_t a) { return distinct_[a]; }
  // DISTINCT aggregate `a` over values that pack into a word (PackedKeys): (group, value) pairs
  // of this table's group numbers, without a string per pair.
  PackedPairSet& packed_distinct(size_t a) { return packed_distinct_[a]; }

 private:
  size_t add(std::string_view key, bool packed) {
    size_t id = keys_.size();
    if (id % kGroupsPerBlock == 0) {
      blocks_.emplace_back(
          static_cast<uint8_t*>(::operator new[](kGroupsPerBlock* stride_, std::align_val_t(16))));
    }
    // The map's key points at the arena's copy.
    char* bytes = arena_.allocate(key.empty() ? 1 : key.size());
    if (!key.empty()) std::memcpy(bytes, key.data(), key.size());
    keys_.emplace_back(bytes, key.size());
    packed_.push_back(packed ? 1 : 0);
    uint8_t* block = state(id);
    for (const auto& agg : layout_) agg.function->initialize(block + agg.offset);
    return id;
  }

  struct AlignedDelete {
    void operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(16)); }
  };

  std::vector<AggregateLayout> layout_;
  size_t stride_;
  // Hash maps and per-group arrays grow into cached huge pages (large_memory.h).
  absl::flat_hash_map<std::string_view, size_t, absl::Hash<std::string_view>,
                      std::equal_to<std::string_view>,
                      LargeAllocator<std::pair<const std::string_view, size_t>>>
      index_;
  absl::flat_hash_map<uint64_t, size_t, absl::Hash<uint64_t>, std::equal_to<uint64_t>,
                      LargeAllocator<std::pair<const uint64_t, size_t>>>
      packed_index_;
  LargeVector<std::string_view> keys_;
  LargeVector<uint8_t> packed_;
  StringHeap arena_;
  std::vector<std::unique_ptr<uint8_t[], AlignedDelete>> blocks_;
  std::vector<absl::flat_hash_set<std::string>> distinct_;
  std::vector<PackedPairSet> packed_distinct_;
};

struct AggregateShared {
  InstanceBarrier barrier;
  // Deposited by the instances; read by all of them while they merge their partitions.
  std::vector<std::unique_ptr<GroupTable>> tables;
};

class HashAggregateOperator : public PhysicalOperator {
 public:
  HashAggregateOperator(const LogicalOperator& plan, PhysicalPlan child, ExecutionContext& context,
                        size_t instance)
      : PhysicalOperator(plan.types()),
        child_(std::move(child)),
        context_(context),
        shared_(context.shared<AggregateShared>(&plan)),
        instance_(instance),
        group_count_(plan.expressions.size()),
        input_(child_->types()) {
    for (const auto& e : plan.expressions) {
      group_exprs_.push_back(std::make_unique<ExpressionExecutor>(*e));
      group_values_.push_back(std::make_unique<Vector>(e->type));
    }
    size_t offset = 0;
    for (const auto& a : plan.aggregates) {
      AggregateLayout layout{a.function.function, a.distinct, offset,
                             a.argument ? a.argument->type : LogicalType::null()};
      // States are 16-byte aligned inside a group's block.
      offset += (layout.function->state_size + 15) / 16 * 16;
      layout_.push_back(layout);
      arguments_.push_back(a.argument ? std::make_unique<ExpressionExecutor>(*a.argument)
                                      : nullptr);
      values_.push_back(a.argument ? std::make_unique<Vector>(a.argument->type) : nullptr);
      bool packs = a.distinct && a.argument && PackedKeys::packable({a.argument->type});
      distinct_packers_.push_back(
          packs ? std::make_unique<PackedKeys>(std::vector<LogicalType>{a.argument->type})
                : nullptr);
    }
    stride_ = std::max<size_t>(offset, 16);
    std::vector<LogicalType> key_types;
    for (const auto& e : plan.expressions) key_types.push_back(e->type);
    if (PackedKeys::packable(key_types)) packed_keys_ = std::make_unique<PackedKeys>(key_types);
    states_.resize(kBatchSize);
    offset_states_.resize(kBatchSize);
    group_ids_.resize(kBatchSize);
  }

  bool next(DataChunk& out) override {
    if (!built_) build();
    out.reset();
    GroupTable& table = *partition_;
    size_t end = table.size();
    if (emitted_ >= end) return false;
    size_t n = std::min(kBatchSize, end - emitted_);
    std::vector<Vector*> key_columns;
    for (size_t k = 0; k < group_count_; ++k) key_columns.push_back(&out.column(k));
    for (size_t i = 0; i < n; ++i) {
      size_t group = emitted_ + i;
      if (table.packed(group)) {
        packed_keys_->unpack(table.packed_key(group), key_columns, i);
      } else {
        decode_row_key(table.key(group), key_columns, i);
      }
      states_[i] = table.state(group);
    }
    for (size_t a = 0; a < layout_.size(); ++a) {
      const AggregateLayout& agg = layout_[a];
      for (size_t i = 0; i < n; ++i) offset_states_[i] = states_[i] + agg.offset;
      agg.function->finalize(*agg.function, offset_states_.data(), n, out.column(group_count_ + a));
    }
    emitted_ += n;
    out.set_size(n);
    return true;
  }

 private:
  void build() {
    built_ = true;
    auto local = std::make_unique<GroupTable>(layout_, stride_);
    std::vector<const Vector*> key_columns;
    for (auto& v : group_values_) key_columns.push_back(v.get());
    while (child_->next(input_)) {
      size_t n = input_.size();
      if (n == 0) continue;
      for (size_t k = 0; k < group_count_; ++k) {
        group_values_[k]->reset();
        group_exprs_[k]->execute(input_, *group_values_[k]);
      }
      if (packed_keys_) {
        packed_keys_->pack(key_columns, n);
        bool encoded = false;
        // Slots are looked up a few rows ahead, so that their cache misses overlap.
        constexpr size_t kAhead = 16;
        for (size_t i = 0; i < std::min(n, kAhead); ++i) {
          local->prefetch_packed(packed_keys_->key(i));
        }
        for (size_t i = 0; i < n; ++i) {
          if (i + kAhead < n) local->prefetch_packed(packed_keys_->key(i + kAhead));
          size_t id;
          if (!packed_keys_->has_null(i)) {
            id = local->find_or_add_packed(packed_keys_->key(i));
          } else {
            // A NULL in the key: the byte-string form, which tells NULL from 0.
            if (!encoded) encoder_.encode(key_columns, n);
            encoded = true;
            id = local->find_or_add(encoder_.key(i));
          }
          group_ids_[i] = id;
          states_[i] = local->state(id);
        }
      } else {
        encoder_.encode(key_columns, n);
        for (size_t i = 0; i < n; ++i) {
          size_t id = local->find_or_add(encoder_.key(i));
          group_ids_[i] = id;
          states_[i] = local->state(id);
        }
      }
      for (size_t a = 0; a < layout_.size(); ++a) update(*local, a, n);
    }
    shared_.barrier.arrive(
        context_, [&] { shared_.tables.push_back(std::move(local)); }, [] {});
    merge_partition();
  }

  void update(GroupTable& table, size_t a, size_t n) {
    const AggregateLayout& agg = layout_[a];
    const Vector* value = nullptr;
    if (arguments_[a]) {
      values_[a]->reset();
      arguments_[a]->execute(input_, *values_[a]);
      value = values_[a].get();
    }
    if (!agg.distinct) {
      for (size_t i = 0; i < n; ++i) offset_states_[i] = states_[i] + agg.offset;
      agg.function->update(*agg.function, offset_states_.data(), value, n);
      return;
    }
    // DISTINCT: remember the (group, value) pairs; the aggregate sees them after the merge.
    std::vector<const Vector*> columns{value};
    if (distinct_packers_[a]) {
      PackedKeys& packer = *distinct_packers_[a];
      packer.pack(columns, n);
      auto& pairs = table.packed_distinct(a);
      for (size_t i = 0; i < n; ++i) {
        if (!packer.has_null(i)) pairs.insert({group_ids_[i], packer.key(i)});
      }
      return;
    }
    distinct_encoder_.encode(columns, n);
    auto& set = table.distinct(a);
    for (size_t i = 0; i < n; ++i) {
      if (!value->is_valid(value->is_constant() ? 0 : i)) continue;
      std::string group = table.identity(group_ids_[i]);
      std::string entry;
      uint32_t group_size = static_cast<uint32_t>(group.size());
      entry.append(reinterpret_cast<const char*>(&group_size), 4);
      entry.append(group);
      entry.append(distinct_encoder_.key(i));
      set.insert(std::move(entry));
    }
  }

  // Which instance merges a group: by the hash of its key, so that each group has one owner.
  size_t owner(bool packed, uint64_t word, std::string_view key) const {
    size_t h = packed ? absl::Hash<uint64_t>()(word) : absl::Hash<std::string_view>()(key);
    return h % context_.parallelism();
  }

  // Every instance, in parallel: the groups it owns from every instance's table, combined into
  // a table of its own, then its DISTINCT pairs fed to their aggregates.
  void merge_partition() {
    partition_ = std::make_unique<GroupTable>(layout_, stride_);
    GroupTable& part = *partition_;
    size_t total = 0;
    for (const auto& table : shared_.tables) {
      GroupTable& t = *table;
      total += t.size();
      for (size_t g = 0; g < t.size(); ++g) {
        bool packed = t.packed(g);
        uint64_t word = packed ? t.packed_key(g) : 0;
        if (owner(packed, word, t.key(g)) != instance_) continue;
        size_t id = packed ? part.find_or_add_packed(word) : part.find_or_add(t.key(g));
        uint8_t* target = part.state(id);
        const uint8_t* source = t.state(g);
        for (const auto& agg : layout_) {
          if (!agg.distinct) agg.function->combine(target + agg.offset, source + agg.offset);
        }
      }
    }
    // Without GROUP BY, the one group exists even for no rows; instance 0 makes it.
    if (group_count_ == 0 && total == 0 && instance_ == 0) part.find_or_add(std::string_view());
    for (size_t a = 0; a < layout_.size(); ++a) {
      if (!layout_[a].distinct) continue;
      Vector value(layout_[a].argument_type);
      std::vector<Vector*> columns{&value};
      absl::flat_hash_set<std::string_view> seen;
      size_t n = 0;
      auto flush = [&] {
        if (n == 0) return;
        layout_[a].function->update(*layout_[a].function, offset_states_.data(), &value, n);
        value.reset();
        n = 0;
      };
      if (distinct_packers_[a]) {
        merge_packed_distinct(a, part, columns, n, flush);
        flush();
        continue;
      }
      for (const auto& table : shared_.tables) {
        for (const std::string& entry : table->distinct(a)) {
          uint32_t group_size;
          std::memcpy(&group_size, entry.data(), 4);
          std::string_view group(entry.data() + 4, group_size);
          bool packed = group[0] == 'P';
          uint64_t word = 0;
          if (packed) std::memcpy(&word, group.data() + 1, 8);
          if (owner(packed, word, group.substr(1)) != instance_) continue;
          // The same (group, value) may come from several instances: count it once.
          if (!seen.insert(entry).second) continue;
          std::string_view value_key(entry.data() + 4 + group_size, entry.size() - 4 - group_size);
          offset_states_[n] = part.state(part.find_or_add_identity(group)) + layout_[a].offset;
          decode_row_key(value_key, columns, n);
          if (++n == kBatchSize) flush();
        }
      }
      flush();
    }
  }

  // The packed (group, value) pairs of DISTINCT aggregate `a` whose group this instance owns,
  // each once, fed to the aggregate a batch at a time through `flush`.
  template <typename Flush>
  void merge_packed_distinct(size_t a, GroupTable& part, std::vector<Vector*>& columns, size_t& n,
                             Flush& flush) {
    PackedPairSet seen;
    for (const auto& table : shared_.tables) {
      GroupTable& t = *table;
      for (const auto& [group, word] : t.packed_distinct(a)) {
        bool packed = t.packed(group);
        uint64_t group_word = packed ? t.packed_key(group) : 0;
        if (owner(packed, group_word, t.key(group)) != instance_) continue;
        size_t id = packed ? part.find_or_add_packed(group_word) : part.find_or_add(t.key(group));
        // The same (group, value) may come from several instances: count it once.
        if (!seen.insert({id, word}).second) continue;
        offset_states_[n] = part.state(id) + layout_[a].offset;
        distinct_packers_[a]->unpack(word, columns, n);
        if (++n == kBatchSize) flush();
      }
    }
  }

  PhysicalPlan child_;
  ExecutionContext& context_;
  AggregateShared& shared_;
  size_t instance_;
  size_t group_count_;
  DataChunk input_;
  std::vector<std::unique_ptr<ExpressionExecutor>> group_exprs_;
  std::vector<std::unique_ptr<Vector>> group_values_;
  std::vector<AggregateLayout> layout_;
  std::vector<std::unique_ptr<ExpressionExecutor>> arguments_;
  std::vector<std::unique_ptr<Vector>> values_;
  size_t stride_ = 16;
  RowKeyEncoder encoder_;
  std::unique_ptr<PackedKeys> packed_keys_;
  RowKeyEncoder distinct_encoder_;
  std::vector<std::unique_ptr<PackedKeys>> distinct_packers_;  // DISTINCT values that pack
  std::vector<uint8_t*> states_;
  std::vector<uint8_t*> offset_states_;
  std::vector<size_t> group_ids_;
  std::unique_ptr<GroupTable> partition_;  // the groups this instance owns, after the merge
  bool built_ = false;
  size_t emitted_ = 0;
};

}  // namespace

PhysicalPlan make_hash_aggregate(const LogicalOperator& plan, PhysicalPlan child,
                                 ExecutionContext& context, size_t instance) {
  return std::make_unique<HashAggregateOperator>(plan, std::move(child), context, instance);
}

}  // namespace sluice::sql
