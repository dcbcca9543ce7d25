// Differential tests: the same job at parallelism 1, 2, 3, 8 and 16 gives the results a plain loop
// computes (order-insensitive where the order is not defined).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <thread>

#include "test_util.h"

namespace sluice {
namespace {

using testing::quiet_env;
using testing::sorted;

struct Event {
  int64_t key;
  int64_t value;
  std::string tag;
  bool operator<(const Event& o) const {
    return std::tie(key, value, tag) < std::tie(o.key, o.value, o.tag);
  }
  bool operator==(const Event&) const = default;
};

Event make_event(int64_t i) {
  uint64_t h = mix64(static_cast<uint64_t>(i) * 7919 + 17);
  return Event{static_cast<int64_t>(h % 997), static_cast<int64_t>((h >> 20) % 1000) - 300,
               (h >> 40) % 3 == 0 ? "x" : "yy"};
}

constexpr int64_t kEvents = 60'000;
const int kParallelisms[] = {1, 2, 3, 8, 16};

TEST(Parallelism, StatelessPipelineMatchesReference) {
  std::vector<Event> expected;
  for (int64_t i = 0; i < kEvents; ++i) {
    Event e = make_event(i);
    e.value *= 3;
    if (e.value % 2 == 0) continue;
    for (size_t r = 0; r < e.tag.size(); ++r)
      expected.push_back(Event{e.key, e.value + static_cast<int64_t>(r), e.tag});
  }
  expected = sorted(expected);

  for (int p : kParallelisms) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    auto env = quiet_env(p);
    auto out = env.from_source(datagen<Event>(make_event).number_of_rows(kEvents))
                   .map([](const Event& e) {
                     return Event{e.key, e.value * 3, e.tag};
                   })
                   .filter([](const Event& e) { return e.value % 2 != 0; })
                   .rebalance()
                   .flat_map([](const Event& e, Collector<Event>& out) {
                     for (size_t r = 0; r < e.tag.size(); ++r)
                       out.collect(Event{e.key, e.value + static_cast<int64_t>(r), e.tag});
                   })
                   .collect();
    env.execute();
    EXPECT_EQ(sorted(out->values()), expected);
  }
}

TEST(Parallelism, RollingReduceMatchesReference) {
  // Per key: the number of updates and the final sum are defined whatever the interleaving of
  // source subtasks; so is the multiset of (key, running count) pairs.
  std::map<int64_t, std::pair<int64_t, int64_t>> expected;  // key -> (count, sum)
  for (int64_t i = 0; i < kEvents; ++i) {
    Event e = make_event(i);
    auto& [count, sum] = expected[e.key];
    ++count;
    sum += e.value;
  }
  struct Acc {
    int64_t key;
    int64_t count;
    int64_t sum;
  };
  for (int p : kParallelisms) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    auto env = quiet_env(p);
    auto out = env.from_source(datagen<Event>(make_event).number_of_rows(kEvents))
                   .map([](const Event& e) {
                     return Acc{e.key, 1, e.value};
                   })
                   .key_by(&Acc::key)
                   .reduce([](const Acc& a, const Acc& b) {
                     return Acc{a.key, a.count + b.count, a.sum + b.sum};
                   })
                   .collect();
    env.execute();
    auto values = out->values();
    ASSERT_EQ(values.size(), static_cast<size_t>(kEvents));
    std::map<int64_t, Acc> last;
    std::map<int64_t, std::vector<int64_t>> counts;
    for (const auto& a : values) {
      counts[a.key].push_back(a.count);
      if (!last.count(a.key) || last[a.key].count < a.count) last[a.key] = a;
    }
    ASSERT_EQ(last.size(), expected.size());
    for (const auto& [key, ec] : expected) {
      EXPECT_EQ(last[key].count, ec.first) << "key " << key;
      EXPECT_EQ(last[key].sum, ec.second) << "key " << key;
      // Each key's updates are serialized: exactly the running counts 1..n.
      auto c = sorted(counts[key]);
      for (size_t i = 0; i < c.size(); ++i)
        ASSERT_EQ(c[i], static_cast<int64_t>(i + 1)) << "key " << key;
    }
  }
}

