// A throwing user function fails the job with an error naming the operator and subtask; cancel
// stops everything promptly; no thread outlives its job.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "sluice/core/error.h"
#include "test_util.h"

namespace sluice {
namespace {

using testing::quiet_env;

size_t thread_count() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

// The thread count with no job running, after one job has run: sanitizers (TSan) start a helper
// thread of their own at the first thread creation, which is not a leak.
size_t baseline_thread_count() {
  auto env = quiet_env(2);
  env.from_sequence(1, 10).collect();
  env.execute();
  return thread_count();
}

std::string failure_of(StreamEnvironment& env) {
  try {
    env.execute("failing");
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::kUserFunction) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "the job did not fail";
  return "";
}

TEST(Failure, ThrowingMapFailsTheJobNamingOperatorAndSubtask) {
  const size_t threads_before = baseline_thread_count();
  for (int p : {1, 4}) {
    auto env = quiet_env(p);
    // Unbounded source: the job can only end because the failure cancels it.
    env.from_source(datagen<int64_t>([](int64_t i) { return i; }))
        .map([](int64_t x) {
          if (x == 5000) throw std::runtime_error("record 5000 is poison");
          return x;
        })
        .name("exploding_map")
        .rebalance()
        .map([](int64_t x) { return x; })
        .collect();
    std::string message = failure_of(env);
    EXPECT_NE(message.find("record 5000 is poison"), std::string::npos) << message;
    EXPECT_NE(message.find("operator 'exploding_map'"), std::string::npos) << message;
    EXPECT_NE(message.find("subtask "), std::string::npos) << message;
  }
  EXPECT_EQ(thread_count(), threads_before);
}

TEST(Failure, ThrowingInOpenFailsTheJob) {
  auto env = quiet_env(2);
  struct BadOpen {
    void open(const RuntimeContext& ctx) {
      if (ctx.subtask_index() == 1) throw std::runtime_error("cannot connect");
    }
    int64_t operator()(int64_t x) const { return x; }
  };
  env.from_sequence(1, 1000).map(BadOpen{}).name("bad_open").collect();
  std::string message = failure_of(env);
  EXPECT_NE(message.find("cannot connect [operator 'bad_open', subtask 1/2]"), std::string::npos)
      << message;
}

TEST(Failure, ThrowingSinkFailsTheJob) {
  auto env = quiet_env(2);
  env.from_sequence(1, 100'000).key_by([](int64_t x) { return x % 10; }).add_sink([](int64_t x) {
    if (x == 77'777) throw std::logic_error("sink rejected 77777");
  });
  std::string message = failure_of(env);
  EXPECT_NE(message.find("sink rejected 77777"), std::string::npos) << message;
  EXPECT_NE(message.find("operator 'sink'"), std::string::npos) << message;
}

TEST(Failure, NonStandardExceptionIsReported) {
  auto env = quiet_env(1);
  auto stream = env.from_sequence(1, 10).filter([](int64_t x) {
    if (x == 3) throw 42;
    return true;
  });
  stream.collect();
  std::string message = failure_of(env);
  EXPECT_NE(message.find("unknown exception"), std::string::npos) << message;
}

TEST(Failure, CancelStopsAnUnboundedJobPromptly) {
  const size_t threads_before = baseline_thread_count();
  auto env = quiet_env(4);
  env.from_source(datagen<int64_t>([](int64_t i) { return i; }))
      .key_by([](int64_t x) { return x % 100; })
      .reduce(
          [](int64_t a, int64_t b) { return std::max(a, b); })  // a sum would overflow: unbounded
      .add_sink([](int64_t) {});
  JobClient client = env.execute_async("to-cancel");
  // Let it run until records flow, then cancel.
  while (client.metrics().total("reduce").records_in == 0) std::this_thread::yield();
  EXPECT_EQ(client.status(), JobStatus::kRunning);
  const auto start = std::chrono::steady_clock::now();
  client.cancel();
  ASSERT_TRUE(client.wait_for(std::chrono::seconds(10)));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_EQ(client.status(), JobStatus::kCancelled);
  EXPECT_NO_THROW(client.wait());
  EXPECT_EQ(thread_count(), threads_before);
}

TEST(Failure, DroppingTheClientOfARunningJobCancelsIt) {
  const size_t threads_before = baseline_thread_count();
  {
    auto env = quiet_env(2);
    env.from_source(datagen<int64_t>([](int64_t i) { return i; })).add_sink([](int64_t) {});
    JobClient client = env.execute_async();
  }
  EXPECT_EQ(thread_count(), threads_before);
}

}  // namespace
}  // namespace sluice
