// Hash join: the right input is the build side, materialized and indexed by its encoded key
// columns; the left input streams through as the probe side. Candidate pairs are assembled a
// batch at a time as (left columns ++ right columns) chunks, so the residual (non-equi)
// condition is evaluated vectorized over them. The same operator does every join kind: inner,
// left/right/full outer (with matched flags for unmatched rows), semi and anti (the probe rows
// with or without a match; NOT IN's null-aware anti join), and joins without equi keys (every
// build row has the empty key: a nested-loop join).
#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <deque>

#include "expression_executor.h"
#include "physical_operator.h"
#include "row_key.h"
#include "sluice/core/error.h"

namespace sluice::sql {

namespace {

constexpr uint64_t kEndOfChain = UINT64_MAX;

// The build side, shared by every instance: built once from all instances' right inputs, then
// probed by all of them.
struct JoinShared {
  InstanceBarrier built;
  InstanceBarrier probed;
  std::vector<ChunkCollection> parts;
  ChunkCollection build_side;
  std::vector<uint64_t> refs;  // build rows in build order
  std::vector<uint64_t> next;  // chains: index into refs
  absl::flat_hash_map<std::string_view, uint64_t> table;
  absl::flat_hash_map<uint64_t, uint64_t> packed_table;  // keys that pack into a word
  StringHeap key_arena;
  bool has_null_key = false;
  absl::flat_hash_set<uint64_t> null_key_rows;  // reversed NOT IN: build rows with a NULL key
  std::vector<uint8_t> matched;  // right, full and reversed joins: build rows any instance matched
  std::atomic<uint64_t> probe_rows{0};          // reversed joins: rows that probed
  std::atomic<bool> probe_has_null_key{false};  // reversed NOT IN: a NULL on the probe side
};

class HashJoinOperator : public PhysicalOperator {
 public:
  HashJoinOperator(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right,
                   ExecutionContext& context)
      : PhysicalOperator(plan.types()),
        context_(context),
        shared_(context.shared<JoinShared>(&plan)),
        kind_(plan.join_kind == JoinKind::kCross ? JoinKind::kInner : plan.join_kind),
        null_aware_(plan.null_aware),
        single_row_(plan.limit.has_value()),
        // A semi or anti join may build on its left (smaller) side and stream the right one
        // through it; its result is then the left rows marked as matched, once all have probed.
        reversed_(plan.build_left && (kind_ == JoinKind::kSemi || kind_ == JoinKind::kAnti)),
        probe_child_(reversed_ ? std::move(right) : std::move(left)),
        build_child_(reversed_ ? std::move(left) : std::move(right)),
        probe_(probe_child_->types()) {
    const auto& probe_keys = reversed_ ? plan.right_keys : plan.left_keys;
    const auto& build_keys = reversed_ ? plan.left_keys : plan.right_keys;
    for (const auto& k : probe_keys) {
      probe_key_exprs_.push_back(std::make_unique<ExpressionExecutor>(*k));
      probe_key_values_.push_back(std::make_unique<Vector>(k->type));
    }
    for (const auto& k : build_keys) {
      build_key_exprs_.push_back(std::make_unique<ExpressionExecutor>(*k));
      build_key_values_.push_back(std::make_unique<Vector>(k->type));
    }
    // Pairs are always (left columns ++ right columns), as the residual condition reads them.
    const PhysicalPlan& left_child = reversed_ ? build_child_ : probe_child_;
    const PhysicalPlan& right_child = reversed_ ? probe_child_ : build_child_;
    std::vector<LogicalType> pair_types = left_child->types();
    for (const auto& t : right_child->types()) pair_types.push_back(t);
    pairs_.initialize(pair_types);
    probe_offset_ = reversed_ ? left_child->types().size() : 0;
    build_offset_ = reversed_ ? 0 : left_child->types().size();
    if (plan.predicate) residual_ = std::make_unique<ExpressionExecutor>(*plan.predicate);
    std::vector<LogicalType> key_types;
    for (const auto& k : build_keys) key_types.push_back(k->type);
    if (PackedKeys::packable(key_types)) packed_ = std::make_unique<PackedKeys>(key_types);
    pair_probe_row_.resize(kBatchSize);
    pair_build_index_.resize(kBatchSize);
  }

