// The Kafka connector against a Kafka-protocol broker process on loopback (kafka_test_broker),
// with the independent client kcat putting records in and reading what Sluice wrote.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "connectors/kafka/kafka_broker_fixture.h"
#include "sluice/connectors/kafka.h"
#include "sluice/formats/json.h"
#include "sluice/sluice.h"
#include "test_process.h"
#include "test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::KafkaBroker;
using testing::kcat_consume;
using testing::kcat_produce;
using testing::sorted;

class KafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice-kafka-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // Writes `lines` to a file and produces them with kcat.
  void produce(const std::string& topic, const std::vector<std::string>& lines,
               bool keyed = false) {
    const fs::path file = dir_ / ("input-" + std::to_string(files_++));
    {
      std::ofstream out(file);
      for (const auto& l : lines) out << l << "\n";
    }
    kcat_produce(broker_.bootstrap(), topic, file.string(), keyed);
  }
  // Records with explicit partitions and timestamps, through Sluice's own producer.
  void produce_at(const std::string& topic, int32_t partition, const std::string& value,
                  int64_t timestamp) {
    kafka::KafkaProducer producer({{"bootstrap.servers", broker_.bootstrap()}}, std::nullopt);
    producer.produce(kafka::OutgoingRecord{topic, partition, std::nullopt, value, {}, timestamp},
                     10s);
    producer.flush(10s);
  }

  KafkaBroker broker_;
  fs::path dir_;
  int files_ = 0;
};

std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) lines.push_back(prefix + std::to_string(i));
  return lines;
}

TEST_F(KafkaTest, RoundTripFromKcatThroughAJobBackToKcat) {
  broker_.create_topic("in", 4);
  broker_.create_topic("out", 3);
  const auto input = numbered("record-", 20'000);
  produce("in", input);
  for (int p : {1, 3}) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    broker_.command("delay 0");
    const std::string out_topic = "out" + std::to_string(p);
    broker_.create_topic(out_topic, 3);
    auto env = testing::quiet_env(p);
    env.from_source(kafka_source(kafka_string_values())
                        .bootstrap_servers(broker_.bootstrap())
                        .topics({"in"})
                        .bounded(),
                    "kafka")
        .map([](const std::string& s) { return s + "!"; })
        .sink_to(kafka_sink(kafka_string_value_serializer())
                     .bootstrap_servers(broker_.bootstrap())
                     .topic(out_topic));
    env.execute();
    std::vector<std::string> expected;
    for (const auto& l : input) expected.push_back(l + "!");
    EXPECT_EQ(sorted(kcat_consume(broker_.bootstrap(), out_topic)), sorted(expected));
  }
}

TEST_F(KafkaTest, BoundedModeStopsAtTheOffsetsThatWereLatestAtStart) {
  broker_.create_topic("events", 2);
  produce("events", numbered("before-", 1000));
  auto env = testing::quiet_env(2);
  // The first record waits until more has been produced: the source must still stop at the end
  // it saw when it started. More is produced only once a record arrived, that is once the source
  // had its splits and their end offsets (produced right after execute_async(), a slow run, e.g.
  // under ASan, could see the new records before the source looked up the ends).
  std::atomic<bool> reading{false};
  std::atomic<bool> produced{false};
  auto results = env.from_source(kafka_source(kafka_string_values())
                                     .bootstrap_servers(broker_.bootstrap())
                                     .topics({"events"})
                                     .bounded(),
                                 "kafka")
                     .map([&reading, &produced](const std::string& s) {
                       reading = true;
                       while (!produced.load()) std::this_thread::sleep_for(1ms);
                       return s;
                     })
                     .collect();
  JobClient job = env.execute_async();
  while (!reading.load()) {
    ASSERT_FALSE(job.wait_for(1ms))
        << "the job ended before reading: " << job.failure().value_or("");
  }
  produce("events", numbered("after-", 500));
  produced = true;
  job.wait();
  EXPECT_EQ(sorted(results->values()), sorted(numbered("before-", 1000)));
}

struct Order {
  int64_t id;
  double amount;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Order, id, amount)