TEST(Parallelism, FieldAggregationsFollowFlinkSemantics) {
  struct Reading {
    int64_t sensor;
    int64_t seq;
    double value;
  };
  std::vector<Reading> input;
  for (int64_t i = 0; i < 300; ++i)
    input.push_back(Reading{i % 3, i, static_cast<double>((i * 37) % 101)});
  for (int p : {1, 2, 4}) {
    auto env = quiet_env(p);
    auto stream = env.from_collection(input).key_by(&Reading::sensor);
    auto sums = stream.sum(&Reading::value).collect();
    auto maxes = stream.max(&Reading::value).collect();
    auto max_bys = stream.max_by(&Reading::value).collect();
    env.execute();
    std::map<int64_t, double> total, best;
    std::map<int64_t, Reading> best_record;
    std::map<int64_t, int64_t> first_seq;
    for (const auto& r : input) {
      total[r.sensor] += r.value;
      if (!best_record.count(r.sensor) || best_record[r.sensor].value < r.value)
        best_record[r.sensor] = r;
      if (!first_seq.count(r.sensor)) first_seq[r.sensor] = r.seq;
    }
    std::map<int64_t, Reading> final_sum, final_max, final_max_by;
    // The source has parallelism 1, so each key's records arrive in order: the last output is
    // final.
    for (const auto& r : sums->values()) final_sum[r.sensor] = r;
    for (const auto& r : maxes->values()) final_max[r.sensor] = r;
    for (const auto& r : max_bys->values()) final_max_by[r.sensor] = r;
    for (int64_t s = 0; s < 3; ++s) {
      EXPECT_DOUBLE_EQ(final_sum[s].value, total[s]);
      EXPECT_EQ(final_sum[s].seq, first_seq[s]);  // other fields: the first record's
      EXPECT_DOUBLE_EQ(final_max[s].value, best_record[s].value);
      EXPECT_EQ(final_max[s].seq, first_seq[s]);
      EXPECT_EQ(final_max_by[s].seq, best_record[s].seq);  // the whole record, first on ties
    }
  }
}

TEST(Parallelism, ManySubtasksOnTwoWorkers) {
  // 16 subtasks per operator, 4 operators, 2 worker threads: nothing starves, nothing deadlocks.
  auto env = quiet_env(16, 2);
  env.set_channel_capacity(1).set_buffer_bytes(256);
  auto out = env.from_sequence(1, 200'000)
                 .key_by([](int64_t x) { return x % 1000; })
                 .map([](int64_t x) { return x; })
                 .rebalance()
                 .filter([](int64_t x) { return x % 3 == 0; })
                 .collect();
  env.execute();
  int64_t expected = 0;
  for (int64_t i = 1; i <= 200'000; ++i) expected += i % 3 == 0;
  EXPECT_EQ(static_cast<int64_t>(out->size()), expected);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(Fairness, AFastInputDoesNotStarveASlowOne) {
  // An unthrottled unbounded source and a small bounded one feed the same operator. Every record
  // of the small one must get through while the fast one keeps its channel full.
  auto env = testing::quiet_env(1);
  auto fast = env.from_source(datagen<int64_t>([](int64_t) { return int64_t{-1}; }), "fast");
  // Rate-limited, so its buffers keep arriving while the fast channel is full.
  auto small = env.from_source(
      datagen<int64_t>([](int64_t i) { return i + 1; }).rows_per_second(4000).number_of_rows(2000),
      "small");
  auto seen = std::make_shared<std::atomic<int64_t>>(0);
  // The sink is slower than the fast source, so the fast channel is never empty: only fair
  // polling of the union's input channels lets the small source's records through.
  fast.union_with(small).add_sink([seen](int64_t x) {
    if (x > 0) seen->fetch_add(1);
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(1);
    while (std::chrono::steady_clock::now() < until) {
    }
  });
  JobClient client = env.execute_async();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (seen->load() < 2000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  client.cancel();
  client.wait();
  EXPECT_EQ(seen->load(), 2000);
}

}  // namespace
}  // namespace sluice
