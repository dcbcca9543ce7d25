// The broadcast state pattern: rules broadcast to every subtask of a keyed operator, read while
// processing the keyed stream; and applying a function to every key's state.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

struct Event {
  int64_t key;
  int64_t value;
};
struct Rule {
  std::string name;
  int64_t threshold;
};
struct Match {
  int64_t key;
  int64_t value;
  std::string rule;
  auto operator<=>(const Match&) const = default;
};

const MapStateDescriptor<std::string, Rule> kRules{"rules"};

// Buffers each key's events and, at the end of the input (when every rule has arrived, whatever
// the interleaving of the two inputs), matches them against the broadcast rules.
struct MatchRules : KeyedBroadcastProcessFunction<int64_t, Event, Rule, Match> {
  ListState<int64_t>* values = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    values = &ctx.get_list_state(ListStateDescriptor<int64_t>{"values"});
  }
  void process_element(const Event& e, Context& ctx, Collector<Match>&) override {
    values->add(e.value);
    ctx.timer_service().register_event_time_timer(kMaxWatermark - 1);
  }
  void process_broadcast_element(const Rule& rule, BroadcastContext& ctx,
                                 Collector<Match>&) override {
    ctx.broadcast_state(kRules).put(rule.name, rule);
  }
  void on_timer(Timestamp, OnTimerContext& ctx, Collector<Match>& out) override {
    for (int64_t v : values->get()) {
      for (const auto& [name, rule] : ctx.broadcast_state(kRules).entries()) {
        if (v > rule.threshold) out.collect(Match{ctx.current_key(), v, name});
      }
    }
  }
};

TEST(BroadcastState, EverySubtaskSeesEveryRule) {
  std::vector<Event> events;
  for (int64_t i = 0; i < 1'000; ++i) events.push_back(Event{i % 37, (i * 7919) % 1'000});
  const std::vector<Rule> rules{{"low", 100}, {"mid", 500}, {"high", 900}};
  std::vector<Match> expected;
  for (const auto& e : events) {
    for (const auto& r : rules) {
      if (e.value > r.threshold) expected.push_back(Match{e.key, e.value, r.name});
    }
  }
  for (int p : {1, 2, 4}) {
    auto env = testing::quiet_env(p);
    auto strategy = WatermarkStrategy<Event>::for_monotonous_timestamps().with_timestamp_assigner(
        [](const Event&) -> Timestamp { return 0; });
    auto matches = env.from_collection(events)
                       .assign_timestamps_and_watermarks(strategy)
                       .key_by(&Event::key)
                       .connect(env.from_collection(rules).broadcast(kRules))
                       .process(MatchRules{})
                       .collect();
    env.execute();
    EXPECT_EQ(testing::sorted(matches->values()), testing::sorted(expected)) << "parallelism " << p;
  }
}

TEST(BroadcastState, ApplyToEveryKeyVisitsEachKeyWithItsState) {
  HeapKeyedStateBackend<int64_t> backend(KeyGroupRange{0, 127}, 128);
  auto& count = backend.get_state(ValueStateDescriptor<int64_t>{"count"});
  for (int64_t k = 0; k < 50; ++k) {
    backend.set_current_key(k);
    count.update(k * 10);
  }
  backend.set_current_key(7);
  std::map<int64_t, int64_t> seen;
  backend.apply_to_all_keys(ValueStateDescriptor<int64_t>{"count"},
                            [&](const int64_t& key, ValueState<int64_t>& state) {
                              seen[key] = *state.value();
                              state.update(0);  // e.g. a rule change resets every key
                            });
  EXPECT_EQ(seen.size(), 50u);
  for (const auto& [k, v] : seen) EXPECT_EQ(v, k * 10);
  EXPECT_EQ(backend.current_key(), 7) << "the current key is restored";
  EXPECT_EQ(count.value(), std::optional<int64_t>(0));
}

TEST(BroadcastState, ATypeMismatchIsAnError) {
  BroadcastStates states;
  states.get(MapStateDescriptor<std::string, Rule>{"r"});
  EXPECT_THROW(states.get(MapStateDescriptor<std::string, int64_t>{"r"}), Error);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// Without keys: each event reports how many rules its subtask had when it arrived; at the end
// every subtask holds every rule.
struct CountRulesSeen : BroadcastProcessFunction<int64_t, Rule, int64_t> {
  std::shared_ptr<std::vector<size_t>> final_sizes;
  std::shared_ptr<std::mutex> mutex;
  const BroadcastState<std::string, Rule>* rules = nullptr;
  void process_element(const int64_t&, ReadOnlyContext& ctx, Collector<int64_t>& out) override {
    out.collect(static_cast<int64_t>(ctx.broadcast_state(kRules).size()));
  }
  void process_broadcast_element(const Rule& rule, Context& ctx, Collector<int64_t>&) override {
    ctx.broadcast_state(kRules).put(rule.name, rule);
    rules = &ctx.broadcast_state(kRules);
  }
  void close() {
    std::lock_guard lock(*mutex);
    final_sizes->push_back(rules ? rules->size() : 0);
  }
};

TEST(BroadcastState, NonKeyedStreamsReadTheRulesTheirSubtaskReceived) {
  auto env = testing::quiet_env(3);
  const std::vector<Rule> rules{{"a", 1}, {"b", 2}};
  auto final_sizes = std::make_shared<std::vector<size_t>>();
  CountRulesSeen fn;
  fn.final_sizes = final_sizes;
  fn.mutex = std::make_shared<std::mutex>();
  auto seen = env.from_sequence(1, 3'000)
                  .rebalance()
                  .connect(env.from_collection(rules).broadcast(kRules))
                  .process(fn)
                  .collect();
  env.execute();
  ASSERT_EQ(seen->values().size(), 3'000u);
  for (int64_t n : seen->values()) {
    EXPECT_GE(n, 0);
    EXPECT_LE(n, 2);
  }
  EXPECT_EQ(*final_sizes, (std::vector<size_t>{2, 2, 2})) << "every subtask got every rule";
}

}  // namespace
}  // namespace sluice
