// Window functions: ROW_NUMBER, RANK, DENSE_RANK and aggregates over frames of a partition. The
// operator collects its input (every instance its part, the last to arrive computes, as the
// sort does), then for each window function sorts the rows by partition and order keys and walks
// each partition: ranks from the peer groups, aggregates over the frame (the whole partition,
// the rows up to the current row's last peer, or ROWS offsets). Instance 0 emits the rows with
// one more column per window function.
#include <algorithm>

#include "expression_executor.h"
#include "physical_operator.h"

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

  void compute_partition(const BoundWindow& window, const Evaluated& e,
                         const std::vector<uint64_t>& order, size_t begin, size_t end,
                         std::vector<std::unique_ptr<Vector>>& results) {
    auto peers = [&](size_t i, size_t j) {
      return compare_keys(e.order, order[i], order[j], &window.descending, &window.nulls_first) ==
             0;
    };
    if (window.kind != BoundWindow::Kind::kAggregate) {
      int64_t rank = 0;
      int64_t dense = 0;
      for (size_t i = begin; i < end; ++i) {
        bool new_peer_group = i == begin || !peers(i - 1, i);
        if (new_peer_group) {
          rank = static_cast<int64_t>(i - begin) + 1;
          ++dense;
        }
        int64_t value = window.kind == BoundWindow::Kind::kRowNumber
                            ? static_cast<int64_t>(i - begin) + 1
                        : window.kind == BoundWindow::Kind::kRank ? rank
                                                                  : dense;
        set_int(results, order[i], value);
      }
      return;
    }
    const AggregateFunction& f = *window.function.function;
    std::vector<uint8_t> storage(f.state_size + 16);
    uint8_t* state = storage.data() + (16 - reinterpret_cast<uintptr_t>(storage.data()) % 16) % 16;
    Vector value(window.argument ? window.argument->type : LogicalType::boolean());
    Vector result(window.type);
    auto add = [&](size_t i) {
      uint64_t ref = order[i];
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
      size_t i = begin;
      while (i < end) {
        size_t j = i + 1;
        while (j < end && peers(i, j)) ++j;
        for (size_t k = i; k < j; ++k) add(k);
        for (size_t k = i; k < j; ++k) emit(k);
        i = j;
      }
    } else if (running) {
      for (size_t i = begin; i < end; ++i) {
        add(i);
        emit(i);
      }
    } else {
      // ROWS with offsets: each row's frame on its own.
      auto bound = [&](const FrameBound& b, size_t i) -> int64_t {
        switch (b.kind) {
          case FrameBound::Kind::kUnboundedPreceding:
            return static_cast<int64_t>(begin);
          case FrameBound::Kind::kUnboundedFollowing:
            return static_cast<int64_t>(end) - 1;
          case FrameBound::Kind::kCurrentRow:
            return static_cast<int64_t>(i);
          case FrameBound::Kind::kOffset:
            return static_cast<int64_t>(i) + b.offset;
        }
        return static_cast<int64_t>(i);
      };
      for (size_t i = begin; i < end; ++i) {
        reset();
        int64_t from = std::max<int64_t>(bound(window.start, i), static_cast<int64_t>(begin));
        int64_t to = std::min<int64_t>(bound(window.end, i), static_cast<int64_t>(end) - 1);
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