  bool next(DataChunk& out) override {
    if (!built_) build();
    while (ready_.empty()) {
      if (probe_done_) {
        if (!emitted_unmatched_build_) emit_unmatched_build();
        if (ready_.empty()) {
          out.reset();
          return false;
        }
        break;
      }
      probe_next();
    }
    // Hand the chunk over by swapping buffers; out's old buffers are reused for later output.
    std::swap(out, *ready_.front());
    free_.push_back(std::move(ready_.front()));
    ready_.pop_front();
    return true;
  }

 private:
  bool emits_right_columns() const { return kind_ != JoinKind::kSemi && kind_ != JoinKind::kAnti; }

  void build() {
    built_ = true;
    ChunkCollection local;
    local.consume(*build_child_);
    shared_.built.arrive(
        context_, [&] { shared_.parts.push_back(std::move(local)); }, [&] { build_table(); });
    matched_build_.assign(shared_.refs.size(), 0);
  }

  // The last instance to arrive: all build rows into one hash table.
  void build_table() {
    JoinShared& s = shared_;
    for (auto& part : s.parts) s.build_side.append(std::move(part));
    s.parts.clear();
    if (single_row_ && s.build_side.rows > 1) {
      throw Error(ErrorCategory::kBadInput,
                  fmt::format("a scalar subquery returned {} rows; it must return at most one",
                              s.build_side.rows));
    }
    std::vector<const Vector*> key_columns;
    for (auto& v : build_key_values_) key_columns.push_back(v.get());
    s.refs.reserve(s.build_side.rows);
    s.next.reserve(s.build_side.rows);
    for (size_t c = 0; c < s.build_side.chunks.size(); ++c) {
      DataChunk& chunk = *s.build_side.chunks[c];
      for (size_t k = 0; k < build_key_exprs_.size(); ++k) {
        build_key_values_[k]->reset();
        build_key_exprs_[k]->execute(chunk, *build_key_values_[k]);
      }
      if (packed_) {
        packed_->pack(key_columns, chunk.size());
      } else {
        encoder_.encode(key_columns, chunk.size());
      }
      for (size_t r = 0; r < chunk.size(); ++r) {
        size_t index = s.refs.size();
        s.refs.push_back((uint64_t{c} << 32) | r);
        s.next.push_back(kEndOfChain);
        if (packed_ ? packed_->has_null(r) : encoder_.has_null(r)) {
          // A NULL key never equals anything; NOT IN over a list with a NULL is never true.
          s.has_null_key = true;
          if (reversed_ && null_aware_) s.null_key_rows.insert(s.refs.back());
          continue;
        }
        uint64_t* head;
        if (packed_) {
          head = &s.packed_table.try_emplace(packed_->key(r), kEndOfChain).first->second;
        } else {
          std::string_view key = encoder_.key(r);
          auto it = s.table.find(key);
          if (it == s.table.end()) {
            char* bytes = s.key_arena.allocate(key.empty() ? 1 : key.size());
            if (!key.empty()) std::memcpy(bytes, key.data(), key.size());
            it = s.table.emplace(std::string_view(bytes, key.size()), kEndOfChain).first;
          }
          head = &it->second;
        }
        s.next[index] = *head;
        *head = index;
      }
    }
    s.matched.assign(s.refs.size(), 0);
  }

  DataChunk& new_output() {
    if (free_.empty()) {
      ready_.push_back(std::make_unique<DataChunk>(types_));
    } else {
      ready_.push_back(std::move(free_.back()));
      free_.pop_back();
      ready_.back()->reset();
    }
    return *ready_.back();
  }

