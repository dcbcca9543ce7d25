// Hash join: the right input is the build side, materialized and indexed by its encoded key
// columns; the left input streams through as the probe side. Candidate pairs are assembled a
// batch at a time as (left columns ++ right columns) chunks, so the residual (non-equi)
// condition is evaluated vectorized over them. The same operator does every join kind: inner,
// left/right/full outer (with matched flags for unmatched rows), semi and anti (the probe rows
// with or without a match; NOT IN's null-aware anti join), and joins without equi keys (every
// build row has the empty key: a nested-loop join).
#include <absl/container/flat_hash_map.h>
#include <fmt/format.h>

#include <cstring>
#include <deque>

#include "expression_executor.h"
#include "physical_operator.h"
#include "row_key.h"
#include "sluice/core/error.h"

namespace sluice::sql {

namespace {

constexpr uint64_t kEndOfChain = UINT64_MAX;

class HashJoinOperator : public PhysicalOperator {
 public:
  HashJoinOperator(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right)
      : PhysicalOperator(plan.types()),
        kind_(plan.join_kind == JoinKind::kCross ? JoinKind::kInner : plan.join_kind),
        null_aware_(plan.null_aware),
        single_row_(plan.limit.has_value()),
        left_(std::move(left)),
        right_(std::move(right)),
        probe_(left_->types()) {
    for (const auto& k : plan.left_keys) {
      left_key_exprs_.push_back(std::make_unique<ExpressionExecutor>(*k));
      left_key_values_.push_back(std::make_unique<Vector>(k->type));
    }
    for (const auto& k : plan.right_keys) {
      right_key_exprs_.push_back(std::make_unique<ExpressionExecutor>(*k));
      right_key_values_.push_back(std::make_unique<Vector>(k->type));
    }
    std::vector<LogicalType> pair_types = left_->types();
    for (const auto& t : right_->types()) pair_types.push_back(t);
    pairs_.initialize(pair_types);
    if (plan.predicate) residual_ = std::make_unique<ExpressionExecutor>(*plan.predicate);
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
    DataChunk& front = *ready_.front();
    for (size_t c = 0; c < out.column_count(); ++c)
      out.column(c).copy_from(front.column(c), front.size());
    out.set_size(front.size());
    ready_.pop_front();
    return true;
  }

 private:
  bool emits_right_columns() const { return kind_ != JoinKind::kSemi && kind_ != JoinKind::kAnti; }

  void build() {
    built_ = true;
    build_side_.consume(*right_);
    if (single_row_ && build_side_.rows > 1) {
      throw Error(ErrorCategory::kBadInput,
                  fmt::format("a scalar subquery returned {} rows; it must return at most one",
                              build_side_.rows));
    }
    std::vector<const Vector*> key_columns;
    for (auto& v : right_key_values_) key_columns.push_back(v.get());
    for (size_t c = 0; c < build_side_.chunks.size(); ++c) {
      DataChunk& chunk = *build_side_.chunks[c];
      for (size_t k = 0; k < right_key_exprs_.size(); ++k) {
        right_key_values_[k]->reset();
        right_key_exprs_[k]->execute(chunk, *right_key_values_[k]);
      }
      encoder_.encode(key_columns, chunk.size());
      for (size_t r = 0; r < chunk.size(); ++r) {
        size_t index = refs_.size();
        refs_.push_back((uint64_t{c} << 32) | r);
        next_.push_back(kEndOfChain);
        if (encoder_.has_null(r)) {
          // A NULL key never equals anything; NOT IN over a list with a NULL is never true.
          build_has_null_key_ = true;
          continue;
        }
        std::string_view key = encoder_.key(r);
        auto it = table_.find(key);
        if (it == table_.end()) {
          char* bytes = key_arena_.allocate(key.size() == 0 ? 1 : key.size());
          std::memcpy(bytes, key.data(), key.size());
          it = table_.emplace(std::string_view(bytes, key.size()), kEndOfChain).first;
        }
        next_[index] = it->second;
        it->second = index;
      }
    }
    matched_build_.assign(refs_.size(), 0);
  }

  DataChunk& new_output() {
    ready_.push_back(std::make_unique<DataChunk>(types_));
    return *ready_.back();
  }

  // Evaluates the pairs gathered so far: the residual condition, then the output and the
  // matched flags.
  void flush_pairs() {
    size_t n = pairs_.size();
    if (n == 0) return;
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
  }

