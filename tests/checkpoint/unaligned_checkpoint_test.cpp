// Unaligned checkpoints of a backpressured job: barriers overtake the queued records, which the
// checkpoint stores as in-flight state. A checkpoint is still a consistent cut, counting the
// in-flight records with the state, and a job restored from one counts every record exactly once.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kRows = 20'000;
constexpr int64_t kKeys = 13;

struct CountPerKey : KeyedProcessFunction<int64_t, int64_t, std::pair<int64_t, int64_t>> {
  ValueState<int64_t>* count = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    count = &ctx.get_state(ValueStateDescriptor<int64_t>{"count"});
  }
  void process_element(const int64_t& x, Context&,
                       Collector<std::pair<int64_t, int64_t>>& out) override {
    count->update(count->value().value_or(0) + 1);
    out.collect({x % kKeys, *count->value()});
  }
};

// What one checkpoint says: records the sources had still to emit (in their readers' splits or
// still unassigned in the enumerator), records counted in keyed state, and records in flight
// towards the counting operator (node 1).
struct CheckpointTally {
  int64_t left = 0;
  int64_t counted = 0;
  int64_t in_flight = 0;
};

CheckpointTally tally(const CompletedCheckpoint& checkpoint) {
  CheckpointTally t;
  RecordBufferCodec<int64_t> codec;
  for (const auto& [name, file] : checkpoint.states) {
    const std::string bytes = CheckpointStorage::read_state(checkpoint, name);
    const auto state = CheckpointStateName::parse(name);
    if (!state) {
      ADD_FAILURE() << "a state name the checkpoint layout does not make: " << name;
      continue;
    }
    using Part = CheckpointStateName::Part;
    if (state->node == 0 && state->part == Part::kOperatorLists) {
      for (const auto& list : from_bytes<OperatorStateSnapshot>(bytes).lists) {
        for (const auto& element : list.elements) {
          auto [next, end, index] =
              from_bytes<std::tuple<int64_t, int64_t, int>>(from_bytes<std::string>(element));
          t.left += end - next;
        }
      }
    } else if (state->node == 0 && state->part == Part::kEnumerator) {
      // Splits not assigned yet when the checkpoint was triggered (a reader that registered late).
      for (const auto& split : from_bytes<std::vector<std::string>>(bytes)) {
        auto [next, end, index] = from_bytes<std::tuple<int64_t, int64_t, int>>(split);
        t.left += end - next;
      }
    } else if (state->node == 1 && state->part == Part::kOperator) {
      HeapKeyedStateBackend<int64_t> backend(KeyGroupRange{0, 127}, 128);
      backend.restore(from_bytes<KeyedOperatorSnapshot>(bytes).backends.at(0));
      backend.apply_to_all_keys(
          ValueStateDescriptor<int64_t>{"count"},
          [&](const int64_t&, ValueState<int64_t>& c) { t.counted += *c.value(); });
    } else if (state->part == Part::kChannelState) {
      EXPECT_EQ(state->node, 1) << name;
      for (const auto& entry : read_channel_state(bytes)) {
        for (const auto& buffer : entry.buffers) {
          BufferReader in(buffer);
          t.in_flight += static_cast<int64_t>(codec.read(in)->size());
        }
      }
    }
  }
  return t;
}

class UnalignedCheckpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-unaligned-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // source (2 subtasks) -> key_by -> count -> a slow sink chained to it: the counting task is
  // always behind, so its input channels are full whenever a barrier arrives.
  StreamEnvironment backpressured_env(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--checkpoint-interval",
                                     "20ms",
                                     "--checkpoint-dir",
                                     dir_.string(),
                                     "--checkpoints-retained",
                                     "1000",
                                     "--print-summary",
                                     "false",
                                     "--workers",
                                     "2",
                                     "--buffer-bytes",
                                     "512",
                                     "--parallelism",
                                     "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return StreamEnvironment(Configuration::from_args(args));
  }

  void add_pipeline(StreamEnvironment& env, std::function<void(int64_t)> on_count) {
    env.from_source(datagen<int64_t>([](int64_t i) { return i; }).number_of_rows(kRows))
        .key_by([](int64_t x) { return x % kKeys; })
        .process(CountPerKey{})
        .add_sink([on_count](const std::pair<int64_t, int64_t>& c) {
          on_count(c.first * 1'000'000 + c.second);
          std::this_thread::sleep_for(20us);
        });
  }

  std::vector<CompletedCheckpoint> checkpoints() const {
    std::vector<CompletedCheckpoint> result;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().filename().string().starts_with("chk-"))
        result.push_back(CheckpointStorage::load(entry.path()));
    }
    return result;
  }

  fs::path dir_;
};