  // Evaluates the pairs gathered so far: the residual condition, then the output and the
  // matched flags.
  void flush_pairs() {
    size_t n = pair_count_;
    if (n == 0) return;
    materialize_pairs(n);
    size_t kept = n;
    const uint32_t* sel = nullptr;
    if (residual_) {
      kept = residual_->select(pairs_, sel_.data());
      sel = sel_.data();
    }
    for (size_t i = 0; i < kept; ++i) {
      size_t p = sel ? sel[i] : i;
      probe_matched_[pair_probe_row_[p]] = 1;
      matched_build_[pair_build_index_[p]] = 1;
    }
    if (emits_right_columns() && kept > 0) {
      DataChunk& out = new_output();
      if (sel) {
        out.slice(pairs_, sel, kept);
      } else {
        for (size_t c = 0; c < out.column_count(); ++c)
          out.column(c).copy_from(pairs_.column(c), n);
        out.set_size(n);
      }
    }
    pairs_.reset();
    pair_count_ = 0;
  }

  // Build column `c` of the pairs' build rows into `out`.
  template <typename T>
  void gather_build(Vector& out, size_t c, size_t n) {
    T* target = out.data<T>();
    for (size_t i = 0; i < n; ++i) {
      uint64_t ref = shared_.refs[pair_build_index_[i]];
      const Vector& source = shared_.build_side.column(ref, c);
      size_t row = ChunkCollection::row_of(ref);
      if (!source.is_valid(row)) {
        out.set_null(i);
        continue;
      }
      if constexpr (std::is_same_v<T, StringRef>) {
        // Copied: pointing into the build side's many heaps would keep a list of them per batch.
        const StringRef& s = source.data<StringRef>()[row];
        target[i] = s.is_inlined() ? s : out.heap().add(s.view());
      } else {
        target[i] = source.data<T>()[row];
      }
    }
  }

  // The pairs as (probe columns ++ build columns), column by column.
  void materialize_pairs(size_t n) {
    for (size_t i = 0; i < n; ++i) probe_sel_.data()[i] = static_cast<uint32_t>(pair_probe_row_[i]);
    for (size_t c = 0; c < probe_.column_count(); ++c) {
      pairs_.column(probe_offset_ + c).gather(probe_.column(c), probe_sel_.data(), n);
    }
    for (size_t c = 0; c < build_child_->types().size(); ++c) {
      Vector& out = pairs_.column(build_offset_ + c);
      out.reset();
      switch (physical_width(out.physical())) {
        case 1:
          gather_build<uint8_t>(out, c, n);
          break;
        case 2:
          gather_build<uint16_t>(out, c, n);
          break;
        case 4:
          gather_build<uint32_t>(out, c, n);
          break;
        case 8:
          gather_build<uint64_t>(out, c, n);
          break;
        default:
          if (out.physical() == PhysicalType::kString) {
            gather_build<StringRef>(out, c, n);
          } else {
            gather_build<int128_t>(out, c, n);
          }
          break;
      }
    }
    pairs_.set_size(n);
  }

  void add_pair(size_t probe_row, uint64_t build_index) {
    pair_probe_row_[pair_count_] = probe_row;
    pair_build_index_[pair_count_] = build_index;
    if (++pair_count_ == kBatchSize) flush_pairs();
  }

