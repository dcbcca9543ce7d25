// Keyed state and timers: isolation between keys against a plain-loop reference at several
// parallelisms, every state kind, timer order / de-duplication / deletion / end of input,
// processing-time timers, and TTL; on every backend.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "sluice/state/keyed_state_backend.h"
#include "state/backend_test_util.h"
#include "test_util.h"

namespace sluice {
namespace {

using testing::quiet_env;
using testing::sorted;

struct Event {
  int64_t key;
  int64_t value;
};

Event make_event(int64_t i) {
  uint64_t h = mix64(static_cast<uint64_t>(i));
  return Event{static_cast<int64_t>(h % 101), static_cast<int64_t>((h >> 16) % 50)};
}

struct Totals {
  int64_t key, count, sum, max, distinct_values, list_size;
  auto operator<=>(const Totals&) const = default;
};

// Uses every state kind; emits the key's totals after each record.
struct EveryState : KeyedProcessFunction<int64_t, Event, Totals> {
  ValueState<int64_t>* count = nullptr;
  ReducingState<int64_t>* max = nullptr;
  AggregatingState<Event, int64_t>* sum = nullptr;
  MapState<int64_t, int64_t>* seen = nullptr;
  ListState<int64_t>* list = nullptr;

  void open(KeyedRuntimeContext<int64_t>& ctx) {
    count = &ctx.get_state(ValueStateDescriptor<int64_t>{"count"});
    max = &ctx.get_reducing_state(ReducingStateDescriptor<int64_t>{
        "max", [](const int64_t& a, const int64_t& b) { return std::max(a, b); }});
    sum = &ctx.get_aggregating_state(AggregatingStateDescriptor<Event, int64_t, int64_t>{
        "sum", [] { return int64_t{0}; }, [](const Event& e, int64_t& acc) { acc += e.value; },
        [](const int64_t& acc) { return acc; }});
    seen = &ctx.get_map_state(MapStateDescriptor<int64_t, int64_t>{"seen"});
    list = &ctx.get_list_state(ListStateDescriptor<int64_t>{"list"});
  }
  void process_element(const Event& e, Context& ctx, Collector<Totals>& out) override {
    if (ctx.current_key() != e.key) throw std::logic_error("current key mismatch");
    count->update(count->value().value_or(0) + 1);
    max->add(e.value);
    sum->add(e);
    seen->put(e.value, seen->get(e.value).value_or(0) + 1);
    list->add(e.value);
    if (list->get().size() > 5) list->update({list->get().end() - 5, list->get().end()});
    out.collect(Totals{e.key, *count->value(), *sum->get(), *max->get(),
                       static_cast<int64_t>(seen->entries().size()),
                       static_cast<int64_t>(list->get().size())});
  }
};

using testing::Backend;

class KeyedState : public testing::BackendTest {
 protected:
  StreamEnvironment env(int parallelism) {
    auto e = quiet_env(parallelism);
    e.set_state_backend(options_);
    return e;
  }
};

TEST_P(KeyedState, EveryStateKindIsIsolatedPerKey) {
  constexpr int64_t kEvents = 20'000;
  // Reference: the final totals per key.
  std::map<int64_t, Totals> expected;
  std::map<int64_t, std::set<int64_t>> distinct;
  for (int64_t i = 0; i < kEvents; ++i) {
    Event e = make_event(i);
    Totals& t = expected[e.key];
    t.key = e.key;
    t.count += 1;
    t.sum += e.value;
    t.max = std::max(t.max, e.value);
    distinct[e.key].insert(e.value);
    t.distinct_values = static_cast<int64_t>(distinct[e.key].size());
    t.list_size = std::min<int64_t>(t.count, 5);
  }
  for (int p : {1, 2, 4}) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    auto env = this->env(p);
    auto out = env.from_source(datagen<Event>(make_event).number_of_rows(kEvents))
                   .key_by(&Event::key)
                   .process(EveryState{})
                   .collect();
    env.execute();
    std::map<int64_t, Totals> last;
    for (const auto& t : out->values()) {
      if (!last.count(t.key) || last[t.key].count < t.count) last[t.key] = t;
    }
    ASSERT_EQ(last.size(), expected.size());
    for (const auto& [key, t] : expected) EXPECT_EQ(last[key], t) << "key " << key;
  }
}

struct Fired {
  int64_t key;
  Timestamp time;
  bool operator<(const Fired& o) const { return std::tie(time, key) < std::tie(o.time, o.key); }
  bool operator==(const Fired&) const = default;
};

// For each record (key, value): timers at value and value + 100 (twice: de-duplicated), and the
// one at value + 100 deleted when value is odd.
struct TimerUser : KeyedProcessFunction<int64_t, Event, Fired> {
  void process_element(const Event& e, Context& ctx, Collector<Fired>&) override {
    auto& timers = ctx.timer_service();
    timers.register_event_time_timer(e.value);
    timers.register_event_time_timer(e.value + 100);
    timers.register_event_time_timer(e.value + 100);
    if (e.value % 2 != 0) timers.delete_event_time_timer(e.value + 100);
  }
  void on_timer(Timestamp time, OnTimerContext& ctx, Collector<Fired>& out) override {
    if (ctx.time_domain() != TimeDomain::kEventTime || ctx.timestamp() != time)
      throw std::logic_error("bad context");
    out.collect(Fired{ctx.current_key(), time});
  }
};

TEST(Timers, EventTimeTimersAreDeduplicatedDeletableOrderedAndFireAtEndOfInput) {
  std::vector<Event> input{{1, 10}, {1, 10}, {2, 15}, {1, 5}, {3, 7}, {2, 40}};
  std::set<Fired> expected;
  for (const auto& e : input) {
    expected.insert({e.key, e.value});
    if (e.value % 2 == 0) expected.insert({e.key, e.value + 100});
  }
  for (int p : {1, 3}) {
    auto env = quiet_env(p);
    // No watermark before the end of input: every timer fires from the final maximum watermark.
    auto out = env.from_collection(input)
                   .assign_timestamps_and_watermarks(
                       WatermarkStrategy<Event>::no_watermarks().with_timestamp_assigner(
                           [](const Event& e) { return e.value; }))
                   .key_by(&Event::key)
                   .process(TimerUser{})
                   .collect();
    env.execute();
    auto fired = out->values();
    EXPECT_EQ(sorted(fired), std::vector<Fired>(expected.begin(), expected.end()));
    if (p == 1) {
      EXPECT_EQ(fired, sorted(fired)) << "one subtask fires its timers in time order";
    }
    auto timestamps = out->timestamps();
    for (size_t i = 0; i < fired.size(); ++i) EXPECT_EQ(timestamps[i], fired[i].time);
  }
}

// A timer command: at `ts`, register (or delete) the key's event-time timer at `target`.
struct TimerCommand {
  int64_t key;
  Timestamp ts;
  Timestamp target;
  bool remove;
};
struct ObeyTimerCommands : KeyedProcessFunction<int64_t, TimerCommand, Fired> {
  void process_element(const TimerCommand& c, Context& ctx, Collector<Fired>&) override {
    if (c.remove) {
      ctx.timer_service().delete_event_time_timer(c.target);
    } else {
      ctx.timer_service().register_event_time_timer(c.target);
    }
  }
  void on_timer(Timestamp time, OnTimerContext& ctx, Collector<Fired>& out) override {
    if (ctx.timer_service().current_watermark() < time) throw std::logic_error("fired early");
    out.collect(Fired{ctx.current_key(), time});
  }
};

TEST(Timers, RandomRegistrationsAndDeletionsFireExactlyTheLiveTimers) {
  // Commands in timestamp order, each aimed at a time after its own (so before the watermark can
  // pass it): a timer fires iff it is live after the last command. Targets are multiples of 10,
  // so hundreds of keys share a time (large buckets, whose deletions are skipped lazily); deleted
  // timers are sometimes registered again.
  std::vector<TimerCommand> commands;
  std::set<std::pair<int64_t, Timestamp>> live;
  std::map<int64_t, std::vector<Timestamp>> registered;  // per key, targets not yet due
  for (int64_t i = 0; i < 30'000; ++i) {
    const uint64_t h = mix64(static_cast<uint64_t>(i) + 17);
    const int64_t key = static_cast<int64_t>(h % 400);
    const Timestamp ts = i / 10;
    std::vector<Timestamp>& mine = registered[key];
    std::erase_if(mine, [&](Timestamp t) { return t <= ts; });
    const bool remove = !mine.empty() && (h >> 20) % 3 == 0;
    const Timestamp target = remove ? mine[(h >> 24) % mine.size()]
                                    : (ts / 10 + 1 + static_cast<Timestamp>((h >> 32) % 8)) * 10;
    commands.push_back({key, ts, target, remove});
    if (remove) {
      live.erase({key, target});
    } else {
      live.insert({key, target});
      mine.push_back(target);
    }
  }
  std::vector<Fired> expected;
  for (const auto& [key, time] : live) expected.push_back({key, time});
  ASSERT_GT(expected.size(), 5'000u);
  for (int p : {1, 2, 3}) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    auto env = quiet_env(p);
    // One source subtask: each key's commands arrive in order.
    auto out = env.from_collection(commands)
                   .set_parallelism(1)
                   .assign_timestamps_and_watermarks(
                       WatermarkStrategy<TimerCommand>::for_monotonous_timestamps()
                           .with_timestamp_assigner([](const TimerCommand& c) { return c.ts; }))
                   .set_parallelism(1)
                   .key_by(&TimerCommand::key)
                   .process(ObeyTimerCommands{})
                   .collect();
    env.execute();
    EXPECT_EQ(sorted(out->values()), sorted(expected));
  }
}

TEST(Timers, ProcessingTimeTimersFire) {
  auto env = quiet_env(2);
  struct Later : KeyedProcessFunction<int64_t, int64_t, int64_t> {
    void process_element(const int64_t&, Context& ctx, Collector<int64_t>&) override {
      ctx.timer_service().register_processing_time_timer(
          ctx.timer_service().current_processing_time() + 20);
    }
    void on_timer(Timestamp, OnTimerContext& ctx, Collector<int64_t>& out) override {
      if (ctx.time_domain() == TimeDomain::kProcessingTime) out.collect(ctx.current_key());
    }
  };
  auto fired = std::make_shared<std::atomic<int>>(0);
  env.from_source(datagen<int64_t>([](int64_t i) { return i % 10; }).rows_per_second(1000))
      .key_by([](int64_t k) { return k; })
      .process(Later{})
      .add_sink([fired](int64_t) { fired->fetch_add(1); });
  JobClient client = env.execute_async();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (fired->load() < 50 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  client.cancel();
  client.wait();
  EXPECT_GE(fired->load(), 50);
}

TEST_P(KeyedState, TtlExpiresValues) {
  auto backend = make<int64_t>(KeyGroupRange{0, 127});
  // A manual clock: a real one makes the test depend on how fast 100 writes run (ASan, load).
  Timestamp now = 1000;
  backend->set_ttl_time_provider([&now] { return now; });
  auto& value = backend->get_state(ValueStateDescriptor<int64_t>{"v", StateTtlConfig{Duration(2)}});
  auto& plain = backend->get_state(ValueStateDescriptor<int64_t>{"plain"});
  auto& map = backend->get_map_state(
      MapStateDescriptor<int64_t, int64_t>{"m", StateTtlConfig{Duration(2)}});
  for (int64_t k = 0; k < 100; ++k) {
    backend->set_current_key(k);
    value.update(k);
    plain.update(k);
    map.put(1, k);
  }
  backend->set_current_key(7);
  EXPECT_EQ(value.value(), std::optional<int64_t>(7));
  now += 1;
  EXPECT_EQ(value.value(), std::optional<int64_t>(7)) << "not yet expired";
  EXPECT_EQ(map.get(1), std::optional<int64_t>(7));
  now += 1;
  EXPECT_EQ(value.value(), std::nullopt) << "an expired value is never returned";
  EXPECT_EQ(map.get(1), std::nullopt);
  EXPECT_TRUE(map.entries().empty());
  EXPECT_EQ(plain.value(), std::optional<int64_t>(7)) << "state without TTL is kept";
  if (GetParam() == Backend::kHeap) {
    EXPECT_EQ(backend->remove_expired(now), 198u) << "key 7 was already removed on access";
  }
  backend->set_current_key(8);
  value.update(80);
  EXPECT_EQ(value.value(), std::optional<int64_t>(80));
}

// RocksDB drops expired entries when it compacts (wall-clock time, like Flink's compaction
// filter); they are never read before that either.
TEST(RocksDbState, CompactionDropsExpiredEntries) {
  StateBackendOptions options = testing::backend_options(Backend::kRocksDb);
  KeyedBackendSetup setup{&options, "ttl-compaction", {}};
  RocksDbKeyedStateBackend<int64_t> backend(KeyGroupRange{0, 127}, 128, setup);
  auto& value = backend.get_state(ValueStateDescriptor<int64_t>{"v", StateTtlConfig{Duration(20)}});
  auto& plain = backend.get_state(ValueStateDescriptor<int64_t>{"plain"});
  for (int64_t k = 0; k < 1000; ++k) {
    backend.set_current_key(k);
    value.update(k);
    plain.update(k);
  }
  const Timestamp written = wall_clock_millis();
  while (wall_clock_millis() < written + 25)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  backend.store().compact();
  auto entries = [&](const std::string& name) {
    size_t n = 0;
    backend.store().scan(backend.store().column(name, StateKind::kValue, name == "v" ? 20 : 0), {},
                         [&](std::string_view, std::string_view) { return ++n, true; });
    return n;
  };
  EXPECT_EQ(entries("v"), 0u);
  EXPECT_EQ(entries("plain"), 1000u);
}

// The process's RocksDB memory stays within its budget, however much state is written.
TEST(RocksDbState, MemoryStaysWithinTheBudget) {
  StateBackendOptions options = testing::backend_options(Backend::kRocksDb);
  KeyedBackendSetup setup{&options, "memory", {}};
  RocksDbKeyedStateBackend<int64_t> backend(KeyGroupRange{0, 127}, 128, setup);
  auto& value = backend.get_state(ValueStateDescriptor<std::string>{"v"});
  const std::string payload(1000, 'x');
  for (int64_t k = 0; k < 200'000; ++k) {  // 200 MB of state
    backend.set_current_key(k);
    value.update(payload);
  }
  for (int64_t k = 0; k < 200'000; k += 97) {
    backend.set_current_key(k);
    ASSERT_EQ(value.value(), std::optional<std::string>(payload));
  }
  // The block cache (which write buffers are charged to) is the budget; table readers' indexes
  // live in it too. A little slack for memtables being switched.
  EXPECT_LT(backend.store().memory_usage(), options.rocksdb_memory_bytes * 5 / 4);
}

TEST_P(KeyedState, StateNamesAreTyped) {
  auto backend = make<int64_t>(KeyGroupRange{0, 127});
  backend->get_state(ValueStateDescriptor<int64_t>{"x"});
  EXPECT_THROW(backend->get_list_state(ListStateDescriptor<int64_t>{"x"}), Error);
}

INSTANTIATE_TEST_SUITE_P(Backends, KeyedState, ::testing::Values(Backend::kHeap, Backend::kRocksDb),
                         testing::backend_name);

}  // namespace
}  // namespace sluice
