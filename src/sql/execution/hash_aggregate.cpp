// Hash aggregation: GROUP BY keys (and DISTINCT) into a hash table of encoded row keys (or of
// packed integer words), each group owning a block of aggregate states; aggregates are updated a
// batch at a time through arrays of state pointers. In parallel, each instance aggregates its part
// of the input into a table of its own; once all have, each instance merges the groups it owns
// (by the hash of their key) from every table, in parallel, and emits them. DISTINCT aggregates
// collect their (group, value) pairs and feed each pair once to the aggregate after the merge.
// Without GROUP BY, the one group exists even for empty input (COUNT(*) = 0).
//
// Spilling: each instance holds its table under a memory reservation (spill.h). When the table
// outgrows it, the instance writes every group (its key and partial aggregate states) and every
// DISTINCT pair to one of kSpillPartitions files by the hash of the group key, and starts a new
// table. If any instance spilled, all write what they still hold, and each instance then
// aggregates its partitions (partition p belongs to instance p % parallelism) one at a time from
// the files of every instance: combining partial states, feeding DISTINCT pairs once each. Memory
// is then one partition's groups at a time.
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

// Blocks of aggregate states are 16-byte aligned.
struct AlignedDelete {
  void operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(16)); }
};

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

  // An estimate of the memory the table holds.
  size_t memory_bytes() const {
    size_t bytes = keys_.capacity() * sizeof(std::string_view) + packed_.capacity() +
                   blocks_.size() * kGroupsPerBlock * stride_ + arena_.bytes_used() +
                   index_.capacity() * (sizeof(std::pair<std::string_view, size_t>) + 1) +
                   packed_index_.capacity() * (sizeof(std::pair<uint64_t, size_t>) + 1) +
                   distinct_bytes_;
    for (const auto& set : distinct_) bytes += set.capacity() * (sizeof(std::string) + 1);
    for (const auto& set : packed_distinct_) bytes += set.capacity() * (sizeof(PackedPair) + 1);
    return bytes;
  }
  // String bytes of DISTINCT entries that do not fit inside a std::string.
  void add_distinct_bytes(size_t bytes) { distinct_bytes_ += bytes; }

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
  size_t distinct_bytes_ = 0;
};

constexpr size_t kSpillPartitions = 16;

// Spill records: a group, or one DISTINCT (group, value) pair.
enum SpillRecord : uint8_t { kGroupRecord = 0, kDistinctRecord = 1 };

