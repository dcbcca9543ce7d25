// Window functions: ROW_NUMBER, RANK, DENSE_RANK, PERCENT_RANK, CUME_DIST, NTILE, LAG, LEAD,
// FIRST_VALUE, LAST_VALUE and aggregates (DISTINCT too) over frames of a partition. The operator
// collects its input (every instance its part, the last to arrive computes, as the sort does), then
// for each window function sorts the rows by partition and order keys and walks each partition:
// ranks from the peer groups, LAG and LEAD by position, FIRST_VALUE and LAST_VALUE and aggregates
// over the frame (the whole partition, the rows up to the current row's last peer, or ROWS
// offsets). Instance 0 emits the rows with one more column per window function.
#include <algorithm>
#include <optional>

#include <absl/container/flat_hash_set.h>

#include "expression_executor.h"
#include "physical_operator.h"
#include "row_key.h"

namespace sluice::sql {

namespace {

struct WindowShared {
  InstanceBarrier barrier;
  ChunkCollection input;
  // results[w][chunk]: window function w's values for the rows of input chunk `chunk`.
  std::vector<std::vector<std::unique_ptr<Vector>>> results;
};

class WindowOperator : public PhysicalOperator {
 public:
  WindowOperator(const LogicalOperator& plan, PhysicalPlan child, ExecutionContext& context,
                 size_t instance)
      : PhysicalOperator(plan.types()),
        plan_(plan),
        child_(std::move(child)),
        context_(context),
        shared_(context.shared<WindowShared>(&plan)),
        instance_(instance) {}

  bool next(DataChunk& out) override {
    if (!done_) {
      done_ = true;
      ChunkCollection local;
      local.consume(*child_);
      shared_.barrier.arrive(
          context_, [&] { shared_.input.append(std::move(local)); }, [&] { compute(); });
    }
    out.reset();
    if (instance_ != 0 || emitted_ >= shared_.input.chunks.size()) return false;
    const DataChunk& chunk = *shared_.input.chunks[emitted_];
    size_t width = chunk.column_count();
    for (size_t c = 0; c < width; ++c) out.column(c).copy_from(chunk.column(c), chunk.size());
    for (size_t w = 0; w < plan_.windows.size(); ++w) {
      out.column(width + w).copy_from(*shared_.results[w][emitted_], chunk.size());
    }
    out.set_size(chunk.size());
    ++emitted_;
    return true;
  }

 private:
  // A window function's keys and argument for every input chunk.
  struct Evaluated {
    std::vector<std::vector<std::unique_ptr<Vector>>> partition;  // [key][chunk]
    std::vector<std::vector<std::unique_ptr<Vector>>> order;      // [key][chunk]
    std::vector<std::unique_ptr<Vector>> argument;                // [chunk]
    std::vector<std::unique_ptr<Vector>> default_value;           // [chunk]: LAG's, LEAD's
    std::vector<std::vector<std::string>> distinct_keys;          // [chunk][row]: DISTINCT's
  };

  static std::vector<std::unique_ptr<Vector>> evaluate(const BoundExpr& e,
                                                       const ChunkCollection& input) {
    ExpressionExecutor executor(e);
    std::vector<std::unique_ptr<Vector>> out;
    for (const auto& chunk : input.chunks) {
      auto v = std::make_unique<Vector>(e.type);
      executor.execute(*chunk, *v);
      v->flatten(chunk->size());
      out.push_back(std::move(v));
    }
    return out;
  }

  static int compare_keys(const std::vector<std::vector<std::unique_ptr<Vector>>>& keys, uint64_t a,
                          uint64_t b, const std::vector<bool>* descending,
                          const std::vector<bool>* nulls_first) {
    size_t ca = a >> 32, ra = ChunkCollection::row_of(a);
    size_t cb = b >> 32, rb = ChunkCollection::row_of(b);
    for (size_t k = 0; k < keys.size(); ++k) {
      int c = compare_for_order(*keys[k][ca], ra, *keys[k][cb], rb, descending && (*descending)[k],
                                !nulls_first || (*nulls_first)[k]);
      if (c != 0) return c;
    }
    return 0;
  }

