// The seed article's pipeline: real-time fraud scoring over one-minute event-time windows.
//
//   transactions (generated, --input file.csv, or --source kafka) with event time and disorder
//     -> key by customer -> one-minute tumbling event-time windows
//     -> score each customer's window (count, sum, max amount, distinct merchants)
//     -> adjust by the customer's own history (keyed ValueState)
//     -> one JSON line per fired window;  late transactions -> their own file
//
// Exactly-once: checkpoints are on by default (every --checkpoint-interval, 1s, into
// --checkpoint-dir, OUTPUT/checkpoints) and the output files are committed with them, so the job
// can be killed at any moment and resumed with --restore-from latest: the committed output is then
// exactly that of an uninterrupted run. (--checkpoint-interval 0 turns checkpoints off.)
//
// Flags: --input FILE.csv (columns customer_id,merchant_id,amount,ts with ts in epoch ms; a header
//        line is allowed), --out-of-orderness 5s, --transactions N (generated, default 2M),
//        --rate N/s (generated; default unthrottled), --output DIR (out), --parallelism P,
//        --restore-from latest|CHECKPOINT_FOLDER.
//        --source kafka --bootstrap HOST:PORT --topic TOPIC: transactions as JSON records
//        ({"customer_id":1,"merchant_id":2,"amount":9.5,"ts":1767225600000}), watermarks per
//        partition (idle after --idleness, 10s); --group ID, --bounded true (stop at the offsets
//        that were the end when the job started). A record that is not such JSON is reported with
//        its topic, partition and offset and skipped.
#include <absl/container/flat_hash_set.h>
#include <sluice/connectors/kafka.h>
#include <sluice/formats/json.h>
#include <sluice/sluice.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>

