// Hash join: the right input is the build side, materialized and indexed by its encoded key
// columns; the left input streams through as the probe side. Candidate pairs are assembled a
// batch at a time as (left columns ++ right columns) chunks, so the residual (non-equi)
// condition is evaluated vectorized over them. The same operator does every join kind: inner,
// left/right/full outer (with matched flags for unmatched rows), semi and anti (the probe rows
// with or without a match; NOT IN's null-aware anti join), and joins without equi keys (every
// build row has the empty key: a nested-loop join).
//
// Spilling (a grace hash join): each instance collects its build input under a memory
// reservation (spill.h). When it no longer fits, the instance writes its build rows to
// kJoinPartitions files by the hash of their key. If any instance spilled, all of them write
// their build rows, then their probe rows, to partition files the same way, and each instance
// joins its partitions (p % parallelism == instance) one at a time, each with a hash join of its
// own over the partition's files that runs in memory. Rows with a NULL key match nothing: they go
// to partition 0 when the join kind emits them unmatched, and are dropped otherwise. NOT IN (the
// null-aware anti join) is decided from the whole build side: no rows if it holds a NULL key, and
// no probe row with a NULL key (the build side, having spilled, is not empty). Joins that do not
// spill: those without equi keys, a scalar subquery's single-row check, and NOT IN built on its
// outer side.
#include <absl/hash/hash.h>
#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <deque>

#include "expression_executor.h"
#include "large_memory.h"
#include "physical_operator.h"
#include "row_key.h"
#include "sluice/core/error.h"

namespace sluice::sql {

namespace {

// A key word's bucket among 2^bits: the top bits of a multiplicative hash (Fibonacci hashing),
// which spreads TPC-H's dense integer keys as well as string-key hashes.
inline size_t bucket_of(uint64_t key_word, unsigned shift) {
  return static_cast<size_t>((key_word * 0x9E3779B97F4A7C15ull) >> shift);
}

// One instance's build input with its rows' keys, computed by that instance before the meeting
// so that key evaluation runs in parallel.
struct BuildPart {
  ChunkCollection rows;
  // Per row: the packed key word, or the hash of the encoded key (then `encoded` holds the bytes).
  LargeVector<uint64_t> key_words;
  LargeVector<std::string_view> encoded;
  LargeVector<uint8_t> null_key;
  std::unique_ptr<StringHeap> encoded_bytes;
};

constexpr size_t kJoinPartitions = 32;

// A row's spill partition: from the hash of its key word, independent of bucket_of's bits.
inline size_t join_partition(uint64_t key_word) {
  return static_cast<size_t>(static_cast<uint64_t>(absl::Hash<uint64_t>()(key_word)) >> 59);
}

// Rows routed to partition files, gathered into full chunks before they are written.
class PartitionWriter {
 public:
  PartitionWriter(ExecutionContext& context, const std::vector<LogicalType>& types)
      : context_(context),
        types_(types),
        slice_(types),
        staging_(kJoinPartitions),
        files_(kJoinPartitions) {}

  // Rows sel[0..count) of `chunk` to partition `p`.
  void add(const DataChunk& chunk, const uint32_t* sel, size_t count, size_t p) {
    if (count == 0) return;
    if (!staging_[p]) staging_[p] = std::make_unique<DataChunk>(types_);
    slice_.slice(chunk, sel, count);
    size_t taken = 0;
    while (taken < count) {
      DataChunk& staging = *staging_[p];
      size_t take = std::min(kBatchSize - staging.size(), count - taken);
      for (size_t c = 0; c < staging.column_count(); ++c) {
        staging.column(c).append(slice_.column(c), taken, take, staging.size(), true);
      }
      staging.set_size(staging.size() + take);
      taken += take;
      if (staging.size() == kBatchSize) flush(p);
    }
  }

  // Writes what is staged; the files, ready to read (null where a partition got no rows). The
  // writer is done with after this.
  std::vector<std::unique_ptr<SpillFile>> finish() {
    for (size_t p = 0; p < kJoinPartitions; ++p) {
      if (staging_[p] && staging_[p]->size() > 0) flush(p);
      if (files_[p]) files_[p]->finish_writing();
    }
    staging_.clear();
    return std::move(files_);
  }