TEST_F(KafkaTest, BadRecordsFailSkipOrGoToTheDeadLetterOutput) {
  broker_.create_topic("orders", 1);
  std::vector<std::string> lines;
  for (int i = 0; i < 100; ++i) {
    lines.push_back(i % 10 == 3 ? "not json " + std::to_string(i)
                                : R"({"id":)" + std::to_string(i) + R"(,"amount":1.5})");
  }
  produce("orders", lines);
  auto source = [&](BadRecordPolicy policy) {
    return kafka_source(kafka_json<Order>())
        .bootstrap_servers(broker_.bootstrap())
        .topics({"orders"})
        .bounded()
        .on_bad_record(policy);
  };
  {
    auto env = testing::quiet_env(1);
    env.from_source(source(BadRecordPolicy::kFail), "orders").add_sink([](const Order&) {});
    try {
      env.execute();
      FAIL() << "a bad record must fail the job";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("orders-0 offset 3"), std::string::npos) << what;
      EXPECT_NE(what.find("not json 3"), std::string::npos) << what;
    }
  }
  {
    auto env = testing::quiet_env(1);
    auto good = env.from_source(source(BadRecordPolicy::kSkip), "orders").collect();
    const JobResult result = env.execute();
    EXPECT_EQ(good->values().size(), 90u);
    EXPECT_EQ(result.metrics.total("orders").user_counters.at("kafka_bad_records"), 10u);
  }
  {
    auto env = testing::quiet_env(1);
    auto dead_letter_source = source(BadRecordPolicy::kDeadLetter);
    auto stream = env.from_source(dead_letter_source, "orders");
    auto good = stream.collect();
    auto dead = stream.get_side_output(dead_letter_source.dead_letters()).collect();
    env.execute();
    EXPECT_EQ(good->values().size(), 90u);
    ASSERT_EQ(dead->values().size(), 10u);
    for (const auto& d : dead->values()) {
      EXPECT_EQ(d.topic, "orders");
      EXPECT_EQ(d.offset % 10, 3);
      EXPECT_EQ(d.value, "not json " + std::to_string(d.offset));
      EXPECT_FALSE(d.reason.empty());
    }
  }
}

