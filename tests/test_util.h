// Helpers shared by the tests: quiet environments and order-insensitive comparison.
#pragma once

#include <algorithm>
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

}  // namespace sluice::testing
