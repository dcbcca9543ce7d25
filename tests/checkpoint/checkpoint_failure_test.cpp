// Checkpoints that cannot be written: with the file size limited (RLIMIT_FSIZE, as a full disk
// does, writes fail with EFBIG) state files stop fitting once the state grew. Each such checkpoint
// fails and is cleaned up while the job goes on; after more failures in a row than tolerated the
// job fails with an error that says so; completed checkpoints are untouched.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "sluice/checkpoint/checkpoint_storage.h"
#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Remember : KeyedProcessFunction<int64_t, int64_t, int64_t> {
  ValueState<int64_t>* last = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    last = &ctx.get_state(ValueStateDescriptor<int64_t>{"last"});
  }
  void process_element(const int64_t& v, Context&, Collector<int64_t>&) override {
    last->update(v);
  }
};

// Limits the size of any file this process writes, for the scope.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);  // a failed write, not a killed process
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  sighandler_t previous_handler_ = nullptr;
};

// A parallelism-1 environment checkpointing every 20 ms into a fresh `dir`, with `flags`.
StreamEnvironment checkpointing_env(const fs::path& dir, std::vector<std::string> flags) {
  fs::remove_all(dir);
  for (const char* flag : {"--checkpoint-interval", "20ms", "--print-summary", "false"}) {
    flags.emplace_back(flag);
  }
  flags.push_back("--checkpoint-dir");
  flags.push_back(dir.string());
  std::vector<const char*> argv{"test"};
  for (const auto& flag : flags) argv.push_back(flag.c_str());
  auto env = StreamEnvironment::from_args(static_cast<int>(argv.size()), argv.data());
  env.set_parallelism(1);
  return env;
}

TEST(CheckpointFailures, UnwritableCheckpointsFailTheJobAfterTheTolerableNumber) {
  const fs::path dir =
      fs::temp_directory_path() / ("sluice-disk-full-" + std::to_string(::getpid()));
  auto env =
      checkpointing_env(dir, {"--tolerable-failed-checkpoints", "2", "--restart-strategy", "none"});
  // A new key per record: the state grows by about 25 bytes a record, past the limit in 0.1 s.
  env.from_source(datagen<int64_t>([](int64_t i) { return i; }).rows_per_second(100'000))
      .key_by([](int64_t v) { return v; })
      .process(Remember{})
      .add_sink([](int64_t) {});
  std::string error;
  {
    FileSizeLimit limit(256 * 1024);
    try {
      env.execute("disk-full");
    } catch (const Error& e) {
      error = e.what();
    }
  }
  EXPECT_NE(error.find("3 checkpoints failed in a row (tolerable: 2)"), std::string::npos) << error;
  EXPECT_NE(error.find("File too large"), std::string::npos) << "the cause is named: " << error;

  // What completed before is intact and restorable; what failed left nothing behind.
  std::vector<std::string> problems;
  auto latest = CheckpointStorage(dir).latest(&problems);
  ASSERT_TRUE(latest.has_value()) << "the first checkpoints fitted";
  EXPECT_TRUE(problems.empty()) << problems.front();
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_TRUE(fs::exists(entry.path() / "_metadata")) << entry.path() << " was not cleaned up";
  }
  fs::remove_all(dir);
}

TEST(CheckpointFailures, ACheckpointThatTakesTooLongFailsAndTheJobGoesOn) {
  const fs::path dir = fs::temp_directory_path() / ("sluice-timeout-" + std::to_string(::getpid()));
  auto env = checkpointing_env(
      dir, {"--checkpoint-timeout", "50ms", "--tolerable-failed-checkpoints", "100"});
  env.from_source(datagen<int64_t>([](int64_t i) { return i; })
                      .number_of_rows(20'000)
                      .rows_per_second(50'000))
      .map([](int64_t v) {
        // A task stuck for 300 ms: the barrier waits behind it, its checkpoint times out.
        if (v == 5'000) std::this_thread::sleep_for(300ms);
        return v;
      })
      .add_sink([](int64_t) {});
  const JobResult result = env.execute("slow");
  EXPECT_GE(result.metrics.checkpoints_failed, 1);
  EXPECT_GE(result.metrics.checkpoints_completed, 2) << "before and after the stall";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sluice
