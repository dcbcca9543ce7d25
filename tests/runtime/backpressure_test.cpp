// A fast unbounded source and a slow sink: the source is slowed to the sink's pace and memory
// stays bounded by the channel capacities.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "test_util.h"

namespace sluice {
namespace {

int64_t resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

struct Payload {
  int64_t id;
  std::array<char, 1000> bytes;
};

TEST(Backpressure, SlowSinkBoundsMemoryAndThrottlesTheSource) {
  auto env = testing::quiet_env(2);
  env.from_source(datagen<Payload>([](int64_t i) {
       return Payload{i, {}};
     }))
      .rebalance()
      .map([](const Payload& p) { return p; })
      .add_sink([](const Payload&) {
        // A sink that takes 20 µs a record: about 50,000 records/s per subtask.
        auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
        while (std::chrono::steady_clock::now() < until) {
        }
      });
  const int64_t rss_before = resident_kib();
  JobClient client = env.execute_async("backpressure");
  int64_t peak = 0;
  // Sample memory for three seconds. At the generator's unthrottled pace (millions of 1 KB
  // records a second) an unbounded queue would grow by gigabytes in that time.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < end) {
    peak = std::max(peak, resident_kib());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  JobMetrics metrics = client.metrics();
  client.cancel();
  client.wait();

  const int64_t growth_mib = (peak - rss_before) / 1024;
  EXPECT_LT(growth_mib, 64) << "resident memory grew by " << growth_mib << " MiB";
  const uint64_t produced = metrics.total("source").records_out;
  const uint64_t consumed = metrics.total("sink").records_in;
  EXPECT_GT(consumed, 1000u);
  // Everything produced is at most a few channel capacities ahead of the sink.
  EXPECT_LT(produced - consumed, 20'000u) << "produced " << produced << " consumed " << consumed;
  double backpressured = 0, total = 0;
  for (const auto& task : metrics.tasks) {
    if (task.name.rfind("source", 0) != 0) continue;
    backpressured += task.backpressured_ms;
    total += task.busy_ms + task.idle_ms + task.backpressured_ms;
  }
  EXPECT_GT(backpressured / total, 0.5) << "the source should mostly wait for the sink";
}

}  // namespace
}  // namespace sluice
