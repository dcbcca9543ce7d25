// Kafka throughput: a Sluice job reading a topic, mapping every record and writing another topic,
// next to the independent client kcat against the same broker in the same run — kcat producing
// the input, kcat consuming it, and kcat consuming piped into kcat producing (the job's shape
// without an engine). The broker is the Kafka-protocol test broker (tests/connectors/kafka), so
// absolute figures say little about a real cluster; the ratios to kcat are the figure.
//
// Prints one JSON line per measurement (medians over --runs):
//   kafka_bench [--records 1000000] [--value-bytes 100] [--partitions 4] [--parallelism 2]
//               [--runs 3] [--guarantees none,at-least-once,exactly-once]
#include <sluice/connectors/kafka.h>
#include <sluice/sluice.h>

#include <filesystem>
#include <fstream>

#include "bench_util.h"
#include "connectors/kafka/kafka_broker_fixture.h"

namespace {

namespace fs = std::filesystem;
using sluice::bench::median;

struct Rate {
  double records_per_s;
  double mb_per_s;
};

struct Runner {
  sluice::testing::KafkaBroker& broker;
  int64_t records;
  int value_bytes;
  int partitions;
  int topics_made = 0;

  std::string new_topic() {
    const std::string name = "t" + std::to_string(topics_made++);
    broker.create_topic(name, partitions);
    return name;
  }

  template <class F>
  Rate timed(F&& run) const {
    const auto m = sluice::bench::measure(run);
    const double bytes = static_cast<double>(records) * value_bytes;
    return {static_cast<double>(records) / m.elapsed_s, bytes / m.elapsed_s / 1e6};
  }

  void shell(const std::string& command) const {
    const std::string out = sluice::testing::run_command(command + " 2>&1");
    if (!out.empty()) throw std::runtime_error(command + ": " + out);
  }
  std::string kcat(const std::string& args) const {
    return "kcat -q -b " + broker.bootstrap() + " " + args;
  }
};

void print(const std::string& name, const std::vector<Rate>& rates, const Runner& runner,
           int parallelism, const std::vector<Rate>* baseline = nullptr,
           const std::string& baseline_name = "") {
  std::vector<double> records, mb;
  for (const auto& r : rates) {
    records.push_back(r.records_per_s);
    mb.push_back(r.mb_per_s);
  }
  std::string ratio;
  if (baseline != nullptr) {
    std::vector<double> base;
    for (const auto& r : *baseline) base.push_back(r.records_per_s);
    ratio = fmt::format(",\"baseline\":\"{}\",\"ratio_to_baseline\":{:.2f}", baseline_name,
                        median(records) / median(base));
  }
  fmt::print(
      "{{\"bench\":\"{}\",\"records\":{},\"value_bytes\":{},\"partitions\":{},\"parallelism\":{},"
      "\"runs\":{},\"records_per_s\":{:.0f},\"mb_per_s\":{:.1f}{}}}\n",
      name, runner.records, runner.value_bytes, runner.partitions, parallelism, rates.size(),
      median(records), median(mb), ratio);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    sluice::Configuration config = sluice::Configuration::from_args(argc, argv);
    const int64_t records = config.get_int("records", 1'000'000);
    const int value_bytes = static_cast<int>(config.get_int("value-bytes", 100));
    const int partitions = static_cast<int>(config.get_int("partitions", 4));
    const int parallelism = static_cast<int>(config.get_int("parallelism", 2));
    const int runs = static_cast<int>(config.get_int("runs", 3));
    const auto guarantees =
        sluice::bench::split(config.get_string("guarantees", "none,at-least-once,exactly-once"));

    const fs::path dir =
        fs::temp_directory_path() / ("sluice-kafka-bench-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path input = dir / "input.txt";
    {
      std::ofstream out(input);
      std::string value(static_cast<size_t>(value_bytes), 'x');
      for (int64_t i = 0; i < records; ++i) {
        const std::string id = std::to_string(i);
        std::copy(id.begin(), id.end(), value.begin());
        out << value << '\n';
      }
    }

    sluice::testing::KafkaBroker broker;
    Runner runner{broker, records, value_bytes, partitions};
    const std::string source_topic = runner.new_topic();
    std::vector<Rate> produce, consume, pipe;
    std::map<std::string, std::vector<Rate>> jobs;
    for (int r = 0; r < runs; ++r) {
      const std::string topic = r == 0 ? source_topic : runner.new_topic();
      produce.push_back(runner.timed(
          [&] { runner.shell(runner.kcat("-P -t " + topic + " -l " + input.string())); }));
      consume.push_back(runner.timed([&] {
        runner.shell(runner.kcat("-C -e -t " + source_topic + " -f '%s\\n' > /dev/null"));
      }));
      const std::string piped = runner.new_topic();
      pipe.push_back(runner.timed([&] {
        runner.shell(runner.kcat("-C -e -t " + source_topic + " -f '%s\\n'") + " | " +
                     runner.kcat("-P -t " + piped));
      }));
      for (const auto& guarantee : guarantees) {
        const std::string out_topic = runner.new_topic();
        jobs[guarantee].push_back(runner.timed([&] {
          auto env = sluice::bench::bench_env(parallelism, config);
          if (guarantee == "exactly-once") {
            env.enable_checkpointing(std::chrono::seconds(1), (dir / ("cp-" + out_topic)).string());
          }
          auto sink = sluice::kafka_sink(sluice::kafka_string_value_serializer())
                          .bootstrap_servers(broker.bootstrap())
                          .topic(out_topic);
          if (guarantee == "exactly-once") {
            sink.exactly_once("bench-" + out_topic);
          } else if (guarantee == "at-least-once") {
            sink.delivery_guarantee(sluice::DeliveryGuarantee::kAtLeastOnce);
          }
          env.from_source(sluice::kafka_source(sluice::kafka_string_values())
                              .bootstrap_servers(broker.bootstrap())
                              .topics({source_topic})
                              .bounded(),
                          "kafka-in")
              .map([](std::string s) {
                s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
                return s;
              })
              .sink_to(sink);
          env.execute("kafka-bench");
        }));
      }
    }
    print("kcat_produce", produce, runner, 1);
    print("kcat_consume", consume, runner, 1);
    print("kcat_consume_pipe_produce", pipe, runner, 1);
    for (const auto& guarantee : guarantees) {
      print("sluice_kafka_map_kafka_" + guarantee, jobs[guarantee], runner, parallelism, &pipe,
            "kcat_consume_pipe_produce");
    }
    fs::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_bench: %s\n", e.what());
    return 1;
  }
}