  void probe_next() {
    if (!probe_child_->next(probe_)) {
      probe_done_ = true;
      return;
    }
    size_t n = probe_.size();
    if (n == 0) return;
    for (size_t c = 0; c < probe_.column_count(); ++c) probe_.column(c).flatten(n);
    std::vector<const Vector*> key_columns;
    for (size_t k = 0; k < probe_key_exprs_.size(); ++k) {
      probe_key_values_[k]->reset();
      probe_key_exprs_[k]->execute(probe_, *probe_key_values_[k]);
      key_columns.push_back(probe_key_values_[k].get());
    }
    if (packed_) {
      packed_->pack(key_columns, n);
    } else {
      encoder_.encode(key_columns, n);
    }
    probe_matched_.assign(n, 0);
    bool needs_pairs = emits_right_columns() || residual_ != nullptr;
    if (reversed_) {
      shared_.probe_rows.fetch_add(n, std::memory_order_relaxed);
      for (size_t r = 0; r < n; ++r) {
        if (packed_ ? packed_->has_null(r) : encoder_.has_null(r)) {
          shared_.probe_has_null_key.store(true, std::memory_order_relaxed);
          break;
        }
      }
    }
    for (size_t r = 0; r < n; ++r) {
      uint64_t head;
      if (packed_) {
        if (packed_->has_null(r)) continue;
        auto it = shared_.packed_table.find(packed_->key(r));
        if (it == shared_.packed_table.end()) continue;
        head = it->second;
      } else {
        if (encoder_.has_null(r)) continue;
        auto it = shared_.table.find(encoder_.key(r));
        if (it == shared_.table.end()) continue;
        head = it->second;
      }
      if (!needs_pairs) {
        probe_matched_[r] = 1;
        if (reversed_) {
          // Every build row of the chain has a match.
          for (uint64_t b = head; b != kEndOfChain; b = shared_.next[b]) matched_build_[b] = 1;
        }
        continue;
      }
      for (uint64_t b = head; b != kEndOfChain; b = shared_.next[b]) {
        add_pair(r, b);
        // A semi or anti join needs one match per probe row, not all of them.
        if (!emits_right_columns() && !residual_ && !reversed_) break;
      }
    }
    flush_pairs();
    if (!reversed_) emit_probe_side_rows(n);
  }

  // Probe rows without a match (outer, anti) or with one (semi).
  void emit_probe_side_rows(size_t n) {
    size_t count = 0;
    switch (kind_) {
      case JoinKind::kLeft:
      case JoinKind::kFull: {
        for (size_t r = 0; r < n; ++r) {
          if (!probe_matched_[r]) sel_.data()[count++] = static_cast<uint32_t>(r);
        }
        if (count == 0) return;
        DataChunk& out = new_output();
        size_t left_width = probe_.column_count();
        for (size_t c = 0; c < left_width; ++c)
          out.column(c).gather(probe_.column(c), sel_.data(), count);
        for (size_t c = left_width; c < out.column_count(); ++c) {
          for (size_t i = 0; i < count; ++i) out.column(c).set_null(i);
        }
        out.set_size(count);
        return;
      }
      case JoinKind::kSemi:
        for (size_t r = 0; r < n; ++r) {
          if (probe_matched_[r]) sel_.data()[count++] = static_cast<uint32_t>(r);
        }
        break;
      case JoinKind::kAnti:
        for (size_t r = 0; r < n; ++r) {
          if (probe_matched_[r]) continue;
          if (null_aware_) {
            // x NOT IN (list): unknown (not true) if the list holds a NULL, or if x is NULL and
            // the list is not empty.
            if (shared_.has_null_key) continue;
            bool null_key = packed_ ? packed_->has_null(r) : encoder_.has_null(r);
            if (null_key && !shared_.refs.empty()) continue;
          }
          sel_.data()[count++] = static_cast<uint32_t>(r);
        }
        break;
      default:
        return;
    }
    if (count == 0) return;
    DataChunk& out = new_output();
    out.slice(probe_, sel_.data(), count);
  }

  // Right and full joins: after every instance has probed, the build rows none matched, once.
  void emit_unmatched_build() {
    emitted_unmatched_build_ = true;
    if (reversed_) {
      emit_marked_build_rows();
      return;
    }
    if (kind_ != JoinKind::kRight && kind_ != JoinKind::kFull) return;
    shared_.probed.arrive(
        context_, [&] { merge_matched(); },
        [&] {
          size_t left_width = probe_child_->types().size();
          DataChunk* out = nullptr;
          for (size_t b = 0; b < shared_.refs.size(); ++b) {
            if (!shared_.matched[b]) append_build_row(out, shared_.refs[b], left_width);
          }
        });
  }