TEST_F(UnalignedCheckpoints, AreConsistentCutsWithTheirInFlightRecords) {
  auto env = backpressured_env({"--unaligned-checkpoints"});
  add_pipeline(env, [](int64_t) {});
  env.execute();
  int checked = 0, with_in_flight = 0;
  for (const CompletedCheckpoint& checkpoint : checkpoints()) {
    const CheckpointTally t = tally(checkpoint);
    EXPECT_EQ(t.counted + t.in_flight, kRows - t.left)
        << "checkpoint " << checkpoint.id << ": counted " << t.counted << ", in flight "
        << t.in_flight << ", emitted " << kRows - t.left;
    ++checked;
    if (t.in_flight > 0) ++with_in_flight;
  }
  EXPECT_GE(checked, 3);
  EXPECT_GE(with_in_flight, 1) << "under backpressure, barriers overtake queued records";
}

TEST_F(UnalignedCheckpoints, AnAlignedCheckpointTurnsUnalignedAfterTheAlignmentTimeout) {
  auto env = backpressured_env({"--unaligned-checkpoints", "--aligned-checkpoint-timeout", "5ms"});
  add_pipeline(env, [](int64_t) {});
  env.execute();
  int with_in_flight = 0;
  for (const CompletedCheckpoint& checkpoint : checkpoints()) {
    const CheckpointTally t = tally(checkpoint);
    EXPECT_EQ(t.counted + t.in_flight, kRows - t.left) << "checkpoint " << checkpoint.id;
    if (t.in_flight > 0) ++with_in_flight;
  }
  EXPECT_GE(with_in_flight, 1) << "a barrier queued behind a full channel takes over 5 ms";
}

TEST_F(UnalignedCheckpoints, AlignedCheckpointsHaveNoInFlightState) {
  auto env = backpressured_env({});
  add_pipeline(env, [](int64_t) {});
  env.execute();
  for (const CompletedCheckpoint& checkpoint : checkpoints()) {
    const CheckpointTally t = tally(checkpoint);
    EXPECT_EQ(t.in_flight, 0);
    EXPECT_EQ(t.counted, kRows - t.left) << "checkpoint " << checkpoint.id;
  }
}

// A failure after some unaligned checkpoints: the job restarts from the latest (its in-flight
// records replayed) and every key ends with exactly its number of records.
TEST_F(UnalignedCheckpoints, ARestoredJobReplaysTheInFlightRecordsExactlyOnce) {
  for (const bool rescale : {false, true}) {
    SCOPED_TRACE(rescale ? "restored at parallelism 3" : "restored in the same job");
    fs::remove_all(dir_);
    std::mutex mutex;
    std::map<int64_t, int64_t> highest;  // key -> highest count seen
    auto record = [&](int64_t encoded) {
      std::lock_guard lock(mutex);
      int64_t& h = highest[encoded / 1'000'000];
      h = std::max(h, encoded % 1'000'000);
    };
    static std::atomic<int64_t> seen{0};
    seen = 0;
    {
      auto env = backpressured_env({"--unaligned-checkpoints", "--restart-strategy",
                                    rescale ? "none" : "fixed-delay", "--restart-delay", "1ms"});
      env.from_source(datagen<int64_t>([](int64_t i) { return i; }).number_of_rows(kRows))
          .key_by([](int64_t x) { return x % kKeys; })
          .process(CountPerKey{})
          .add_sink([&record](const std::pair<int64_t, int64_t>& c) {
            if (seen.fetch_add(1) == kRows / 2) throw std::runtime_error("injected failure");
            record(c.first * 1'000'000 + c.second);
            std::this_thread::sleep_for(20us);
          });
      if (rescale) {
        EXPECT_THROW(env.execute(), Error);
      } else {
        env.execute();
      }
    }
    if (rescale) {
      auto env = backpressured_env({"--restore-from", "latest", "--parallelism", "3"});
      add_pipeline(env, record);
      env.execute();
    }
    bool replayed_in_flight = false;
    for (const CompletedCheckpoint& checkpoint : checkpoints())
      replayed_in_flight |= tally(checkpoint).in_flight > 0;
    EXPECT_TRUE(replayed_in_flight);
    for (int64_t key = 0; key < kKeys; ++key) {
      const int64_t expected = kRows / kKeys + (key < kRows % kKeys ? 1 : 0);
      EXPECT_EQ(highest[key], expected) << "key " << key;
    }
  }
}

TEST(UnalignedCheckpointOptions, AreExactlyOnceOnly) {
  const char* args[] = {"test",
                        "--unaligned-checkpoints",
                        "--checkpointing-mode",
                        "at-least-once",
                        "--checkpoint-interval",
                        "1s",
                        "--checkpoint-dir",
                        "/tmp/unused",
                        "--print-summary",
                        "false"};
  auto env = StreamEnvironment::from_args(10, args);
  env.from_sequence(1, 10).add_sink([](int64_t) {});
  try {
    env.execute();
    FAIL() << "unaligned at-least-once checkpoints must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at-least-once"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sluice
