// The seed article's transaction pipeline, in the form the runtime supports today:
//
//   generated transactions -> key by customer -> rolling per-customer totals
//     -> flag spending spikes -> alerts as JSON lines (+ a side output of very large payments)
//
// Run:  fraud_detection [--transactions N] [--rate N/s] [--parallelism P] [--output DIR]
// With --transactions 0 the source is unbounded (stop with Ctrl-C).
#include <sluice/sluice.h>

#include <cstdio>
#include <filesystem>

namespace {

struct Transaction {
  int64_t customer_id;
  int64_t merchant_id;
  double amount;
  int64_t ts;  // event time, epoch milliseconds
};

// Rolling state per customer, updated by every transaction.
struct CustomerTotals {
  int64_t customer_id = 0;
  int64_t transactions = 0;
  double total_amount = 0;
  double max_amount = 0;
  double last_amount = 0;
  int64_t last_merchant_id = 0;
  int64_t last_ts = 0;
};

struct Alert {
  int64_t customer_id;
  int64_t merchant_id;
  double amount;
  double average_before;
  int64_t transactions;
  int64_t ts;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Alert, customer_id, merchant_id, amount, average_before,
                                   transactions, ts)

// Deterministic pseudo-random transactions: 10,000 customers, amounts mostly 5..200 with an
// occasional spike, one transaction per millisecond of event time.
Transaction make_transaction(int64_t i) {
  uint64_t h = sluice::mix64(static_cast<uint64_t>(i) + 0x9e3779b97f4a7c15ULL);
  double amount = 5.0 + static_cast<double>(h % 19500) / 100.0;
  if ((h >> 20) % 500 == 0) amount *= 40;  // a spike: 0.2% of transactions
  return Transaction{static_cast<int64_t>((h >> 32) % 10'000),
                     static_cast<int64_t>((h >> 12) % 2'000), amount, 1'767'225'600'000 + i};
}

// Flags a payment far above the customer's running average, once the customer has history.
class SpikeDetector : public sluice::ProcessFunction<CustomerTotals, Alert> {
 public:
  explicit SpikeDetector(sluice::OutputTag<Alert> large) : large_(std::move(large)) {}

  void open(const sluice::RuntimeContext& context) { flagged_ = &context.counter("alerts"); }

  void process_element(const CustomerTotals& t, sluice::ProcessContext& ctx,
                       sluice::Collector<Alert>& out) override {
    const double average_before = t.transactions > 1 ? (t.total_amount - t.last_amount) /
                                                           static_cast<double>(t.transactions - 1)
                                                     : 0;
    Alert alert{t.customer_id,  t.last_merchant_id, t.last_amount,
                average_before, t.transactions,     t.last_ts};
    if (t.transactions >= 5 && t.last_amount > 8 * average_before) {
      flagged_->increment();
      out.collect(alert);
    }
    if (t.last_amount > 5'000) ctx.output(large_, alert);
  }

 private:
  sluice::OutputTag<Alert> large_;
  sluice::Counter* flagged_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    auto env = sluice::StreamEnvironment::from_args(argc, argv);
    const int64_t transactions = env.config().get_int("transactions", 2'000'000);
    const double rate = env.config().get_double("rate", 0);
    const std::string output = env.config().get_string("output", "out");
    std::filesystem::remove_all(output + "/alerts");
    std::filesystem::remove_all(output + "/large-payments");

    auto source = sluice::datagen<Transaction>(make_transaction).rows_per_second(rate);
    if (transactions > 0) source.number_of_rows(transactions);

    sluice::OutputTag<Alert> large_payments("large-payments");
    auto totals_per_transaction =
        env.from_source(source, "transactions")
            .map([](const Transaction& t) {
              return CustomerTotals{t.customer_id, 1,   t.amount, t.amount, t.amount,
                                    t.merchant_id, t.ts};
            })
            .name("to_totals");
    auto totals = totals_per_transaction.key_by(&CustomerTotals::customer_id)
                      .reduce([](const CustomerTotals& acc, const CustomerTotals& next) {
                        CustomerTotals t = acc;
                        t.transactions += 1;
                        t.total_amount += next.total_amount;
                        t.max_amount = std::max(acc.max_amount, next.max_amount);
                        t.last_amount = next.last_amount;
                        t.last_merchant_id = next.last_merchant_id;
                        t.last_ts = next.last_ts;
                        return t;
                      })
                      .name("rolling_totals");
    auto flagged = totals.process(SpikeDetector(large_payments)).name("spike_detector");
    flagged.sink_to(sluice::FileSink<Alert>::json_lines(output + "/alerts")).name("alerts_sink");
    flagged.get_side_output(large_payments)
        .sink_to(sluice::FileSink<Alert>::json_lines(output + "/large-payments"))
        .name("large_payments_sink");

    auto result = env.execute("fraud-detection");
    auto detector = result.metrics.total("spike_detector");
    std::printf("processed %llu transactions in %.0f ms; %llu alerts\n",
                static_cast<unsigned long long>(result.metrics.total("transactions").records_out),
                result.elapsed_ms,
                static_cast<unsigned long long>(detector.user_counters["alerts"]));
    std::printf("alerts:          %s/alerts/part-*.jsonl\n", output.c_str());
    std::printf("large payments:  %s/large-payments/part-*.jsonl\n", output.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fraud_detection: %s\n", e.what());
    return 1;
  }
}
