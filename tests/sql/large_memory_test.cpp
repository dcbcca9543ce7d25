// The executor's large-block cache: a freed block is reused by the next request that fits (no new
// mapping, no page faults), blocks are huge-page aligned, and LargeAllocator serves containers
// either way round the large-block threshold.
#include "large_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace sluice::sql {
namespace {

TEST(LargeMemory, AFreedBlockIsReusedByTheNextRequestThatFits) {
  // A size no other test of this process caches, so the block that comes back must be this one.
  size_t bytes = 300 * kLargeBlockBytes + 123;
  void* first = allocate_large(bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % (2 << 20), 0u);
  static_cast<char*>(first)[0] = 7;
  static_cast<char*>(first)[bytes - 1] = 7;
  size_t cached_before = cached_large_bytes();
  free_large(first, bytes);
  EXPECT_GE(cached_large_bytes(), cached_before + bytes);
  // A slightly smaller request takes the same block back.
  void* second = allocate_large(bytes - kLargeBlockBytes);
  EXPECT_EQ(second, first);
  EXPECT_EQ(cached_large_bytes(), cached_before);
  free_large(second, bytes - kLargeBlockBytes);
}

TEST(LargeMemory, ABlockMoreThanTwiceTheRequestIsNotHandedOut) {
  size_t big = 700 * kLargeBlockBytes;
  void* block = allocate_large(big);
  free_large(block, big);
  void* small = allocate_large(2 * kLargeBlockBytes);
  EXPECT_NE(small, block);
  free_large(small, 2 * kLargeBlockBytes);
}

TEST(LargeMemory, ReleasingTheCacheGivesItsBlocksBack) {
  size_t bytes = 5 * kLargeBlockBytes;
  free_large(allocate_large(bytes), bytes);
  EXPECT_GE(cached_large_bytes(), bytes);
  release_cached_large();
  EXPECT_EQ(cached_large_bytes(), 0u);
}

TEST(LargeMemory, VectorsGrowThroughTheAllocator) {
  LargeVector<uint64_t> values;
  for (uint64_t i = 0; i < 1'000'000; ++i) values.push_back(i * 3);
  uint64_t sum = 0;
  for (uint64_t v : values) sum += v;
  EXPECT_EQ(sum, 3 * (999'999ull * 1'000'000ull / 2));
  LargeVector<uint8_t> small(100, 1);
  EXPECT_EQ(small[99], 1);
}

}  // namespace
}  // namespace sluice::sql