namespace {

using namespace std::chrono_literals;

struct Transaction {
  int64_t customer_id;
  int64_t merchant_id;
  double amount;
  int64_t ts;  // event time, epoch milliseconds
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Transaction, customer_id, merchant_id, amount, ts)

struct WindowScore {
  int64_t customer_id;
  int64_t window_start;
  int64_t window_end;
  int64_t count;
  double sum_amount;
  double max_amount;
  int64_t distinct_merchants;
  double score;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WindowScore, customer_id, window_start, window_end, count,
                                   sum_amount, max_amount, distinct_merchants, score)

constexpr int64_t kEpoch = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

// Deterministic generated traffic: 5,000 customers, 2,000 merchants, about 1,700 transactions a
// second of event time with up to ±2 s of disorder (so two transactions are at most 4 s apart,
// within the watermarks' 5 s out-of-orderness), a rare burst of large payments, and, after the
// first minute, one transaction in a thousand arriving 90 s late. (Within the first minute, before
// the first periodic watermark, a straggler may or may not count as late depending on timing.)
Transaction make_transaction(int64_t i) {
  uint64_t h = sluice::mix64(static_cast<uint64_t>(i) + 0x9e3779b97f4a7c15ULL);
  double amount = 5.0 + static_cast<double>(h % 19500) / 100.0;
  if ((h >> 20) % 500 == 0) amount *= 40;
  int64_t ts = kEpoch + i * 3 / 5 + static_cast<int64_t>((h >> 24) % 4000) - 2000;
  if ((h >> 40) % 1000 == 0 && i >= 100'000) ts -= 90'000;
  return Transaction{static_cast<int64_t>((h >> 32) % 5'000),
                     static_cast<int64_t>((h >> 12) % 2'000), amount, ts};
}

// Parses "customer_id,merchant_id,amount,ts"; bad lines are reported with file and line number
// and skipped (counted as "malformed_lines").
class ParseCsv {
 public:
  void open(const sluice::RuntimeContext& context) {
    malformed_ = &context.counter("malformed_lines");
  }

  void operator()(const sluice::TextLine& line, sluice::Collector<Transaction>& out) {
    if (line.text.empty() || (line.line == 1 && line.text.rfind("customer_id", 0) == 0)) return;
    Transaction t{};
    const char* reason = parse(line.text, t);
    if (reason == nullptr) {
      out.collect_with_timestamp(t, t.ts);
      return;
    }
    malformed_->increment();
    std::fprintf(stderr, "%s:%lld: skipped malformed line (%s): %.200s\n", line.file.c_str(),
                 static_cast<long long>(line.line), reason, line.text.c_str());
  }

 private:
  template <class V>
  static bool field(std::string_view& rest, V& value, bool last) {
    size_t comma = rest.find(',');
    if (last != (comma == std::string_view::npos)) return false;
    std::string_view text = rest.substr(0, comma);
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    rest = last ? std::string_view() : rest.substr(comma + 1);
    return ec == std::errc() && ptr == text.data() + text.size();
  }
  static const char* parse(std::string_view text, Transaction& t) {
    if (std::count(text.begin(), text.end(), ',') != 3) {
      return "expected 4 columns: customer_id,merchant_id,amount,ts";
    }
    if (!field(text, t.customer_id, false)) return "bad customer_id";
    if (!field(text, t.merchant_id, false)) return "bad merchant_id";
    if (!field(text, t.amount, false)) return "bad amount";
    if (!field(text, t.ts, true)) return "bad ts (epoch milliseconds)";
    if (t.amount < 0) return "negative amount";
    return nullptr;
  }

  sluice::Counter* malformed_ = nullptr;
};

struct WindowStats {
  int64_t count = 0;
  double sum = 0;
  double max = 0;
  absl::flat_hash_set<int64_t> merchants;
};

struct Accumulate : sluice::AggregateFunction<Transaction, WindowStats, WindowStats> {
  WindowStats create_accumulator() const override { return {}; }
  void add(const Transaction& t, WindowStats& acc) const override {
    acc.count += 1;
    acc.sum += t.amount;
    acc.max = std::max(acc.max, t.amount);
    acc.merchants.insert(t.merchant_id);
  }
  WindowStats get_result(const WindowStats& acc) const override { return acc; }
  void merge(const WindowStats& from, WindowStats& into) const override {
    into.count += from.count;
    into.sum += from.sum;
    into.max = std::max(into.max, from.max);
    into.merchants.insert(from.merchants.begin(), from.merchants.end());
  }
};

// Score in [0, 1] from the window alone: one payment far above the window's average, many
// transactions, and many distinct merchants in one minute each raise it.
class Score : public sluice::ProcessWindowFunction<WindowStats, WindowScore, int64_t> {
 public:
  void process(const int64_t& customer, const Context& ctx, const std::vector<WindowStats>& stats,
               sluice::Collector<WindowScore>& out) override {
    const WindowStats& s = stats.front();
    const double average = s.sum / static_cast<double>(s.count);
    const double spike = s.count > 1 ? s.max / average : 1.0;
    const auto distinct = static_cast<int64_t>(s.merchants.size());
    // A payment ten times the window's average alone reaches the flag; volume and merchant
    // spread add to it (typical windows here score about 0.2).
    const double score = 0.2 * std::min(1.0, static_cast<double>(s.count) / 60.0) +
                         0.6 * std::min(1.0, (spike - 1.0) / 9.0) +
                         0.2 * std::min(1.0, static_cast<double>(distinct) / 40.0);
    out.collect(WindowScore{customer, ctx.window().start, ctx.window().end, s.count, s.sum, s.max,
                            distinct, score});
  }
};

// Per-customer history in keyed state: an exponential moving average of the customer's window
// sums. A window spending several times the customer's own baseline raises the score.
class CustomerBaseline : public sluice::KeyedProcessFunction<int64_t, WindowScore, WindowScore> {
 public:
  static constexpr double kFlagged = 0.6;

  struct History {
    int64_t windows = 0;
    double average_sum = 0;
  };

  void open(sluice::KeyedRuntimeContext<int64_t>& ctx) {
    history_ = &ctx.get_state(sluice::ValueStateDescriptor<History>{"history"});
    flagged_ = &ctx.counter("flagged_windows");
  }

  void process_element(const WindowScore& window, Context&,
                       sluice::Collector<WindowScore>& out) override {
    History h = history_->value().value_or(History{});
    WindowScore scored = window;
    if (h.windows >= 3 && h.average_sum > 0) {
      const double ratio = window.sum_amount / h.average_sum;
      scored.score =
          std::min(1.0, scored.score + 0.3 * std::min(1.0, std::max(0.0, (ratio - 2.0) / 3.0)));
    }
    h.average_sum =
        h.windows == 0 ? window.sum_amount : 0.8 * h.average_sum + 0.2 * window.sum_amount;
    h.windows += 1;
    history_->update(h);
    if (scored.score >= kFlagged) flagged_->increment();
    out.collect(scored);
  }

 private:
  sluice::ValueState<History>* history_ = nullptr;
  sluice::Counter* flagged_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    auto env = sluice::StreamEnvironment::from_args(argc, argv);
    const auto& config = env.config();
    const std::string output = config.get_string("output", "out");
    const auto disorder = config.get_duration("out-of-orderness", 5s);
    const std::string checkpoints = config.get_string("checkpoint-dir", output + "/checkpoints");
    const auto interval = config.get_duration("checkpoint-interval", 1s);
    if (interval.count() > 0) env.enable_checkpointing(interval, checkpoints);
    // A fresh run starts from empty output; a resumed one keeps what was committed, and
    // --explain (print the plan, run nothing) touches nothing.
    if (env.options().restore_from.empty() && !config.has("explain")) {
      for (const std::string& dir : {output + "/windows", output + "/late", checkpoints}) {
        std::filesystem::remove_all(dir);
      }
    }

    auto strategy = sluice::WatermarkStrategy<Transaction>::for_bounded_out_of_orderness(disorder)
                        .with_timestamp_assigner([](const Transaction& t) { return t.ts; });
    auto transactions = [&] {
      if (config.get_string("source", "") == "kafka") {
        auto source = sluice::kafka_source(sluice::kafka_json<Transaction>())
                          .bootstrap_servers(config.get_string("bootstrap", "localhost:9092"))
                          .topics({config.get_string("topic", "transactions")})
                          .group_id(config.get_string("group", "fraud-scoring"))
                          .on_bad_record(sluice::BadRecordPolicy::kDeadLetter);
        if (config.get_bool("bounded", false)) source.bounded();
        auto stream = env.from_source(
            source, strategy.with_idleness(config.get_duration("idleness", 10s)), "transactions");
        stream.get_side_output(source.dead_letters())
            .add_sink([](const sluice::KafkaDeadLetter& d) {
              std::fprintf(stderr, "%s-%d offset %lld: skipped malformed record (%s): %.200s\n",
                           d.topic.c_str(), d.partition, static_cast<long long>(d.offset),
                           d.reason.c_str(), d.value.value_or("").c_str());
            })
            .name("malformed_records");
        return stream;
      }
      if (auto input = config.get("input")) {
        return env.from_source(sluice::TextLineSource(*input), "csv")
            .flat_map(ParseCsv{})
            .name("parse")
            .assign_timestamps_and_watermarks(strategy)
            .name("watermarks");
      }
      auto source = sluice::datagen<Transaction>(make_transaction)
                        .number_of_rows(config.get_int("transactions", 2'000'000))
                        .rows_per_second(config.get_double("rate", 0));
      return env.from_source(source, strategy, "transactions");
    }();

    sluice::OutputTag<Transaction> late("late-transactions");
    auto windows = transactions.key_by(&Transaction::customer_id)
                       .window(sluice::TumblingEventTimeWindows::of(1min))
                       .side_output_late_data(late)
                       .aggregate(Accumulate{}, Score{})
                       .name("fraud_scoring");
    auto scores =
        windows.key_by(&WindowScore::customer_id).process(CustomerBaseline{}).name("baseline");
    scores.sink_to(sluice::FileSink<WindowScore>::json_lines(output + "/windows"))
        .name("scores_sink");
    windows.get_side_output(late)
        .sink_to(sluice::FileSink<Transaction>::json_lines(output + "/late"))
        .name("late_sink");

    auto result = env.execute("fraud-scoring");
    const auto& m = result.metrics;
    std::printf(
        "windows fired: %llu   flagged (score >= %.1f): %llu   late transactions: %llu   "
        "malformed lines: %llu   (%.0f ms)\n",
        static_cast<unsigned long long>(m.total("scores_sink").records_in),
        CustomerBaseline::kFlagged,
        static_cast<unsigned long long>(m.total("baseline").user_counters["flagged_windows"]),
        static_cast<unsigned long long>(m.total("late_sink").records_in),
        static_cast<unsigned long long>(m.total("parse").user_counters["malformed_lines"] +
                                        m.total("transactions").user_counters["kafka_bad_records"]),
        result.elapsed_ms);
    std::printf("window scores:      %s/windows/part-*.jsonl\n", output.c_str());
    std::printf("late transactions:  %s/late/part-*.jsonl\n", output.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fraud_detection: %s\n", e.what());
    return 1;
  }
}