  void add_pair(size_t probe_row, uint64_t build_index) {
    size_t slot = pairs_.size();
    size_t left_width = probe_.column_count();
    for (size_t c = 0; c < left_width; ++c)
      pairs_.column(c).copy_row(slot, probe_.column(c), probe_row);
    uint64_t ref = refs_[build_index];
    size_t row = ChunkCollection::row_of(ref);
    for (size_t c = 0; c < right_->types().size(); ++c) {
      pairs_.column(left_width + c).copy_row(slot, build_side_.column(ref, c), row);
    }
    pair_probe_row_[slot] = probe_row;
    pair_build_index_[slot] = build_index;
    pairs_.set_size(slot + 1);
    if (slot + 1 == kBatchSize) flush_pairs();
  }

  void probe_next() {
    if (!left_->next(probe_)) {
      probe_done_ = true;
      return;
    }
    size_t n = probe_.size();
    if (n == 0) return;
    for (size_t c = 0; c < probe_.column_count(); ++c) probe_.column(c).flatten(n);
    std::vector<const Vector*> key_columns;
    for (size_t k = 0; k < left_key_exprs_.size(); ++k) {
      left_key_values_[k]->reset();
      left_key_exprs_[k]->execute(probe_, *left_key_values_[k]);
      key_columns.push_back(left_key_values_[k].get());
    }
    encoder_.encode(key_columns, n);
    probe_matched_.assign(n, 0);
    pair_probe_row_.resize(kBatchSize);
    pair_build_index_.resize(kBatchSize);
    bool needs_pairs = emits_right_columns() || residual_ != nullptr;
    for (size_t r = 0; r < n; ++r) {
      if (encoder_.has_null(r)) continue;
      auto it = table_.find(encoder_.key(r));
      if (it == table_.end()) continue;
      if (!needs_pairs) {
        probe_matched_[r] = 1;
        continue;
      }
      for (uint64_t b = it->second; b != kEndOfChain; b = next_[b]) {
        add_pair(r, b);
        // A semi or anti join needs one match per probe row, not all of them.
        if (!emits_right_columns() && !residual_) break;
      }
    }
    flush_pairs();
    emit_probe_side_rows(n);
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
            if (build_has_null_key_) continue;
            if (encoder_.has_null(r) && !refs_.empty()) continue;
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

  void emit_unmatched_build() {
    emitted_unmatched_build_ = true;
    if (kind_ != JoinKind::kRight && kind_ != JoinKind::kFull) return;
    size_t left_width = left_->types().size();
    DataChunk* out = nullptr;
    for (size_t b = 0; b < refs_.size(); ++b) {
      if (matched_build_[b]) continue;
      if (!out || out->size() == kBatchSize) out = &new_output();
      size_t slot = out->size();
      for (size_t c = 0; c < left_width; ++c) out->column(c).set_null(slot);
      uint64_t ref = refs_[b];
      for (size_t c = 0; c < right_->types().size(); ++c) {
        out->column(left_width + c)
            .copy_row(slot, build_side_.column(ref, c), ChunkCollection::row_of(ref));
      }
      out->set_size(slot + 1);
    }
  }

  JoinKind kind_;
  bool null_aware_;
  bool single_row_;
  PhysicalPlan left_;
  PhysicalPlan right_;
  DataChunk probe_;
  DataChunk pairs_;
  std::vector<std::unique_ptr<ExpressionExecutor>> left_key_exprs_;
  std::vector<std::unique_ptr<Vector>> left_key_values_;
  std::vector<std::unique_ptr<ExpressionExecutor>> right_key_exprs_;
  std::vector<std::unique_ptr<Vector>> right_key_values_;
  std::unique_ptr<ExpressionExecutor> residual_;
  RowKeyEncoder encoder_;
  ChunkCollection build_side_;
  std::vector<uint64_t> refs_;  // build rows in build order
  std::vector<uint64_t> next_;  // chains: index into refs_
  absl::flat_hash_map<std::string_view, uint64_t> table_;
  StringHeap key_arena_;
  std::vector<uint8_t> matched_build_;
  std::vector<uint8_t> probe_matched_;
  std::vector<size_t> pair_probe_row_;
  std::vector<uint64_t> pair_build_index_;
  std::deque<std::unique_ptr<DataChunk>> ready_;
  SelectionVector sel_;
  bool built_ = false;
  bool probe_done_ = false;
  bool emitted_unmatched_build_ = false;
  bool build_has_null_key_ = false;
};

}  // namespace

PhysicalPlan make_hash_join(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right) {
  return std::make_unique<HashJoinOperator>(plan, std::move(left), std::move(right));
}

}  // namespace sluice::sql