  // The last instance: every window function over every row.
  void compute() {
    const ChunkCollection& input = shared_.input;
    std::vector<uint64_t> rows;
    rows.reserve(input.rows);
    for (size_t c = 0; c < input.chunks.size(); ++c) {
      for (size_t r = 0; r < input.chunks[c]->size(); ++r) rows.push_back((uint64_t{c} << 32) | r);
    }
    shared_.results.resize(plan_.windows.size());
    for (size_t w = 0; w < plan_.windows.size(); ++w) {
      const BoundWindow& window = plan_.windows[w];
      auto& results = shared_.results[w];
      for (size_t c = 0; c < input.chunks.size(); ++c) {
        results.push_back(std::make_unique<Vector>(window.type));
      }
      Evaluated e;
      for (const auto& p : window.partition_by) e.partition.push_back(evaluate(*p, input));
      for (const auto& o : window.order_by) e.order.push_back(evaluate(*o, input));
      if (window.argument) e.argument = evaluate(*window.argument, input);
      if (window.default_value) e.default_value = evaluate(*window.default_value, input);
      if (window.distinct) {
        RowKeyEncoder encoder;
        for (const auto& argument : e.argument) {
          std::vector<const Vector*> columns{argument.get()};
          size_t rows = input.chunks[e.distinct_keys.size()]->size();
          encoder.encode(columns, rows);
          auto& keys = e.distinct_keys.emplace_back();
          for (size_t r = 0; r < rows; ++r) keys.emplace_back(encoder.key(r));
        }
      }
      std::vector<uint64_t> order = rows;
      std::stable_sort(order.begin(), order.end(), [&](uint64_t a, uint64_t b) {
        int c = compare_keys(e.partition, a, b, nullptr, nullptr);
        if (c != 0) return c < 0;
        return compare_keys(e.order, a, b, &window.descending, &window.nulls_first) < 0;
      });
      size_t begin = 0;
      while (begin < order.size()) {
        size_t end = begin + 1;
        while (end < order.size() &&
               compare_keys(e.partition, order[begin], order[end], nullptr, nullptr) == 0) {
          ++end;
        }
        compute_partition(window, e, order, begin, end, results);
        begin = end;
      }
    }
  }

  void set_int(std::vector<std::unique_ptr<Vector>>& results, uint64_t ref, int64_t value) {
    results[ref >> 32]->data<int64_t>()[ChunkCollection::row_of(ref)] = value;
  }

  void set_double(std::vector<std::unique_ptr<Vector>>& results, uint64_t ref, double value) {
    results[ref >> 32]->data<double>()[ChunkCollection::row_of(ref)] = value;
  }

  // Row `to` of the results = row `from` of `values` (both row references).
  static void copy_value(std::vector<std::unique_ptr<Vector>>& results, uint64_t to,
                         const std::vector<std::unique_ptr<Vector>>& values, uint64_t from) {
    results[to >> 32]->copy_row(ChunkCollection::row_of(to), *values[from >> 32],
                                ChunkCollection::row_of(from));
  }
  static void set_null(std::vector<std::unique_ptr<Vector>>& results, uint64_t ref) {
    results[ref >> 32]->set_null(ChunkCollection::row_of(ref));
  }

  // The ORDER BY key of a RANGE frame with offsets as an integer in its units (null: none; the
  // binder allows only integer-backed keys).
  static std::optional<int128_t> range_key(const Evaluated& e, uint64_t ref) {
    const Vector& v = *e.order[0][ref >> 32];
    size_t row = ChunkCollection::row_of(ref);
    if (!v.is_valid(row)) return std::nullopt;
    return read_integer(v, row);
  }