// Waits until `done()` holds; false after `timeout`.
template <class F>
bool eventually(F done, std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

struct WindowCount {
  int64_t start = 0;
  int64_t count = 0;
  bool operator==(const WindowCount&) const = default;
};

struct CountWindow : ProcessWindowFunction<KafkaMessage, WindowCount, int> {
  void process(const int&, const Context& context, const std::vector<KafkaMessage>& elements,
               Collector<WindowCount>& out) override {
    out.collect(WindowCount{context.window().start, static_cast<int64_t>(elements.size())});
  }
};

// Two of three partitions have records, the third none yet; at parallelism 4 one reader has no
// partition at all. Windows must still fire: the empty partition and the reader without one are
// idle, not holding the watermark back. Nor may either push it to the maximum: a record that
// arrives later in the empty partition, behind the others' watermark but ahead of the windows
// that have not fired, is counted, not dropped as late. (The idleness timeout is long enough for
// the consumers to start: a partition is idle when nothing came for that long, from its start.)
TEST_F(KafkaTest, WatermarksArePerPartitionAndIdleOnesDoNotHoldThemBack) {
  broker_.create_topic("clicks", 3);
  for (int32_t partition : {0, 1}) {
    for (int64_t ts = 50; ts < 10'000; ts += 100) {  // timestamp 0 would mean "now" to Kafka
      produce_at("clicks", partition, "p" + std::to_string(partition), ts);
    }
  }
  auto env = testing::quiet_env(4);
  const OutputTag<KafkaMessage> late_tag("late");
  auto windows =
      env.from_source(
             kafka_source(kafka_raw()).bootstrap_servers(broker_.bootstrap()).topics({"clicks"}),
             WatermarkStrategy<KafkaMessage>::for_monotonous_timestamps().with_idleness(2s),
             "kafka")
          .key_by([](const KafkaMessage&) { return 0; })
          .window(TumblingEventTimeWindows::of(1s))
          .side_output_late_data(late_tag)
          .process(CountWindow{});
  auto late = windows.get_side_output(late_tag).collect();
  auto counted = windows.collect();
  JobClient job = env.execute_async();
  // Windows [0 s, 9 s) close with the watermark of partitions 0 and 1 (9.95 s - 1 ms); [9 s, 10 s)
  // must wait.
  const bool nine_fired = eventually([&] { return counted->size() >= 9; });
  std::this_thread::sleep_for(2500ms);  // every partition idle by now
  produce_at("clicks", 2, "late-but-not-too-late", 9'960);
  produce_at("clicks", 2, "advances", 10'500);
  const bool tenth_fired = eventually([&] { return counted->size() >= 10; });
  std::this_thread::sleep_for(200ms);
  job.cancel();
  job.wait();
  ASSERT_TRUE(nine_fired) << "an idle partition or a reader without partitions held windows back";
  ASSERT_TRUE(tenth_fired) << "the partition that woke up did not advance the watermark";
  std::vector<WindowCount> expected;
  for (int64_t start = 0; start < 9'000; start += 1'000) expected.push_back({start, 20});
  expected.push_back({9'000, 21});
  auto actual = counted->values();
  std::sort(actual.begin(), actual.end(),
            [](const WindowCount& a, const WindowCount& b) { return a.start < b.start; });
  EXPECT_EQ(actual, expected);
  for (const auto& m : late->values()) {
    ADD_FAILURE() << "late: " << m.topic << "-" << m.partition << " offset " << m.offset << " at "
                  << m.timestamp;
  }
}

TEST_F(KafkaTest, DiscoversPartitionsAddedWhileRunning) {
  broker_.create_topic("growing", 1);
  produce_at("growing", 0, "first", 1);
  auto env = testing::quiet_env(2);
  auto results = env.from_source(kafka_source(kafka_string_values())
                                     .bootstrap_servers(broker_.bootstrap())
                                     .topics({"growing"})
                                     .partition_discovery_interval(100ms),
                                 "kafka")
                     .collect();
  JobClient job = env.execute_async();
  const bool first = eventually([&] { return results->size() >= 1; });
  EXPECT_EQ(broker_.command("partitions growing 3"), "ok");
  // Records produced right after the partitions appear: new partitions are read from the start.
  produce_at("growing", 1, "second", 2);
  produce_at("growing", 2, "third", 3);
  const bool all = eventually([&] { return results->size() >= 3; });
  job.cancel();
  job.wait();
  ASSERT_TRUE(first);
  ASSERT_TRUE(all) << "new partitions were not discovered";
  EXPECT_EQ(sorted(results->values()), (std::vector<std::string>{"first", "second", "third"}));
}

TEST_F(KafkaTest, TopicPatternsPickUpMatchingTopicsCreatedWhileRunning) {
  broker_.create_topic("metrics-cpu", 1);
  broker_.create_topic("logs", 1);
  produce_at("metrics-cpu", 0, "cpu", 1);
  produce_at("logs", 0, "not for us", 1);
  auto env = testing::quiet_env(2);
  auto results = env.from_source(kafka_source(kafka_raw())
                                     .bootstrap_servers(broker_.bootstrap())
                                     .topic_pattern("metrics-.*")
                                     .partition_discovery_interval(100ms),
                                 "kafka")
                     .map([](const KafkaMessage& m) { return m.topic + ":" + *m.value; })
                     .collect();
  JobClient job = env.execute_async();
  const bool first = eventually([&] { return results->size() >= 1; });
  broker_.create_topic("metrics-disk", 2);
  produce_at("metrics-disk", 1, "disk", 2);
  const bool second = eventually([&] { return results->size() >= 2; });
  std::this_thread::sleep_for(200ms);
  job.cancel();
  job.wait();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(sorted(results->values()),
            (std::vector<std::string>{"metrics-cpu:cpu", "metrics-disk:disk"}));
}

// Keys, headers, a user partitioner and record timestamps, as an independent client sees them.
TEST_F(KafkaTest, SinkWritesKeysHeadersTimestampsAndUserPartitions) {
  broker_.create_topic("keyed", 3);
  struct Reading {
    std::string sensor;
    int value;
  };
  std::vector<Reading> readings;
  for (int i = 0; i < 30; ++i) readings.push_back({"s" + std::to_string(i % 5), i});
  auto env = testing::quiet_env(2);
  auto serializer = [](const Reading& r) {
    KafkaProducerRecord record;
    record.key = r.sensor;
    record.value = std::to_string(r.value);
    record.headers = {{"unit", "celsius"}};
    record.timestamp = 1'000 + r.value;
    return record;
  };
  env.from_collection(readings).sink_to(kafka_sink(serializer)
                                            .bootstrap_servers(broker_.bootstrap())
                                            .topic("keyed")
                                            .partitioner([](const Reading& r, int32_t partitions) {
                                              return static_cast<int32_t>(r.value % partitions);
                                            }));
  env.execute();
  std::vector<std::string> expected;
  for (const auto& r : readings) {
    expected.push_back(
        fmt::format("{} {} {} unit=celsius {}", r.value % 3, r.sensor, 1'000 + r.value, r.value));
  }
  EXPECT_EQ(sorted(kcat_consume(broker_.bootstrap(), "keyed", "%p %k %T %h %s\\n")),
            sorted(expected));
}

TEST_F(KafkaTest, StartsAtSpecificOffsetsTimestampsLatestOrCommittedGroupOffsets) {
  broker_.create_topic("log", 2);
  for (int64_t i = 0; i < 100; ++i) {
    produce_at("log", static_cast<int32_t>(i % 2), "r" + std::to_string(i), 1'000 + i);
  }
  auto read_bounded = [&](KafkaOffsets offsets, const std::string& group = "readers") {
    auto env = testing::quiet_env(2);
    auto results = env.from_source(kafka_source(kafka_string_values())
                                       .bootstrap_servers(broker_.bootstrap())
                                       .topics({"log"})
                                       .starting_offsets(std::move(offsets))
                                       .group_id(group)
                                       .bounded(),
                                   "kafka")
                       .collect();
    env.execute();
    return sorted(results->values());
  };
  auto range = [](int64_t from, int64_t to, int64_t step = 1) {
    std::vector<std::string> lines;
    for (int64_t i = from; i < to; i += step) lines.push_back("r" + std::to_string(i));
    return sorted(lines);
  };
  {
    SCOPED_TRACE("specific offsets, the other partition from its fallback (latest)");
    const auto actual = read_bounded(KafkaOffsets::specific({{kafka::TopicPartition{"log", 0}, 40}},
                                                            KafkaOffsets::Kind::kLatest));
    EXPECT_EQ(actual, range(80, 100, 2));  // partition 0 holds the even records, offset = i / 2
  }
  {
    SCOPED_TRACE("timestamp");
    EXPECT_EQ(read_bounded(KafkaOffsets::timestamp_at(1'090)), range(90, 100));
  }
  {
    SCOPED_TRACE("committed, none yet: the fallback (earliest)");
    EXPECT_EQ(read_bounded(KafkaOffsets::committed()).size(), 100u);
  }
  {
    SCOPED_TRACE("committed after a checkpoint completed");
    auto env = testing::quiet_env(2);
    env.enable_checkpointing(50ms, (dir_ / "checkpoints").string());
    auto results = env.from_source(kafka_source(kafka_string_values())
                                       .bootstrap_servers(broker_.bootstrap())
                                       .topics({"log"})
                                       .group_id("monitor"),
                                   "kafka")
                       .collect();
    JobClient job = env.execute_async();
    ASSERT_TRUE(eventually([&] { return results->size() >= 100u; }));
    // Everything was read before these checkpoints: they commit the end offsets to the group.
    const int64_t after = job.metrics().checkpoints_completed;
    ASSERT_TRUE(eventually([&] { return job.metrics().checkpoints_completed >= after + 3; }));
    std::this_thread::sleep_for(200ms);
    job.cancel();
    job.wait();
    for (int64_t i = 100; i < 110; ++i) {
      produce_at("log", static_cast<int32_t>(i % 2), "r" + std::to_string(i), 1'000 + i);
    }
    EXPECT_EQ(read_bounded(KafkaOffsets::committed(), "monitor"), range(100, 110));
  }
  {
    SCOPED_TRACE("latest: only what is produced after the job started");
    auto env = testing::quiet_env(2);
    auto results = env.from_source(kafka_source(kafka_string_values())
                                       .bootstrap_servers(broker_.bootstrap())
                                       .topics({"log"})
                                       .starting_offsets(KafkaOffsets::latest()),
                                   "kafka")
                       .collect();
    JobClient job = env.execute_async();
    // Until the source has resolved "latest", a record may fall before it: keep producing until
    // one arrives; what arrives must then be a suffix of what was produced after the start.
    int64_t produced = 0;
    const bool arrived = eventually([&] {
      produce_at("log", static_cast<int32_t>(produced % 2), "n" + std::to_string(produced), 5'000);
      ++produced;
      return results->size() > 0;
    });
    // Wait for the last produced record rather than a fixed time: a loaded machine is slow.
    const std::string last = "n" + std::to_string(produced - 1);
    eventually([&] {
      const auto values = results->values();
      return std::find(values.begin(), values.end(), last) != values.end();
    });
    job.cancel();
    job.wait();
    ASSERT_TRUE(arrived);
    std::vector<int64_t> seen;
    for (const auto& v : results->values()) {
      ASSERT_EQ(v[0], 'n') << "a record from before the start was read: " << v;
      seen.push_back(std::stoll(v.substr(1)));
    }
    std::sort(seen.begin(), seen.end());
    for (size_t i = 1; i < seen.size(); ++i) {
      // Per partition the suffix is contiguous; across both, no gap wider than one per partition.
      EXPECT_LE(seen[i] - seen[i - 1], 2) << "records missing after the first one read";
    }
    EXPECT_EQ(seen.back(), produced - 1);
  }
}

// The broker goes away while a job writes to it: the sink retries (records wait in the producer,
// the job is backpressured) and, when the broker is back within the delivery timeout, nothing is
// lost; when it stays away longer, the job fails with an error that says what was not delivered.
TEST_F(KafkaTest, BrokerOutagesAreRiddenOutOrFailTheJobAfterTheDeliveryTimeout) {
  broker_.create_topic("sink", 2);
  const auto input = numbered("out-", 5'000);
  auto run = [&](std::chrono::milliseconds timeout) {
    auto env = testing::quiet_env(2);
    env.from_collection(input).sink_to(kafka_sink(kafka_string_value_serializer())
                                           .bootstrap_servers(broker_.bootstrap())
                                           .topic("sink")
                                           .delivery_guarantee(DeliveryGuarantee::kAtLeastOnce)
                                           .delivery_timeout(timeout));
    return env.execute_async();
  };
  {
    JobClient warm = run(30s);  // the sink has looked up its topic before the outage below
    warm.wait();
  }
  EXPECT_EQ(broker_.command("down"), "ok");
  JobClient job = run(30s);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(broker_.command("up"), "ok");
  job.wait();
  auto actual = kcat_consume(broker_.bootstrap(), "sink");
  std::set<std::string> distinct(actual.begin(), actual.end());
  std::vector<std::string> expected = input;
  expected.insert(expected.end(), input.begin(), input.end());  // the warm-up run wrote them too
  EXPECT_EQ(distinct, std::set<std::string>(input.begin(), input.end()));
  EXPECT_GE(actual.size(), expected.size()) << "acknowledged records were lost";

  EXPECT_EQ(broker_.command("down"), "ok");
  JobClient failing = run(2s);
  const auto started = std::chrono::steady_clock::now();
  try {
    failing.wait();
    ADD_FAILURE() << "a job whose broker is gone must fail after the delivery timeout";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Kafka"), std::string::npos) << what;
    EXPECT_NE(what.find("sink"), std::string::npos) << what;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
  EXPECT_EQ(broker_.command("up"), "ok");
}

// A checkpoint completed but the crash came before its transaction committed (fencing then aborts
// it); then attempt after attempt restores that same checkpoint and dies before completing one of
// its own, one of them while writing the records again. Each restore recovers the checkpoint's
// committable again: its records must become visible once, not once per restore. Every attempt is
// a new sink, as a new process has (nothing remembered in memory).
TEST_F(KafkaTest, ACheckpointRestoredAgainAndAgainRecoversItsTransactionOnce) {
  broker_.create_topic("recovered", 3);
  const auto input = numbered("r", 300);
  auto sink = [&] {
    return kafka_sink(kafka_string_value_serializer())
        .bootstrap_servers(broker_.bootstrap())
        .topic("recovered")
        .exactly_once("restored");
  };
  std::vector<std::string> committables;
  {
    auto first = sink();
    OperatorStateStore state;
    OperatorContext context;
    context.checkpointing = true;
    context.operator_state = &state;
    auto writer = first.create_writer(RuntimeContext(context));
    RecordBuffer<std::string> batch;
    for (const auto& value : input) batch.push(value, kNoTimestamp);
    writer->write(batch);
    committables = writer->prepare_commit(1);
    ASSERT_EQ(committables.size(), 1u);
    writer->close();  // the crash: the transaction stays open, its commit never sent
  }
  EXPECT_TRUE(kcat_consume(broker_.bootstrap(), "recovered").empty());
  {
    // The first restore dies while writing the records again: a transaction left open under the
    // committable's transactional id (the writer's first, "<prefix>-<subtask>-0").
    kafka::KafkaProducer rewriting({{"bootstrap.servers", broker_.bootstrap()}}, "restored-0-0");
    rewriting.init_transactions(10s);
    rewriting.begin_transaction();
    for (const auto& value : input) {
      rewriting.produce(kafka::OutgoingRecord{"recovered", -1, std::nullopt, value, {}, 0}, 10s);
    }
    rewriting.flush(10s);
  }
  for (int restore = 2; restore <= 4; ++restore) {
    SCOPED_TRACE("restore " + std::to_string(restore));
    sink().commit(committables);
    EXPECT_EQ(sorted(kcat_consume(broker_.bootstrap(), "recovered")), sorted(input));
  }
}

// Kafka in, keyed state, Kafka out through transactions; the job is SIGKILLed or fails on an
// injected exception at random points and restarts from its checkpoints at random parallelisms
// (each restart fences the earlier attempt's transactions and recovers its last one). A
// read_committed consumer (kcat) must see exactly one result per input record.
TEST_F(KafkaTest, ExactlyOnceThroughFailuresAndRestarts) {
  constexpr int kRecords = 20'000;
  std::vector<std::string> input;
  for (int i = 0; i < kRecords; ++i) {
    input.push_back("k" + std::to_string(i % 50) + "\tv" + std::to_string(i));
  }
  // The reference: each key's records in order, numbered (a key is in one partition).
  std::vector<std::string> expected;
  std::map<std::string, int> counts;
  for (int i = 0; i < kRecords; ++i) {
    const std::string key = "k" + std::to_string(i % 50);
    expected.push_back(key + ",v" + std::to_string(i) + "," + std::to_string(++counts[key]));
  }
  std::sort(expected.begin(), expected.end());

  const int failures_wanted = std::getenv("SLUICE_KAFKA_CHAOS_FAILURES")
                                  ? std::atoi(std::getenv("SLUICE_KAFKA_CHAOS_FAILURES"))
                                  : 10;
  std::mt19937 rng(20261202);
  int failures = 0;
  for (int scenario = 0; failures < failures_wanted; ++scenario) {
    const std::string in = "in-" + std::to_string(scenario);
    const std::string out = "out-" + std::to_string(scenario);
    broker_.create_topic(in, 4);
    broker_.create_topic(out, 3);
    produce(in, input, true);
    const fs::path log = dir_ / ("scenario-" + std::to_string(scenario) + ".log");
    for (int attempt = 0, scenario_failures = 0;; ++attempt) {
      ASSERT_LT(attempt, 30) << testing::read_file(log);
      const int parallelism = std::uniform_int_distribution<int>(1, 3)(rng);
      std::vector<std::string> args = {"--bootstrap",
                                       broker_.bootstrap(),
                                       "--input",
                                       in,
                                       "--output",
                                       out,
                                       "--parallelism",
                                       std::to_string(parallelism),
                                       "--workers",
                                       "2",
                                       "--checkpoint-interval",
                                       "50ms",
                                       "--checkpoint-dir",
                                       (dir_ / in).string(),
                                       "--restore-from",
                                       "latest",
                                       "--restart-strategy",
                                       "none",
                                       "--print-summary",
                                       "false"};
      std::optional<std::chrono::steady_clock::time_point> kill_at;
      if (scenario_failures < 4 && failures < failures_wanted) {
        if (std::bernoulli_distribution(0.6)(rng)) {
          kill_at = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 1500)(rng));
        } else {
          args.push_back("--fail-at");
          args.push_back(std::to_string(std::uniform_int_distribution<int>(1, kRecords)(rng)));
        }
      }
      std::ofstream(log, std::ios::app)
          << "--- attempt " << attempt << " p=" << parallelism << "\n";
      const int exit_code =
          testing::wait_process(testing::spawn_process(SLUICE_KAFKA_CHAOS_JOB, args, log), kill_at);
      if (exit_code == 0) break;
      ASSERT_TRUE(
          exit_code == -1 ||
          (exit_code == 1 && testing::read_file(log).find("injected failure") != std::string::npos))
          << "attempt " << attempt << " exited with " << exit_code << ":\n"
          << testing::read_file(log);
      ++failures;
      ++scenario_failures;
    }
    const auto actual = sorted(kcat_consume(broker_.bootstrap(), out));
    const fs::path dump = dir_ / (out + ".txt");
    if (actual != expected) {  // what the topic holds, by partition and offset, for the diagnosis
      std::ofstream file(dump);
      for (const auto& line : kcat_consume(broker_.bootstrap(), out, "%p %o %k %s\\n")) {
        file << line << "\n";
      }
    }
    ASSERT_EQ(actual.size(), expected.size())
        << "scenario " << scenario << ": see " << log << " and " << dump;
    ASSERT_TRUE(actual == expected)
        << "scenario " << scenario << ": same count, other records; see " << log << " and " << dump;
  }
}

}  // namespace
}  // namespace sluice
