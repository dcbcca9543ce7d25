// The job the Kafka exactly-once test breaks on purpose: Kafka in (bounded), a running count per
// key in keyed state, Kafka out through transactions. Failures come from outside (SIGKILL) or
// inside (--fail-at N: a user function throws at the N-th record this process handles); the test
// restarts it with --restore-from latest, at random parallelisms. A read_committed consumer of the
// output must then see every input record's result exactly once.
//
// Flags: --bootstrap HOST:PORT, --input TOPIC, --output TOPIC, --fail-at N, and the engine's.
#include <sluice/connectors/kafka.h>
#include <sluice/sluice.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>

namespace {

struct Counted {
  std::string key;
  std::string value;
  int64_t count = 0;
};

struct RunningCount : sluice::KeyedProcessFunction<std::string, sluice::KafkaMessage, Counted> {
  sluice::ValueState<int64_t>* count = nullptr;
  void open(sluice::KeyedRuntimeContext<std::string>& ctx) {
    count = &ctx.get_state(sluice::ValueStateDescriptor<int64_t>{"count"});
  }
  void process_element(const sluice::KafkaMessage& m, Context&,
                       sluice::Collector<Counted>& out) override {
    const int64_t n = count->value().value_or(0) + 1;
    count->update(n);
    out.collect(Counted{m.key.value_or(""), m.value.value_or(""), n});
  }
};

std::atomic<int64_t> handled{0};

}  // namespace

int main(int argc, char** argv) {
  try {
    auto env = sluice::StreamEnvironment::from_args(argc, argv);
    const auto& config = env.config();
    const std::string bootstrap = config.get_string("bootstrap", "");
    const int64_t fail_at = config.get_int("fail-at", 0);
    env.from_source(sluice::kafka_source(sluice::kafka_raw())
                        .bootstrap_servers(bootstrap)
                        .topics({config.get_string("input", "in")})
                        .bounded(),
                    "kafka-in")
        .map([fail_at](const sluice::KafkaMessage& m) {
          if (handled.fetch_add(1, std::memory_order_relaxed) + 1 == fail_at) {
            throw std::runtime_error("injected failure");
          }
          return m;
        })
        .key_by([](const sluice::KafkaMessage& m) { return m.key.value_or(""); })
        .process(RunningCount{})
        .sink_to(sluice::kafka_sink_of<Counted>(
                     sluice::kafka_key_value([](const Counted& c) { return c.key; },
                                             [](const Counted& c) {
                                               return c.key + "," + c.value + "," +
                                                      std::to_string(c.count);
                                             }))
                     .bootstrap_servers(bootstrap)
                     .topic(config.get_string("output", "out"))
                     .exactly_once("chaos")
                     .property("transaction.timeout.ms", "30000"));
    env.execute("kafka-chaos");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_chaos_job: %s\n", e.what());
    return 1;
  }
}