 private:
  void flush(size_t p) {
    if (!files_[p]) files_[p] = context_.new_spill_file();
    files_[p]->write_chunk(*staging_[p]);
    staging_[p]->reset();
  }

  ExecutionContext& context_;
  std::vector<LogicalType> types_;
  DataChunk slice_;
  std::vector<std::unique_ptr<DataChunk>> staging_;
  std::vector<std::unique_ptr<SpillFile>> files_;
};

// Reads the chunks of spill files, one file after another (each read once and then closed).
class SpillScan : public PhysicalOperator {
 public:
  SpillScan(std::vector<LogicalType> types, std::vector<std::unique_ptr<SpillFile>> files)
      : PhysicalOperator(std::move(types)), files_(std::move(files)) {}

  bool next(DataChunk& out) override {
    while (next_file_ < files_.size()) {
      if (files_[next_file_]->read_chunk(out)) return true;
      files_[next_file_++].reset();
    }
    out.reset();
    return false;
  }

 private:
  std::vector<std::unique_ptr<SpillFile>> files_;
  size_t next_file_ = 0;
};

// The build side, shared by every instance: built once from all instances' right inputs, then
// probed by all of them. Build rows are numbered in build order. The index is bucketed by key
// hash and stored contiguously: the rows of bucket h are slots [bucket_start[h],
// bucket_start[h + 1]), each slot holding the row's key word (and encoded key when keys do not
// pack) and its number. A probe reads one offset pair and then consecutive slots, instead of
// chasing a chain of rows scattered over memory (a cache miss per row of the chain: customers
// with ten orders each cost ten). The arrays are sized once from the row count and live in cached
// huge pages (large_memory.h).
struct JoinShared {
  InstanceBarrier built;
  InstanceBarrier filled;
  InstanceBarrier counted;
  InstanceBarrier placed;
  InstanceBarrier probed;
  std::vector<BuildPart> parts;
  ChunkCollection build_side;
  LargeVector<uint64_t> refs;            // build rows: chunk << 32 | row
  std::vector<size_t> chunk_first_row;   // build_side chunk -> its first row's number
  std::vector<size_t> part_first_row;    // parts[i] -> its first row's number
  std::vector<size_t> part_first_chunk;  // parts[i] -> its first chunk in build_side
  LargeVector<uint64_t> key_words;
  LargeVector<uint8_t> null_key;  // per build row: a key column is NULL (it is in no bucket)
  LargeVector<std::string_view> encoded;
  std::vector<std::unique_ptr<StringHeap>> encoded_bytes;
  LargeVector<uint32_t> bucket_start;  // 2^bits + 1 offsets into the slots
  LargeVector<uint64_t> slot_words;
  LargeVector<std::string_view> slot_encoded;
  LargeVector<uint32_t> slot_rows;
  unsigned shift = 64;  // 64 - bits
  bool has_null_key = false;
  std::vector<uint8_t> matched;  // right, full and reversed joins: build rows any instance matched
  std::atomic<uint64_t> probe_rows{0};          // reversed joins: rows that probed
  std::atomic<bool> probe_has_null_key{false};  // reversed NOT IN: a NULL on the probe side
  // After a spill: every instance's files of each partition, and the whole build side's counts.
  bool spilled = false;
  InstanceBarrier build_partitioned;
  InstanceBarrier probe_partitioned;
  std::vector<std::unique_ptr<SpillFile>> build_files[kJoinPartitions];
  std::vector<std::unique_ptr<SpillFile>> probe_files[kJoinPartitions];
  bool spilled_build_has_null_key = false;
};

class HashJoinOperator : public PhysicalOperator {
 public:
  // `may_spill` is false for the joins of one spilled partition: they run in memory.
  HashJoinOperator(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right,
                   ExecutionContext& context, size_t instance, bool may_spill = true)
      : PhysicalOperator(plan.types()),
        plan_(plan),
        context_(context),
        shared_(context.shared<JoinShared>(&plan)),
        instance_(instance),
        kind_(plan.join_kind == JoinKind::kCross ? JoinKind::kInner : plan.join_kind),
        null_aware_(plan.null_aware),
        single_row_(plan.limit.has_value()),
        // A semi or anti join may build on its left (smaller) side and stream the right one
        // through it; its result is then the left rows marked as matched, once all have probed.
        reversed_(plan.build_left && (kind_ == JoinKind::kSemi || kind_ == JoinKind::kAnti)),
        probe_child_(reversed_ ? std::move(right) : std::move(left)),
        build_child_(reversed_ ? std::move(left) : std::move(right)),
        probe_(probe_child_->types()),
        reservation_(context.budget()) {
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
    probe_words_.resize(kBatchSize);
    probe_buckets_.resize(kBatchSize);
    probe_begin_.resize(kBatchSize);
    probe_end_.resize(kBatchSize);
    probe_candidates_.resize(kBatchSize);
    can_spill_ = may_spill && !build_keys.empty() && !single_row_ && !(reversed_ && null_aware_);
    // Per build row beyond its values: its key and reference here and in the index.
    index_bytes_per_row_ = packed_ ? 48 : 80;
  }