  // A RANGE frame's bound for the row at position i: the first (is_start) or last position whose
  // key is within `offset` of the row's key, in the direction of the order. Rows with a NULL key
  // frame their NULL peers only.
  static int64_t range_bound(const BoundWindow& window, const Evaluated& e,
                             const std::vector<uint64_t>& order, size_t begin, size_t end, size_t i,
                             int64_t offset, bool is_start) {
    std::optional<int128_t> key = range_key(e, order[i]);
    auto first = order.begin() + static_cast<std::ptrdiff_t>(begin);
    auto last = order.begin() + static_cast<std::ptrdiff_t>(end);
    if (!key) {
      // The NULL peers: a run at one end of the partition.
      auto is_null = [&](uint64_t ref) { return !range_key(e, ref).has_value(); };
      bool nulls_first = window.nulls_first[0];
      auto split = nulls_first ? std::partition_point(first, last, is_null)
                               : std::partition_point(first, last,
                                                      [&](uint64_t ref) { return !is_null(ref); });
      if (nulls_first) return is_start ? static_cast<int64_t>(begin) : (split - order.begin()) - 1;
      return is_start ? split - order.begin() : static_cast<int64_t>(end) - 1;
    }
    // In order direction, the target key is key + offset (ascending) or key - offset
    // (descending); the frame takes keys on the row's side of it.
    bool descending = window.descending[0];
    int128_t target = descending ? *key - offset : *key + offset;
    // Position of the first row that comes after all rows "before or at" the target.
    auto before_target = [&](uint64_t ref, bool inclusive) {
      std::optional<int128_t> k = range_key(e, ref);
      if (!k) return window.nulls_first[0];  // NULLs sort before (first) or after everything
      if (descending) return inclusive ? *k >= target : *k > target;
      return inclusive ? *k <= target : *k < target;
    };
    if (is_start) {
      auto it =
          std::partition_point(first, last, [&](uint64_t r) { return before_target(r, false); });
      return it - order.begin();
    }
    auto it = std::partition_point(first, last, [&](uint64_t r) { return before_target(r, true); });
    return (it - order.begin()) - 1;
  }

  static bool is_ranking(BoundWindow::Kind kind) {
    return kind == BoundWindow::Kind::kRowNumber || kind == BoundWindow::Kind::kRank ||
           kind == BoundWindow::Kind::kDenseRank || kind == BoundWindow::Kind::kPercentRank ||
           kind == BoundWindow::Kind::kCumeDist || kind == BoundWindow::Kind::kNtile;
  }

  // NTILE(buckets) of the row at `index` (0-based) of a partition of `rows`: the first
  // rows % buckets buckets hold one row more than the others.
  static int64_t ntile(int64_t index, int64_t rows, int64_t buckets) {
    int64_t small = rows / buckets;
    int64_t large_buckets = rows % buckets;
    int64_t in_large = large_buckets * (small + 1);
    if (index < in_large) return index / (small + 1) + 1;
    return large_buckets + (index - in_large) / small + 1;
  }

