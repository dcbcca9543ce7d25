// Helpers shared by the tests: quiet environments, order-insensitive comparison, scratch folders.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "sluice/api/data_stream.h"

namespace sluice::testing {

inline StreamEnvironment quiet_env(int parallelism, int workers = 2) {
  StreamEnvironment env;
  env.set_parallelism(parallelism).set_workers(workers).set_print_summary(false);
  return env;
}

template <class T>
std::vector<T> sorted(std::vector<T> values) {
  std::sort(values.begin(), values.end());
  return values;
}

// A fresh folder under the system temporary folder, named after the test, removed with everything
// in it at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("sluice-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             (info != nullptr ? info->name() : "none"));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace sluice::testing