struct AggregateShared {
  InstanceBarrier barrier;
  InstanceBarrier flushed;
  // Deposited by the instances; read by all of them while they merge their partitions.
  std::vector<std::unique_ptr<GroupTable>> tables;
  bool spilled = false;
  // After a spill: every instance's files of each partition.
  std::vector<std::unique_ptr<SpillFile>> files[kSpillPartitions];
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
        input_(child_->types()),
        reservation_(context.budget()) {
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
    // One group (no GROUP BY) has nothing to partition; owning states spill only if serializable.
    can_spill_ = group_count_ > 0;
    for (const auto& agg : layout_) {
      if (agg.function->destroy && !agg.function->serialize) can_spill_ = false;
    }
    scratch_state_.reset(static_cast<uint8_t*>(::operator new[](stride_, std::align_val_t(16))));
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
    while (emitted_ >= partition_->size()) {
      if (!shared_.spilled || next_partition_ >= kSpillPartitions) return false;
      merge_spilled_partition(next_partition_);
      next_partition_ += context_.parallelism();
      emitted_ = 0;
    }
    GroupTable& table = *partition_;
    size_t end = table.size();
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
      if (can_spill_ && !reservation_.try_resize(local->memory_bytes())) {
        spill_table(*local);
        local = std::make_unique<GroupTable>(layout_, stride_);
        reservation_.resize_to_zero();
      }
    }
    bool spilled = !spill_files_.empty();
    GroupTable* mine = local.get();
    shared_.barrier.arrive(
        context_,
        [&] {
          shared_.tables.push_back(std::move(local));
          shared_.spilled |= spilled;
        },
        [] {});
    if (!shared_.spilled) {
      merge_partition();
      // Counted for the query's peak: the merged groups live beside the instances' tables.
      reservation_.force_resize(reservation_.bytes() + partition_->memory_bytes());
      return;
    }
    // Every partition goes to the files, so that one instance reads all of it from there.
    spill_table(*mine);
    for (auto& file : spill_files_) {
      if (file) file->finish_writing();
    }
    shared_.flushed.arrive(
        context_,
        [&] {
          // An instance with no groups at all has no files.
          for (size_t p = 0; p < spill_files_.size(); ++p) {
            if (spill_files_[p]) shared_.files[p].push_back(std::move(spill_files_[p]));
          }
        },
        [&] { shared_.tables.clear(); });
    reservation_.resize_to_zero();
    partition_ = std::make_unique<GroupTable>(layout_, stride_);
    next_partition_ = instance_;
  }

  // The partition of a group's key among kSpillPartitions (independent of owner()'s bits).
  static size_t spill_partition(bool packed, uint64_t word, std::string_view key) {
    size_t h = packed ? absl::Hash<uint64_t>()(word) : absl::Hash<std::string_view>()(key);
    return static_cast<size_t>(static_cast<uint64_t>(h) >> 60) % kSpillPartitions;
  }

  SpillFile& spill_file(size_t partition) {
    if (spill_files_.empty()) spill_files_.resize(kSpillPartitions);
    auto& file = spill_files_[partition];
    if (!file) file = context_.new_spill_file();
    return *file;
  }

  // Writes every group and DISTINCT pair of `table` to the partition files.
  void spill_table(GroupTable& table) {
    std::string bytes;
    for (size_t g = 0; g < table.size(); ++g) {
      bool packed = table.packed(g);
      std::string_view key = table.key(g);
      SpillFile& file = spill_file(spill_partition(packed, packed ? table.packed_key(g) : 0, key));
      uint8_t header[2] = {kGroupRecord, static_cast<uint8_t>(packed)};
      uint32_t key_size = static_cast<uint32_t>(key.size());
      file.write(header, 2);
      file.write(&key_size, 4);
      file.write(key.data(), key.size());
      const uint8_t* state = table.state(g);
      for (const auto& agg : layout_) {
        if (agg.distinct) continue;
        if (!agg.function->serialize) {
          file.write(state + agg.offset, agg.function->state_size);
          continue;
        }
        bytes.clear();
        agg.function->serialize(state + agg.offset, bytes);
        uint32_t size = static_cast<uint32_t>(bytes.size());
        file.write(&size, 4);
        file.write(bytes.data(), bytes.size());
      }
    }
    for (size_t a = 0; a < layout_.size(); ++a) {
      if (!layout_[a].distinct) continue;
      for (const auto& [group, word] : table.packed_distinct(a)) {
        write_distinct(a, table.identity(group), true,
                       std::string_view(reinterpret_cast<const char*>(&word), 8));
      }
      for (const std::string& entry : table.distinct(a)) {
        uint32_t group_size;
        std::memcpy(&group_size, entry.data(), 4);
        write_distinct(a, std::string_view(entry.data() + 4, group_size), false,
                       std::string_view(entry).substr(4 + group_size));
      }
    }
  }

  // A DISTINCT pair: the group's identity (GroupTable::identity) and the value's key (a packed
  // word's 8 bytes, or encoded bytes).
  void write_distinct(size_t a, std::string_view identity, bool packed_value,
                      std::string_view value) {
    bool packed_group = identity[0] == 'P';
    uint64_t word = 0;
    if (packed_group) std::memcpy(&word, identity.data() + 1, 8);
    SpillFile& file = spill_file(spill_partition(packed_group, word, identity.substr(1)));
    uint8_t header[4] = {kDistinctRecord, static_cast<uint8_t>(a & 0xff),
                         static_cast<uint8_t>(a >> 8), static_cast<uint8_t>(packed_value)};
    uint32_t sizes[2] = {static_cast<uint32_t>(identity.size()),
                         static_cast<uint32_t>(value.size())};
    file.write(header, 4);
    file.write(sizes, 8);
    file.write(identity.data(), identity.size());
    file.write(value.data(), value.size());
  }

  // After a spill: partition `p`'s groups from every instance's files, combined into partition_.
  void merge_spilled_partition(size_t p) {
    partition_ = std::make_unique<GroupTable>(layout_, stride_);
    GroupTable& part = *partition_;
    std::string key;
    std::string bytes;
    std::string identity;
    // Per DISTINCT aggregate: pairs waiting to be fed, a batch at a time.
    std::vector<std::unique_ptr<Vector>> pending(layout_.size());
    std::vector<std::vector<uint8_t*>> pending_states(layout_.size());
    std::vector<size_t> pending_count(layout_.size(), 0);
    auto flush = [&](size_t a) {
      if (pending_count[a] == 0) return;
      layout_[a].function->update(*layout_[a].function, pending_states[a].data(), pending[a].get(),
                                  pending_count[a]);
      pending[a]->reset();
      pending_count[a] = 0;
    };
    absl::flat_hash_set<std::string> seen;
    std::vector<Vector*> columns(1);  // the value column being decoded into
    for (auto& file_pointer : shared_.files[p]) {
      SpillFile& file = *file_pointer;
      uint8_t tag;
      while (file.read(&tag, 1)) {
        if (tag == kGroupRecord) {
          uint8_t packed;
          uint32_t key_size;
          file.read_exact(&packed, 1);
          file.read_exact(&key_size, 4);
          key.resize(key_size);
          file.read_exact(key.data(), key_size);
          uint64_t word = 0;
          if (packed) std::memcpy(&word, key.data(), 8);
          uint8_t* target =
              part.state(packed ? part.find_or_add_packed(word) : part.find_or_add(key));
          for (const auto& agg : layout_) {
            if (agg.distinct) continue;
            uint8_t* scratch = scratch_state_.get();
            if (!agg.function->serialize) {
              file.read_exact(scratch, agg.function->state_size);
              agg.function->combine(target + agg.offset, scratch);
              continue;
            }
            uint32_t size;
            file.read_exact(&size, 4);
            bytes.resize(size);
            file.read_exact(bytes.data(), size);
            agg.function->initialize(scratch);
            agg.function->deserialize(scratch, bytes);
            agg.function->combine(target + agg.offset, scratch);
            if (agg.function->destroy) agg.function->destroy(scratch);
          }
          continue;
        }
        uint8_t header[3];
        uint32_t sizes[2];
        file.read_exact(header, 3);
        file.read_exact(sizes, 8);
        size_t a = header[0] | size_t{header[1]} << 8;
        bool packed_value = header[2] != 0;
        // The record's bytes identify the (aggregate, group, value): count each once.
        bytes.assign(reinterpret_cast<const char*>(header), 3);
        bytes.append(reinterpret_cast<const char*>(sizes), 8);
        size_t fixed = bytes.size();
        bytes.resize(fixed + sizes[0] + sizes[1]);
        file.read_exact(bytes.data() + fixed, sizes[0] + sizes[1]);
        if (!seen.insert(bytes).second) continue;
        identity.assign(bytes, fixed, sizes[0]);
        std::string_view value(bytes.data() + fixed + sizes[0], sizes[1]);
        if (!pending[a]) {
          pending[a] = std::make_unique<Vector>(layout_[a].argument_type);
          pending_states[a].resize(kBatchSize);
        }
        size_t n = pending_count[a];
        pending_states[a][n] = part.state(part.find_or_add_identity(identity)) + layout_[a].offset;
        columns[0] = pending[a].get();
        if (packed_value) {
          uint64_t word;
          std::memcpy(&word, value.data(), 8);
          distinct_packers_[a]->unpack(word, columns, n);
        } else {
          decode_row_key(value, columns, n);
        }
        if (++pending_count[a] == kBatchSize) flush(a);
      }
      // Read once: its disk space goes back now.
      file_pointer.reset();
    }
    for (size_t a = 0; a < layout_.size(); ++a) flush(a);
    reservation_.force_resize(part.memory_bytes());
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
      size_t size = entry.size();
      // Strings beyond the small-string buffer own a heap block.
      if (set.insert(std::move(entry)).second && size > 15) table.add_distinct_bytes(size);
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
  MemoryReservation reservation_;
  bool can_spill_ = false;
  std::vector<std::unique_ptr<SpillFile>> spill_files_;  // by partition, once this instance spills
  size_t next_partition_ = kSpillPartitions;             // after a spill: the next one to merge
  std::unique_ptr<uint8_t[], AlignedDelete> scratch_state_;  // a state read back from a file
};

}  // namespace

PhysicalPlan make_hash_aggregate(const LogicalOperator& plan, PhysicalPlan child,
                                 ExecutionContext& context, size_t instance) {
  return std::make_unique<HashAggregateOperator>(plan, std::move(child), context, instance);
}

}  // namespace sluice::sql
