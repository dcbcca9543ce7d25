// Window joins (tumbling, sliding, session), co-group and interval joins against brute-force
// references over random out-of-order input, at parallelism 1, 2 and 4. The disorder stays within
// the watermark bound, so no record is late and the expected pairs do not depend on how the two
// inputs interleave.
#include <gtest/gtest.h>

#include <random>

#include "sluice/api/joins.h"
#include "test_util.h"

namespace sluice {
namespace {

struct Left {
  int64_t id;
  int64_t key;
  Timestamp ts;
};
struct Right {
  int64_t id;
  int64_t key;
  Timestamp ts;
};
using Pair = std::pair<int64_t, int64_t>;  // (left id, right id)

constexpr Timestamp kDisorder = 15;

template <class R>
std::vector<R> random_side(uint32_t seed, size_t n, int64_t keys) {
  std::mt19937_64 rng(seed);
  std::vector<R> out;
  for (size_t i = 0; i < n; ++i) {
    auto jitter = static_cast<Timestamp>(rng() % (2 * kDisorder + 1)) - kDisorder;
    out.push_back(R{static_cast<int64_t>(i), static_cast<int64_t>(rng() % keys),
                    1'000 + 4 * static_cast<Timestamp>(i) + jitter});
  }
  return out;
}

template <class R>
DataStream<R> timestamped(StreamEnvironment& env, const std::vector<R>& records) {
  auto strategy = WatermarkStrategy<R>::for_bounded_out_of_orderness(
                      std::chrono::milliseconds(2 * kDisorder + 5))
                      .with_timestamp_assigner([](const R& r) { return r.ts; });
  return env.from_collection(records).assign_timestamps_and_watermarks(strategy).set_parallelism(1);
}

// Window memberships by brute force, for the reference.
std::vector<Timestamp> window_starts(Timestamp ts, Timestamp size, Timestamp slide) {
  std::vector<Timestamp> starts;
  for (Timestamp s = ts - ts % slide - size; s <= ts; s += slide) {
    if (s <= ts && ts < s + size) starts.push_back(s);
  }
  return starts;
}

std::vector<Pair> time_window_join_reference(const std::vector<Left>& left,
                                             const std::vector<Right>& right, Timestamp size,
                                             Timestamp slide) {
  std::vector<Pair> pairs;
  for (const auto& a : left) {
    for (const auto& b : right) {
      if (a.key != b.key) continue;
      for (Timestamp s : window_starts(a.ts, size, slide)) {
        if (s <= b.ts && b.ts < s + size) pairs.emplace_back(a.id, b.id);  // once per window
      }
    }
  }
  return pairs;
}

// Sessions over both sides' records of a key: sorted by time, a record joins the current session
// when its timestamp is at or before the session's end (start of last record + gap).
std::vector<Pair> session_join_reference(const std::vector<Left>& left,
                                         const std::vector<Right>& right, Timestamp gap) {
  std::map<int64_t, std::vector<std::tuple<Timestamp, int, int64_t>>> by_key;  // ts, side, id
  for (const auto& a : left) by_key[a.key].emplace_back(a.ts, 0, a.id);
  for (const auto& b : right) by_key[b.key].emplace_back(b.ts, 1, b.id);
  std::vector<Pair> pairs;
  for (auto& [key, records] : by_key) {
    std::sort(records.begin(), records.end());
    std::vector<int64_t> lefts, rights;
    Timestamp end = kMinWatermark;
    auto close = [&] {
      for (int64_t l : lefts) {
        for (int64_t r : rights) pairs.emplace_back(l, r);
      }
      lefts.clear();
      rights.clear();
    };
    for (const auto& [ts, side, id] : records) {
      if (ts > end) close();
      end = std::max(end, ts + gap);
      (side == 0 ? lefts : rights).push_back(id);
    }
    close();
  }
  return pairs;
}

template <class Assigner>
void expect_window_join(const std::string& name, Assigner assigner,
                        const std::vector<Pair>& expected, const std::vector<Left>& left,
                        const std::vector<Right>& right) {
  ASSERT_FALSE(expected.empty());
  for (int p : {1, 2, 4}) {
    SCOPED_TRACE(name + " parallelism " + std::to_string(p));
    auto env = testing::quiet_env(p);
    auto out = timestamped(env, left)
                   .join(timestamped(env, right))
                   .where(&Left::key)
                   .equal_to(&Right::key)
                   .window(assigner)
                   .apply([](const Left& a, const Right& b) {
                     return Pair{a.id, b.id};
                   })
                   .collect();
    auto result = env.execute();
    EXPECT_EQ(testing::sorted(out->values()), testing::sorted(expected));
    EXPECT_EQ(result.metrics.total("window_join").user_counters["late_records_dropped"], 0u);
  }
}

TEST(WindowJoin, TumblingSlidingAndSessionMatchReference) {
  const auto left = random_side<Left>(1, 1'500, 23);
  const auto right = random_side<Right>(2, 1'500, 23);
  expect_window_join("tumbling 50", TumblingEventTimeWindows::of(std::chrono::milliseconds(50)),
                     time_window_join_reference(left, right, 50, 50), left, right);
  expect_window_join(
      "sliding 60/20",
      SlidingEventTimeWindows::of(std::chrono::milliseconds(60), std::chrono::milliseconds(20)),
      time_window_join_reference(left, right, 60, 20), left, right);
  expect_window_join("session 30", EventTimeSessionWindows::with_gap(std::chrono::milliseconds(30)),
                     session_join_reference(left, right, 30), left, right);
}

TEST(WindowJoin, CoGroupSeesOneSidedWindows) {
  const auto left = random_side<Left>(3, 800, 31);
  const auto right = random_side<Right>(4, 600, 31);
  using Group = std::tuple<int64_t, size_t, size_t>;  // key, left count, right count
  std::map<std::pair<int64_t, Timestamp>, std::pair<size_t, size_t>> groups;
  for (const auto& a : left) ++groups[{a.key, a.ts - a.ts % 40}].first;
  for (const auto& b : right) ++groups[{b.key, b.ts - b.ts % 40}].second;
  std::vector<Group> expected;
  for (const auto& [kw, counts] : groups)
    expected.emplace_back(kw.first, counts.first, counts.second);
  for (int p : {1, 3}) {
    auto env = testing::quiet_env(p);
    auto out = timestamped(env, left)
                   .co_group(timestamped(env, right))
                   .where(&Left::key)
                   .equal_to(&Right::key)
                   .window(TumblingEventTimeWindows::of(std::chrono::milliseconds(40)))
                   .apply<Group>([](const std::vector<Left>& l, const std::vector<Right>& r,
                                    Collector<Group>& c) {
                     c.collect(Group{l.empty() ? r[0].key : l[0].key, l.size(), r.size()});
                   })
                   .collect();
    env.execute();
    EXPECT_EQ(testing::sorted(out->values()), testing::sorted(expected)) << "parallelism " << p;
  }
}

struct PairUp : ProcessJoinFunction<Left, Right, Pair> {
  void process_element(const Left& a, const Right& b, Context& ctx, Collector<Pair>& out) override {
    EXPECT_EQ(ctx.left_timestamp(), a.ts);
    EXPECT_EQ(ctx.right_timestamp(), b.ts);
    out.collect(Pair{a.id, b.id});
  }
};

struct IntervalCase {
  const char* name;
  Timestamp lower, upper;
  bool lower_exclusive, upper_exclusive;
};

TEST(IntervalJoin, MatchesReferenceForEveryKindOfBounds) {
  const auto left = random_side<Left>(5, 1'500, 17);
  const auto right = random_side<Right>(6, 1'500, 17);
  const IntervalCase cases[] = {{"[-5, 10]", -5, 10, false, false},
                                {"[0, 0]", 0, 0, false, false},
                                {"(-10, -2]", -10, -2, true, false},
                                {"[3, 20)", 3, 20, false, true},
                                {"(-8, 8)", -8, 8, true, true}};
  for (const auto& c : cases) {
    std::vector<Pair> expected;
    std::map<Pair, Timestamp> result_time;
    for (const auto& a : left) {
      for (const auto& b : right) {
        const Timestamp lo = a.ts + c.lower + (c.lower_exclusive ? 1 : 0);
        const Timestamp hi = a.ts + c.upper - (c.upper_exclusive ? 1 : 0);
        if (a.key == b.key && lo <= b.ts && b.ts <= hi) {
          expected.emplace_back(a.id, b.id);
          result_time[{a.id, b.id}] = std::max(a.ts, b.ts);
        }
      }
    }
    ASSERT_FALSE(expected.empty()) << c.name;
    for (int p : {1, 2, 4}) {
      SCOPED_TRACE(std::string(c.name) + " parallelism " + std::to_string(p));
      auto env = testing::quiet_env(p);
      auto join = timestamped(env, left)
                      .key_by(&Left::key)
                      .interval_join(timestamped(env, right).key_by(&Right::key));
      join.between(std::chrono::milliseconds(c.lower), std::chrono::milliseconds(c.upper));
      if (c.lower_exclusive) join.lower_bound_exclusive();
      if (c.upper_exclusive) join.upper_bound_exclusive();
      auto out = join.process(PairUp{}).collect();
      auto result = env.execute();
      EXPECT_EQ(testing::sorted(out->values()), testing::sorted(expected));
      const auto values = out->values();
      const auto timestamps = out->timestamps();
      for (size_t i = 0; i < values.size(); ++i) {
        ASSERT_EQ(timestamps[i], result_time[values[i]]) << "the larger of the two timestamps";
      }
      EXPECT_EQ(result.metrics.total("interval_join").user_counters["late_records_dropped"], 0u);
    }
  }
}

TEST(IntervalJoin, RejectsInvertedBounds) {
  auto env = testing::quiet_env(1);
  auto join = timestamped(env, random_side<Left>(1, 1, 1))
                  .key_by(&Left::key)
                  .interval_join(timestamped(env, random_side<Right>(1, 1, 1)).key_by(&Right::key));
  EXPECT_THROW(join.between(std::chrono::milliseconds(5), std::chrono::milliseconds(1)), Error);
}

}  // namespace
}  // namespace sluice