  void compute_partition(const BoundWindow& window, const Evaluated& e,
                         const std::vector<uint64_t>& order, size_t begin, size_t end,
                         std::vector<std::unique_ptr<Vector>>& results) {
    auto peers = [&](size_t i, size_t j) {
      return compare_keys(e.order, order[i], order[j], &window.descending, &window.nulls_first) ==
             0;
    };
    // LAG and LEAD go by position alone.
    if (window.kind == BoundWindow::Kind::kLag || window.kind == BoundWindow::Kind::kLead) {
      int64_t step = window.kind == BoundWindow::Kind::kLag ? -window.offset : window.offset;
      for (size_t i = begin; i < end; ++i) {
        int64_t source = static_cast<int64_t>(i) + step;
        if (source >= static_cast<int64_t>(begin) && source < static_cast<int64_t>(end)) {
          copy_value(results, order[i], e.argument, order[static_cast<size_t>(source)]);
        } else if (window.default_value) {
          copy_value(results, order[i], e.default_value, order[i]);
        } else {
          set_null(results, order[i]);
        }
      }
      return;
    }
    // Each row's peer group: [peer_first, peer_last] (positions in `order`).
    std::vector<size_t> peer_first(end - begin);
    std::vector<size_t> peer_last(end - begin);
    for (size_t i = begin; i < end;) {
      size_t j = i + 1;
      while (j < end && peers(i, j)) ++j;
      for (size_t k = i; k < j; ++k) {
        peer_first[k - begin] = i;
        peer_last[k - begin] = j - 1;
      }
      i = j;
    }
    int64_t rows = static_cast<int64_t>(end - begin);
    if (is_ranking(window.kind)) {
      int64_t dense = 0;
      for (size_t i = begin; i < end; ++i) {
        int64_t index = static_cast<int64_t>(i - begin);
        int64_t rank = static_cast<int64_t>(peer_first[i - begin] - begin) + 1;
        if (peer_first[i - begin] == i) ++dense;
        switch (window.kind) {
          case BoundWindow::Kind::kRowNumber:
            set_int(results, order[i], index + 1);
            break;
          case BoundWindow::Kind::kRank:
            set_int(results, order[i], rank);
            break;
          case BoundWindow::Kind::kDenseRank:
            set_int(results, order[i], dense);
            break;
          case BoundWindow::Kind::kPercentRank:
            set_double(
                results, order[i],
                rows > 1 ? static_cast<double>(rank - 1) / static_cast<double>(rows - 1) : 0.0);
            break;
          case BoundWindow::Kind::kCumeDist:
            set_double(
                results, order[i],
                static_cast<double>(peer_last[i - begin] - begin + 1) / static_cast<double>(rows));
            break;
          default:
            set_int(results, order[i], ntile(index, rows, window.offset));
            break;
        }
      }
      return;
    }
    // The frame of the row at position i: [from, to] in `order`, clamped to the partition.
    auto frame = [&](size_t i) -> std::pair<int64_t, int64_t> {
      auto bound = [&](const FrameBound& b, bool is_start) -> int64_t {
        switch (b.kind) {
          case FrameBound::Kind::kUnboundedPreceding:
            return static_cast<int64_t>(begin);
          case FrameBound::Kind::kUnboundedFollowing:
            return static_cast<int64_t>(end) - 1;
          case FrameBound::Kind::kCurrentRow:
            if (window.rows_frame) return static_cast<int64_t>(i);
            // RANGE: the current row's peers are all in the frame.
            return static_cast<int64_t>(is_start ? peer_first[i - begin] : peer_last[i - begin]);
          case FrameBound::Kind::kOffset:
            if (window.rows_frame) return static_cast<int64_t>(i) + b.offset;
            return range_bound(window, e, order, begin, end, i, b.offset, is_start);
        }
        return static_cast<int64_t>(i);
      };
      return {std::max<int64_t>(bound(window.start, true), static_cast<int64_t>(begin)),
              std::min<int64_t>(bound(window.end, false), static_cast<int64_t>(end) - 1)};
    };
    if (window.kind == BoundWindow::Kind::kFirstValue ||
        window.kind == BoundWindow::Kind::kLastValue) {
      // Per position: the nearest row at or after it (at or before it) with a non-NULL value.
      auto valid = [&](size_t k) {
        return e.argument[order[k] >> 32]->is_valid(ChunkCollection::row_of(order[k]));
      };
      std::vector<int64_t> next_valid(end - begin + 1);
      std::vector<int64_t> previous_valid(end - begin);
      next_valid[end - begin] = static_cast<int64_t>(end);
      for (size_t k = end; k-- > begin;) {
        next_valid[k - begin] = valid(k) ? static_cast<int64_t>(k) : next_valid[k - begin + 1];
      }
      for (size_t k = begin; k < end; ++k) {
        previous_valid[k - begin] = valid(k)    ? static_cast<int64_t>(k)
                                    : k > begin ? previous_valid[k - begin - 1]
                                                : -1;
      }
      for (size_t i = begin; i < end; ++i) {
        auto [from, to] = frame(i);
        int64_t pick = -1;
        if (from <= to) {
          pick = window.kind == BoundWindow::Kind::kFirstValue
                     ? next_valid[static_cast<size_t>(from) - begin]
                     : previous_valid[static_cast<size_t>(to) - begin];
          if (pick < from || pick > to) pick = -1;
        }
        if (pick < 0) {
          set_null(results, order[i]);
        } else {
          copy_value(results, order[i], e.argument, order[static_cast<size_t>(pick)]);
        }
      }
      return;
    }
    const AggregateFunction& f = *window.function.function;
    std::vector<uint8_t> storage(f.state_size + 16);
    uint8_t* state = storage.data() + (16 - reinterpret_cast<uintptr_t>(storage.data()) % 16) % 16;
    Vector value(window.argument ? window.argument->type : LogicalType::boolean());
    Vector result(window.type);
    // DISTINCT: the values the frame has fed the aggregate so far (encoded keys).
    absl::flat_hash_set<std::string_view> seen;
    auto add = [&](size_t i) {
      uint64_t ref = order[i];
      if (window.distinct &&
          !seen.insert(e.distinct_keys[ref >> 32][ChunkCollection::row_of(ref)]).second) {
        return;
      }
      if (window.argument) value.copy_row(0, *e.argument[ref >> 32], ChunkCollection::row_of(ref));
      f.update(f, &state, window.argument ? &value : nullptr, 1);
    };
    auto emit = [&](size_t i) {
      f.finalize(f, &state, 1, result);
      uint64_t ref = order[i];
      results[ref >> 32]->copy_row(ChunkCollection::row_of(ref), result, 0);
      result.reset_validity();
    };
    auto reset = [&] {
      if (f.destroy) f.destroy(state);
      f.initialize(state);
      seen.clear();
    };
    f.initialize(state);
    bool whole = window.start.kind == FrameBound::Kind::kUnboundedPreceding &&
                 window.end.kind == FrameBound::Kind::kUnboundedFollowing;
    bool running = window.start.kind == FrameBound::Kind::kUnboundedPreceding &&
                   window.end.kind == FrameBound::Kind::kCurrentRow;
    if (whole) {
      for (size_t i = begin; i < end; ++i) add(i);
      for (size_t i = begin; i < end; ++i) emit(i);
    } else if (running && !window.rows_frame) {
      // RANGE: up to the current row's last peer.
      for (size_t i = begin; i < end; i = peer_last[i - begin] + 1) {
        size_t j = peer_last[i - begin] + 1;
        for (size_t k = i; k < j; ++k) add(k);
        for (size_t k = i; k < j; ++k) emit(k);
      }
    } else if (running) {
      for (size_t i = begin; i < end; ++i) {
        add(i);
        emit(i);
      }
    } else {
      // Any other frame (ROWS offsets, frames starting at the current row): each row's own.
      for (size_t i = begin; i < end; ++i) {
        reset();
        auto [from, to] = frame(i);
        for (int64_t k = from; k <= to; ++k) add(static_cast<size_t>(k));
        emit(i);
      }
    }
    if (f.destroy) f.destroy(state);
  }

  const LogicalOperator& plan_;
  PhysicalPlan child_;
  ExecutionContext& context_;
  WindowShared& shared_;
  size_t instance_;
  bool done_ = false;
  size_t emitted_ = 0;
};

}  // namespace

PhysicalPlan make_window(const LogicalOperator& plan, PhysicalPlan child, ExecutionContext& context,
                         size_t instance) {
  return std::make_unique<WindowOperator>(plan, std::move(child), context, instance);
}

}  // namespace sluice::sql