  bool next(DataChunk& out) override {
    if (!built_) build();
    if (spill_mode_) return next_spilled(out);
    while (ready_.empty()) {
      if (probe_done_) return next_build_rows(out);
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
  // Whether the build rows' matched flags are kept: right and full joins emit the unmatched ones,
  // reversed semi and anti joins the matched or unmatched ones.
  bool tracks_build_matches() const {
    return reversed_ || kind_ == JoinKind::kRight || kind_ == JoinKind::kFull;
  }

  // Each instance collects its build input and computes its keys; the last to arrive sizes the
  // index; every instance copies its rows' keys into it, then counts and places the rows of its
  // own range of buckets (a counting sort by bucket). Only the sizing and the prefix sum of the
  // counts are serial, and no bucket is written by two threads.
  void build() {
    built_ = true;
    BuildPart part;
    collect_build_rows(part.rows);
    compute_build_keys(part);
    size_t part_index = 0;
    shared_.built.arrive(
        context_,
        [&] {
          part_index = shared_.parts.size();
          shared_.parts.push_back(std::move(part));
          shared_.spilled |= build_writer_ != nullptr;
        },
        [&] {
          if (!shared_.spilled) size_table();
        });
    if (shared_.spilled) {
      partition_both_sides(part_index);
      return;
    }
    bool has_null_key = fill_part(part_index);
    shared_.filled.arrive(
        context_, [&] { shared_.has_null_key |= has_null_key; },
        [&] {
          for (auto& p : shared_.parts) {
            if (p.encoded_bytes) shared_.encoded_bytes.push_back(std::move(p.encoded_bytes));
          }
          shared_.parts.clear();
        });
    count_buckets();
    shared_.counted.arrive(
        context_, [] {}, [&] { size_slots(); });
    place_rows();
    shared_.placed.arrive(
        context_, [] {},
        [&] {
          // The slots hold what the probe needs; the per-row copies go back to the cache.
          LargeVector<uint64_t>().swap(shared_.key_words);
          LargeVector<std::string_view>().swap(shared_.encoded);
        });
    if (tracks_build_matches()) matched_build_.assign(shared_.refs.size(), 0);
  }

  // This instance's build input, in memory while its reservation grows; past the budget, the
  // rows collected so far go to the partition files.
  void collect_build_rows(ChunkCollection& rows) {
    DataChunk input(build_child_->types());
    while (build_child_->next(input)) {
      rows.add(input);
      if (!can_spill_ ||
          reservation_.try_resize(rows.memory_bytes() + rows.rows * index_bytes_per_row_)) {
        continue;
      }
      if (!build_writer_) {
        build_writer_ = std::make_unique<PartitionWriter>(context_, build_child_->types());
      }
      for (auto& chunk : rows.chunks) spill_rows(*chunk, true);
      rows.clear();
      reservation_.resize_to_zero();
    }
  }

  // Whether rows with a NULL key are kept (in partition 0) when they spill: those the join
  // emits unmatched.
  bool keeps_null_keys(bool build_side) const {
    if (build_side) {
      return reversed_ ? kind_ == JoinKind::kAnti
                       : kind_ == JoinKind::kRight || kind_ == JoinKind::kFull;
    }
    if (reversed_) return false;
    // A build side that spilled is not empty: NULL NOT IN (a non-empty list) is not true.
    if (kind_ == JoinKind::kAnti && null_aware_) return false;
    return kind_ == JoinKind::kLeft || kind_ == JoinKind::kFull || kind_ == JoinKind::kAnti;
  }

  // The keys of `chunk`'s rows (a build or a probe chunk), packed into words or encoded.
  void encode_keys(const DataChunk& chunk, bool build_side) {
    auto& exprs = build_side ? build_key_exprs_ : probe_key_exprs_;
    auto& values = build_side ? build_key_values_ : probe_key_values_;
    key_columns_.clear();
    for (size_t k = 0; k < exprs.size(); ++k) {
      values[k]->reset();
      exprs[k]->execute(chunk, *values[k]);
      key_columns_.push_back(values[k].get());
    }
    if (packed_) {
      packed_->pack(key_columns_, chunk.size());
    } else {
      encoder_.encode(key_columns_, chunk.size());
    }
  }

  // Routes the rows of `chunk` (a build or a probe chunk) to their partitions' files.
  void spill_rows(DataChunk& chunk, bool build_side) {
    size_t n = chunk.size();
    encode_keys(chunk, build_side);
    std::vector<uint8_t>& partitions = spill_partitions_;
    partitions.resize(n);
    bool keep_nulls = keeps_null_keys(build_side);
    for (size_t r = 0; r < n; ++r) {
      bool null_key = packed_ ? packed_->has_null(r) : encoder_.has_null(r);
      spilled_has_null_key_ |= build_side && null_key;
      uint64_t word = null_key  ? 0
                      : packed_ ? packed_->key(r)
                                : absl::Hash<std::string_view>()(encoder_.key(r));
      partitions[r] = row_partition(null_key, word, keep_nulls);
    }
    route(chunk, partitions, build_side ? *build_writer_ : *probe_writer_);
  }

  // A spilled row's partition: by its key word's hash; with a NULL key, 0 if kept and
  // kJoinPartitions (dropped) if not.
  static uint8_t row_partition(bool null_key, uint64_t key_word, bool keep_nulls) {
    if (null_key) return static_cast<uint8_t>(keep_nulls ? 0 : kJoinPartitions);
    return static_cast<uint8_t>(join_partition(key_word));
  }

  // Adds each row of `chunk` to the partition `partitions` names (kJoinPartitions: dropped).
  void route(const DataChunk& chunk, const std::vector<uint8_t>& partitions,
             PartitionWriter& writer) {
    size_t n = chunk.size();
    route_counts_.assign(kJoinPartitions + 1, 0);
    for (size_t r = 0; r < n; ++r) ++route_counts_[partitions[r]];
    // Rows grouped by partition with a counting sort, so that each partition gets one slice.
    route_starts_.assign(kJoinPartitions + 2, 0);
    for (size_t p = 0; p <= kJoinPartitions; ++p) {
      route_starts_[p + 1] = route_starts_[p] + route_counts_[p];
    }
    std::vector<uint32_t>& order = route_order_;
    order.resize(n);
    route_next_.assign(route_starts_.begin(), route_starts_.end() - 1);
    for (size_t r = 0; r < n; ++r) order[route_next_[partitions[r]]++] = static_cast<uint32_t>(r);
    for (size_t p = 0; p < kJoinPartitions; ++p) {
      writer.add(chunk, order.data() + route_starts_[p], route_counts_[p], p);
    }
  }

  // After a spill, in every instance: the rest of its build rows (their keys are computed), then
  // all of its probe rows, to the partition files; then the partitions are joined one at a time
  // (next_spilled).
  void partition_both_sides(size_t part_index) {
    if (!build_writer_) {
      build_writer_ = std::make_unique<PartitionWriter>(context_, build_child_->types());
    }
    {
      const BuildPart& part = shared_.parts[part_index];
      size_t index = 0;
      for (const auto& chunk : part.rows.chunks) {
        spill_partitions_.resize(chunk->size());
        bool keep_nulls = keeps_null_keys(true);
        for (size_t r = 0; r < chunk->size(); ++r, ++index) {
          bool null_key = part.null_key[index] != 0;
          spilled_has_null_key_ |= null_key;
          spill_partitions_[r] = row_partition(null_key, part.key_words[index], keep_nulls);
        }
        route(*chunk, spill_partitions_, *build_writer_);
      }
    }
    auto build_files = build_writer_->finish();
    shared_.build_partitioned.arrive(
        context_,
        [&] {
          deposit(build_files, shared_.build_files);
          shared_.spilled_build_has_null_key |= spilled_has_null_key_;
        },
        [&] { shared_.parts.clear(); });
    reservation_.resize_to_zero();
    // x NOT IN (a list with a NULL) is never true: no probe row can come out.
    bool no_output =
        !reversed_ && null_aware_ && kind_ == JoinKind::kAnti && shared_.spilled_build_has_null_key;
    probe_writer_ = std::make_unique<PartitionWriter>(context_, probe_child_->types());
    if (!no_output) {
      while (probe_child_->next(probe_)) {
        if (probe_.size() > 0) spill_rows(probe_, false);
      }
    }
    auto probe_files = probe_writer_->finish();
    shared_.probe_partitioned.arrive(
        context_, [&] { deposit(probe_files, shared_.probe_files); }, [] {});
    build_writer_.reset();
    probe_writer_.reset();
    spill_mode_ = true;
    next_partition_ = no_output ? kJoinPartitions : instance_;
  }

  // An instance's partition files join those of the others (under the barrier's lock).
  static void deposit(std::vector<std::unique_ptr<SpillFile>>& files,
                      std::vector<std::unique_ptr<SpillFile>> (&shared)[kJoinPartitions]) {
    for (size_t p = 0; p < kJoinPartitions; ++p) {
      if (files[p]) shared[p].push_back(std::move(files[p]));
    }
  }

  // After a spill: the output of the join of each of this instance's partitions in turn.
  bool next_spilled(DataChunk& out) {
    while (true) {
      if (partition_join_ && partition_join_->next(out)) return true;
      partition_join_.reset();
      partition_context_.reset();
      if (next_partition_ >= kJoinPartitions) {
        out.reset();
        return false;
      }
      size_t p = next_partition_;
      next_partition_ += context_.parallelism();
      size_t build_bytes = 0;
      for (const auto& file : shared_.build_files[p]) build_bytes += file->bytes_written();
      // Counted for the query's peak: the partition's build side is held in memory.
      reservation_.force_resize(build_bytes + build_bytes / 2);
      PhysicalPlan build =
          std::make_unique<SpillScan>(build_child_->types(), std::move(shared_.build_files[p]));
      PhysicalPlan probe =
          std::make_unique<SpillScan>(probe_child_->types(), std::move(shared_.probe_files[p]));
      partition_context_ = std::make_unique<ExecutionContext>(1);
      partition_join_ = std::make_unique<HashJoinOperator>(
          plan_, reversed_ ? std::move(build) : std::move(probe),
          reversed_ ? std::move(probe) : std::move(build), *partition_context_, 0, false);
    }
  }

  // The key word (and encoded bytes) of every row of this instance's build input.
  void compute_build_keys(BuildPart& part) {
    size_t rows = part.rows.rows;
    part.key_words.resize(rows);
    part.null_key.resize(rows);
    if (!packed_) {
      part.encoded.resize(rows);
      part.encoded_bytes = std::make_unique<StringHeap>();
    }
    size_t index = 0;
    for (auto& chunk_pointer : part.rows.chunks) {
      DataChunk& chunk = *chunk_pointer;
      size_t n = chunk.size();
      encode_keys(chunk, true);
      if (packed_) {
        for (size_t r = 0; r < n; ++r, ++index) {
          part.key_words[index] = packed_->key(r);
          part.null_key[index] = packed_->has_null(r) ? 1 : 0;
        }
        continue;
      }
      for (size_t r = 0; r < n; ++r, ++index) {
        part.null_key[index] = encoder_.has_null(r) ? 1 : 0;
        if (part.null_key[index]) continue;
        std::string_view key = encoder_.key(r);
        char* bytes = part.encoded_bytes->allocate(key.empty() ? 1 : key.size());
        if (!key.empty()) std::memcpy(bytes, key.data(), key.size());
        part.encoded[index] = std::string_view(bytes, key.size());
        part.key_words[index] = absl::Hash<std::string_view>()(key);
      }
    }
  }

  // The last instance to arrive: numbers the build rows (part by part) and sizes the index.
  void size_table() {
    JoinShared& s = shared_;
    size_t total = 0;
    for (const auto& part : s.parts) {
      s.part_first_row.push_back(total);
      s.part_first_chunk.push_back(s.chunk_first_row.size());
      for (const auto& chunk : part.rows.chunks) {
        s.chunk_first_row.push_back(total);
        total += chunk->size();
      }
    }
    if (single_row_ && total > 1) {
      throw Error(
          ErrorCategory::kBadInput,
          fmt::format("a scalar subquery returned {} rows; it must return at most one", total));
    }
    if (total >= UINT32_MAX) {
      throw Error(ErrorCategory::kInvalidArgument,
                  fmt::format("a hash join's build side has {} rows; at most {} are supported",
                              total, UINT32_MAX - 1));
    }
    unsigned bits = 4;
    // Two buckets per row; eight for a small build side (its index still fits the caches, and
    // more empty buckets let a selective probe drop more rows at the first look).
    size_t buckets_per_row = total <= 16384 ? 8 : 2;
    while ((size_t{1} << bits) < buckets_per_row * total) ++bits;
    s.shift = 64 - bits;
    s.bucket_start.assign((size_t{1} << bits) + 1, 0);
    s.refs.resize(total);
    s.key_words.resize(total);
    s.null_key.resize(total);
    if (!packed_) s.encoded.resize(total);
    // The parts' chunks join the build side in part order, so chunk_first_row lines up.
    for (auto& part : s.parts) s.build_side.append(std::move(part.rows));
    if (tracks_build_matches()) s.matched.assign(total, 0);
  }

  // Copies part `part_index`'s row references and keys into the shared arrays (each part has its
  // own range of rows); whether any of its rows has a NULL key.
  bool fill_part(size_t part_index) {
    JoinShared& s = shared_;
    const BuildPart& part = s.parts[part_index];
    size_t index = s.part_first_row[part_index];
    size_t row_in_part = 0;
    bool has_null_key = false;
    for (size_t c = s.part_first_chunk[part_index]; row_in_part < part.key_words.size(); ++c) {
      size_t n = s.build_side.chunks[c]->size();
      for (size_t r = 0; r < n; ++r, ++index, ++row_in_part) {
        s.refs[index] = (uint64_t{c} << 32) | r;
        // A NULL key never equals anything; NOT IN over a list with a NULL is never true.
        s.null_key[index] = part.null_key[row_in_part];
        has_null_key |= part.null_key[row_in_part] != 0;
        s.key_words[index] = part.key_words[row_in_part];
        if (!packed_) s.encoded[index] = part.encoded[row_in_part];
      }
    }
    return has_null_key;
  }

  // Whether bucket `bucket` is in this instance's range (instance i has the i-th of
  // `parallelism` equal ranges).
  bool owns_bucket(size_t bucket) const {
    size_t parallelism = context_.parallelism();
    return parallelism == 1 || ((bucket * parallelism) >> (64 - shared_.shift)) == instance_;
  }

  // bucket_start[h] = the number of rows in bucket h, for this instance's buckets.
  void count_buckets() {
    JoinShared& s = shared_;
    for (size_t index = 0; index < s.refs.size(); ++index) {
      if (s.null_key[index]) continue;
      size_t bucket = bucket_of(s.key_words[index], s.shift);
      if (owns_bucket(bucket)) ++s.bucket_start[bucket];
    }
  }

  // The last instance: bucket_start[h] = the end of bucket h's slots (inclusive prefix sums).
  void size_slots() {
    JoinShared& s = shared_;
    size_t buckets = s.bucket_start.size() - 1;
    uint32_t sum = 0;
    for (size_t h = 0; h < buckets; ++h) {
      sum += s.bucket_start[h];
      s.bucket_start[h] = sum;
    }
    s.bucket_start[buckets] = sum;
    s.slot_words.resize(sum);
    s.slot_rows.resize(sum);
    if (!packed_) s.slot_encoded.resize(sum);
  }

  // Places this instance's buckets' rows into their slots, last row first, so that each bucket's
  // rows end up in row order (the same at every parallelism) and bucket_start[h] at its start.
  void place_rows() {
    JoinShared& s = shared_;
    for (size_t index = s.refs.size(); index-- > 0;) {
      if (s.null_key[index]) continue;
      uint64_t word = s.key_words[index];
      size_t bucket = bucket_of(word, s.shift);
      if (!owns_bucket(bucket)) continue;
      uint32_t slot = --s.bucket_start[bucket];
      s.slot_words[slot] = word;
      s.slot_rows[slot] = static_cast<uint32_t>(index);
      if (!packed_) s.slot_encoded[slot] = s.encoded[index];
    }
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
    // Matched flags, where the join kind reads them (an inner join needs neither).
    if (kind_ != JoinKind::kInner || reversed_) {
      bool build_flags = tracks_build_matches();
      for (size_t i = 0; i < kept; ++i) {
        size_t p = sel ? sel[i] : i;
        probe_matched_[pair_probe_row_[p]] = 1;
        if (build_flags) matched_build_[pair_build_index_[p]] = 1;
      }
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

  // Each probe row's key word and the range of its bucket's slots (empty for a NULL key), in
  // passes over the batch: for an index larger than the caches the offset and first-slot loads
  // are prefetched, so that their misses overlap instead of each row waiting for its own. Rows
  // whose bucket is empty (most, when the build side is small and selective) are dropped without
  // a branch: probe_candidates_ lists the others. Returns their count.
  size_t lookup_ranges(size_t n) {
    const JoinShared& s = shared_;
    bool prefetch = s.bucket_start.size() > (size_t{1} << 16);
    for (size_t r = 0; r < n; ++r) {
      bool null_key = packed_ ? packed_->has_null(r) : encoder_.has_null(r);
      if (null_key) {
        probe_buckets_[r] = SIZE_MAX;
        continue;
      }
      uint64_t word = packed_ ? packed_->key(r) : absl::Hash<std::string_view>()(encoder_.key(r));
      probe_words_[r] = word;
      probe_buckets_[r] = bucket_of(word, s.shift);
      if (prefetch) __builtin_prefetch(&s.bucket_start[probe_buckets_[r]]);
    }
    size_t count = 0;
    for (size_t r = 0; r < n; ++r) {
      size_t bucket = probe_buckets_[r];
      if (bucket == SIZE_MAX) continue;
      uint32_t begin = s.bucket_start[bucket];
      uint32_t end = s.bucket_start[bucket + 1];
      probe_begin_[r] = begin;
      probe_end_[r] = end;
      probe_candidates_[count] = static_cast<uint32_t>(r);
      count += begin != end ? 1 : 0;
      if (prefetch) __builtin_prefetch(s.slot_words.data() + begin);
    }
    return count;
  }

  void probe_next() {
    if (!probe_child_->next(probe_)) {
      probe_done_ = true;
      return;
    }
    size_t n = probe_.size();
    if (n == 0) return;
    for (size_t c = 0; c < probe_.column_count(); ++c) probe_.column(c).flatten(n);
    encode_keys(probe_, false);
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
    size_t candidates = lookup_ranges(n);
    const JoinShared& s = shared_;
    for (size_t i = 0; i < candidates; ++i) {
      size_t r = probe_candidates_[i];
      uint64_t word = probe_words_[r];
      for (uint32_t slot = probe_begin_[r]; slot < probe_end_[r]; ++slot) {
        if (s.slot_words[slot] != word) continue;
        if (!packed_ && s.slot_encoded[slot] != encoder_.key(r)) continue;
        size_t b = s.slot_rows[slot];
        if (!needs_pairs) {
          probe_matched_[r] = 1;
          // Reversed: every build row with this key has a match; otherwise one match is enough.
          if (!reversed_) break;
          matched_build_[b] = 1;
          continue;
        }
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

  // After the probe: right and full joins emit the build rows no instance matched; reversed semi
  // and anti joins the build (left) rows with a match or without one. Once every instance has
  // probed (and merged its matched flags), each emits the build chunks of its stride, one chunk
  // per call.
  bool next_build_rows(DataChunk& out) {
    out.reset();
    bool emits = reversed_ || kind_ == JoinKind::kRight || kind_ == JoinKind::kFull;
    if (!emits) return false;
    if (!merged_matched_) {
      merged_matched_ = true;
      shared_.probed.arrive(
          context_, [&] { merge_matched(); }, [] {});
      next_build_chunk_ = instance_;
    }
    const JoinShared& s = shared_;
    if (reversed_ && kind_ == JoinKind::kAnti && null_aware_ && s.probe_has_null_key.load()) {
      // x NOT IN (list): never true if the list holds a NULL.
      return false;
    }
    bool want_matched = reversed_ && kind_ == JoinKind::kSemi;
    bool probe_empty = s.probe_rows.load() == 0;
    size_t offset = reversed_ ? 0 : probe_child_->types().size();
    while (next_build_chunk_ < s.build_side.chunks.size()) {
      size_t c = next_build_chunk_;
      next_build_chunk_ += context_.parallelism();
      const DataChunk& chunk = *s.build_side.chunks[c];
      size_t first = s.chunk_first_row[c];
      size_t count = 0;
      for (size_t r = 0; r < chunk.size(); ++r) {
        size_t b = first + r;
        if ((s.matched[b] != 0) != want_matched) continue;
        // A NULL x NOT IN a non-empty list is unknown, not true.
        if (reversed_ && !want_matched && null_aware_ && !probe_empty && s.null_key[b]) continue;
        sel_.data()[count++] = static_cast<uint32_t>(r);
      }
      if (count == 0) continue;
      for (size_t col = 0; col < offset; ++col) {
        for (size_t i = 0; i < count; ++i) out.column(col).set_null(i);
      }
      for (size_t col = 0; col < chunk.column_count(); ++col) {
        out.column(offset + col).gather(chunk.column(col), sel_.data(), count);
      }
      out.set_size(count);
      return true;
    }
    return false;
  }

  void merge_matched() {
    for (size_t b = 0; b < matched_build_.size(); ++b) shared_.matched[b] |= matched_build_[b];
  }

  const LogicalOperator& plan_;
  ExecutionContext& context_;
  JoinShared& shared_;
  size_t instance_;
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
  std::vector<uint64_t> probe_words_;
  std::vector<size_t> probe_buckets_;
  std::vector<uint32_t> probe_begin_;
  std::vector<uint32_t> probe_end_;
  std::vector<uint32_t> probe_candidates_;
  std::deque<std::unique_ptr<DataChunk>> ready_;
  std::vector<std::unique_ptr<DataChunk>> free_;  // output chunks to reuse
  SelectionVector sel_;
  bool built_ = false;
  bool probe_done_ = false;
  bool merged_matched_ = false;
  size_t next_build_chunk_ = 0;
  // Spilling.
  MemoryReservation reservation_;
  bool can_spill_ = false;
  size_t index_bytes_per_row_ = 48;
  std::unique_ptr<PartitionWriter> build_writer_;  // once this instance's build side spilled
  std::unique_ptr<PartitionWriter> probe_writer_;
  std::vector<const Vector*> key_columns_;
  std::vector<uint8_t> spill_partitions_;
  std::vector<size_t> route_counts_;
  std::vector<size_t> route_starts_;
  std::vector<size_t> route_next_;
  std::vector<uint32_t> route_order_;
  bool spilled_has_null_key_ = false;
  bool spill_mode_ = false;
  size_t next_partition_ = kJoinPartitions;
  std::unique_ptr<ExecutionContext> partition_context_;
  std::unique_ptr<HashJoinOperator> partition_join_;
};

}  // namespace

PhysicalPlan make_hash_join(const LogicalOperator& plan, PhysicalPlan left, PhysicalPlan right,
                            ExecutionContext& context, size_t instance) {
  return std::make_unique<HashJoinOperator>(plan, std::move(left), std::move(right), context,
                                            instance);
}

}  // namespace sluice::sql