  void merge_matched() {
    for (size_t b = 0; b < matched_build_.size(); ++b) shared_.matched[b] |= matched_build_[b];
  }

  // Appends build row `ref` to the output at column `offset`, the columns before it NULL.
  void append_build_row(DataChunk*& out, uint64_t ref, size_t offset) {
    if (!out || out->size() == kBatchSize) out = &new_output();
    size_t slot = out->size();
    for (size_t c = 0; c < offset; ++c) out->column(c).set_null(slot);
    for (size_t c = 0; c < build_child_->types().size(); ++c) {
      out->column(offset + c)
          .copy_row(slot, shared_.build_side.column(ref, c), ChunkCollection::row_of(ref));
    }
    out->set_size(slot + 1);
  }

  // Reversed semi and anti joins: after every instance has probed, the build (left) rows with a
  // match (semi) or without one (anti), once.
  void emit_marked_build_rows() {
    shared_.probed.arrive(
        context_, [&] { merge_matched(); },
        [&] {
          bool semi = kind_ == JoinKind::kSemi;
          bool probe_empty = shared_.probe_rows.load() == 0;
          // x NOT IN (list): never true if the list holds a NULL; a NULL x only for an empty list.
          if (!semi && null_aware_ && shared_.probe_has_null_key.load()) return;
          DataChunk* out = nullptr;
          for (size_t b = 0; b < shared_.refs.size(); ++b) {
            bool matched = shared_.matched[b] != 0;
            if (semi != matched) continue;
            uint64_t ref = shared_.refs[b];
            if (!semi && null_aware_ && !probe_empty && build_key_is_null(ref)) continue;
            append_build_row(out, ref, 0);
          }
        });
  }

  // Whether build row `ref` had a NULL key (it is then in no chain).
  bool build_key_is_null(uint64_t ref) const { return shared_.null_key_rows.count(ref) > 0; }

  ExecutionContext& context_;
  JoinShared& shared_;
  JoinKind kind_;
  bool null_aware_;
  bool single_row_;
  bool reversed_;
  size_t probe_offset_ = 0;
  size_t build_offset_ = 0;
  PhysicalPlan probe_child_;
  PhysicalPlan build_child_;
  DataChunk probe_;
  DataChunk pairs_;
  std::vector<std::unique_ptr<ExpressionExecutor>> probe_key_exprs_;
  std::vector<std::unique_ptr<Vector>> probe_key_values_;
  std::vector<std::unique_ptr<ExpressionExecutor>> build_key_exprs_;
  std::vector<std::unique_ptr<Vector>> build_key_values_;
  std::unique_ptr<ExpressionExecutor> residual_;
  RowKeyEncoder encoder_;
  std::unique_ptr<PackedKeys> packed_;
  size_t pair_count_ = 0;
  SelectionVector probe_sel_;
  std::vector<uint8_t> matched_build_;
  std::vector<uint8_t> probe_matched_;
  std::vector<size_t> pair_probe_row_;
  std::vector<uint64_t> pair_build_index_;
  std::deque<std::unique_ptr<DataChunk>> ready_;
  std::vector<std::unique_ptr<DataChunk>> free_;  // output chunks to reuse
  SelectionVector sel_;
  bool built_ = false;
  bool probe_done_ = false;
  bool emitted_unmatched_build_ = false;
};

}  // namespace

PhysicalPlan make_hash_join(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right,
                            ExecutionContext& context, size_t) {
  return std::make_unique<HashJoinOperator>(plan, std::move(left), std::move(right), context);
}

}  // namespace sluice::sql
