#include "sluice/core/key_groups.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "sluice/runtime/record_writer.h"

namespace {

using sluice::key_group_range_for_subtask;
using sluice::KeyGroupRange;
using sluice::subtask_for_key_group;

TEST(KeyGroupsTest, RangesAndOwnersAgreeForEveryKeyGroup) {
  for (int max_parallelism : {1, 7, 128, 1000}) {
    for (int parallelism = 1; parallelism <= 20; ++parallelism) {
      SCOPED_TRACE(testing::Message()
                   << "parallelism " << parallelism << ", max parallelism " << max_parallelism);
      std::vector<int> owners(static_cast<size_t>(max_parallelism), 0);
      int next_start = 0;
      int non_empty = 0;
      for (int subtask = 0; subtask < parallelism; ++subtask) {
        KeyGroupRange range = key_group_range_for_subtask(subtask, parallelism, max_parallelism);
        // Contiguous and in subtask order: each range starts where the previous one ended.
        ASSERT_EQ(range.start, next_start) << "subtask " << subtask;
        ASSERT_GE(range.end, range.start - 1) << "subtask " << subtask;
        next_start = range.end + 1;
        if (range.size() > 0) ++non_empty;
        // Sizes differ by at most one, so no subtask gets twice the state of another.
        const int floor_size = max_parallelism / parallelism;
        EXPECT_GE(range.size(), floor_size) << "subtask " << subtask;
        EXPECT_LE(range.size(), floor_size + 1) << "subtask " << subtask;
        for (int g = range.start; g <= range.end; ++g) {
          ASSERT_GE(g, 0);
          ASSERT_LT(g, max_parallelism);
          ++owners[static_cast<size_t>(g)];
          ASSERT_EQ(subtask_for_key_group(g, parallelism, max_parallelism), subtask)
              << "key group " << g;
        }
      }
      EXPECT_EQ(next_start, max_parallelism) << "the ranges do not cover [0, max_parallelism)";
      EXPECT_EQ(non_empty, std::min(parallelism, max_parallelism));
      for (int g = 0; g < max_parallelism; ++g) {
        ASSERT_EQ(owners[static_cast<size_t>(g)], 1) << "key group " << g;
        int owner = subtask_for_key_group(g, parallelism, max_parallelism);
        ASSERT_GE(owner, 0);
        ASSERT_LT(owner, parallelism);
        ASSERT_TRUE(key_group_range_for_subtask(owner, parallelism, max_parallelism).contains(g));
      }
    }
  }
}

TEST(KeyGroupsTest, RangeHelpers) {
  KeyGroupRange range{3, 5};
  EXPECT_EQ(range.size(), 3);
  EXPECT_FALSE(range.contains(2));
  EXPECT_TRUE(range.contains(3));
  EXPECT_TRUE(range.contains(5));
  EXPECT_FALSE(range.contains(6));
  KeyGroupRange empty{4, 3};
  EXPECT_EQ(empty.size(), 0);
  EXPECT_FALSE(empty.contains(3));
  EXPECT_FALSE(empty.contains(4));
  EXPECT_EQ(key_group_range_for_subtask(0, 1, 128), (KeyGroupRange{0, 127}));
  EXPECT_EQ(key_group_range_for_subtask(1, 2, 128), (KeyGroupRange{64, 127}));
}

// Keyed state is placed by these hashes, so a state snapshot taken by one build is only
// restorable by another if they are unchanged. These values were computed once; a failure here
// means the hash (or its folding into key groups) changed and old snapshots are unreadable.
TEST(KeyGroupsTest, HashesAreStable) {
  const sluice::KeyHash<int64_t> int_hash;
  EXPECT_EQ(int_hash(0), 0x0000000000000000ULL);
  EXPECT_EQ(int_hash(1), 0xb456bcfc34c2cb2cULL);
  EXPECT_EQ(int_hash(42), 0x810879608e4259ccULL);
  EXPECT_EQ(int_hash(-1), 0x64b5720b4b825f21ULL);
  EXPECT_EQ(int_hash(1234567890123), 0x500d2923091e70c2ULL);

  const sluice::KeyHash<std::string> string_hash;
  EXPECT_EQ(string_hash(""), 0x2d06800538d394c2ULL);  // the XXH3-64 reference value
  EXPECT_EQ(string_hash("a"), 0xe6c632b61e964e1fULL);
  EXPECT_EQ(string_hash("customer-42"), 0xf40925ac7f7b5e61ULL);
  EXPECT_EQ(string_hash("Sluice stream processing"), 0xe59a10883bc1a59dULL);

  EXPECT_EQ(sluice::key_group_for_key<int64_t>(1, 128), 80);
  EXPECT_EQ(sluice::key_group_for_key<int64_t>(42, 128), 44);
  EXPECT_EQ(sluice::key_group_for_key<int64_t>(-1, 128), 42);
  EXPECT_EQ(sluice::key_group_for_key<std::string>("customer-42", 128), 77);
  EXPECT_EQ(sluice::key_group_for_key<std::string>("", 128), 71);
}

TEST(KeyGroupsTest, EquivalentKeyTypesHashAlike) {
  // A string_view key and a string key must land in the same key group, or a job that changes
  // its key selector's return type silently loses its state.
  for (const std::string& key :
       std::vector<std::string>{"", "x", "customer-42", std::string(1000, 'k')}) {
    EXPECT_EQ(sluice::KeyHash<std::string>{}(key), sluice::KeyHash<std::string_view>{}(key));
  }
  // Integer widths hash by value, so an int32 key and an int64 key agree for the same number.
  for (int32_t v : {0, 1, 42, -1, 1 << 30}) {
    EXPECT_EQ(sluice::KeyHash<int32_t>{}(v), sluice::KeyHash<int64_t>{}(v));
  }
}

TEST(KeyGroupsTest, CompositeKeysHashTheirSerializedBytes) {
  using Key = std::pair<int32_t, std::string>;
  const sluice::KeyHash<Key> hash;
  Key key{7, "seven"};
  std::string bytes = sluice::to_bytes(key);
  EXPECT_EQ(hash(key), sluice::hash_bytes(bytes.data(), bytes.size()));
  EXPECT_EQ(hash(key), hash(Key{7, "seven"}));
  EXPECT_NE(hash(key), hash(Key{7, "seveN"}));
  EXPECT_NE(hash(key), hash(Key{8, "seven"}));
  // The length prefix keeps ("ab", "c") and ("a", "bc") apart.
  using Strings = std::pair<std::string, std::string>;
  EXPECT_NE(sluice::KeyHash<Strings>{}({"ab", "c"}), sluice::KeyHash<Strings>{}({"a", "bc"}));
}

TEST(KeyGroupsTest, KeyGroupIsAlwaysInRange) {
  std::mt19937_64 rng(12345);
  for (int max_parallelism : {1, 2, 7, 128, 1000, 32768}) {
    for (int i = 0; i < 10'000; ++i) {
      int g = sluice::key_group_for_hash(rng(), max_parallelism);
      ASSERT_GE(g, 0);
      ASSERT_LT(g, max_parallelism);
    }
    EXPECT_LT(sluice::key_group_for_hash(~uint64_t{0}, max_parallelism), max_parallelism);
  }
}

TEST(KeyGroupsTest, FastModMatchesRemainder) {
  std::mt19937 rng(20240601);
  std::vector<uint32_t> edges{0u,          1u,          2u,         3u,          127u,
                              128u,        1999u,       2000u,      0x7fffffffu, 0x80000000u,
                              0x80000001u, 0xfffffffeu, 0xffffffffu};
  for (uint32_t d = 1; d <= 2000; ++d) {
    const sluice::FastMod32 mod(d);
    for (uint32_t x : edges) ASSERT_EQ(mod(x), x % d) << x << " mod " << d;
    // Multiples of d and their neighbours are where an off-by-one in the magic number shows.
    for (uint32_t k : {1u, 2u, 1000u, 0xffffffffu / d}) {
      const uint64_t m = static_cast<uint64_t>(k) * d;
      for (uint64_t x : {m - 1, m, m + 1}) {
        if (x > 0xffffffffu) continue;
        ASSERT_EQ(mod(static_cast<uint32_t>(x)), static_cast<uint32_t>(x) % d) << x << " mod " << d;
      }
    }
    for (int i = 0; i < 2'000; ++i) {
      uint32_t x = rng();
      ASSERT_EQ(mod(x), x % d) << x << " mod " << d;
    }
  }
  // Large divisors, including the largest, which leave only a few distinct quotients.
  for (uint32_t d :
       {65535u, 65536u, 1'000'003u, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu}) {
    const sluice::FastMod32 mod(d);
    for (uint32_t x : edges) ASSERT_EQ(mod(x), x % d) << x << " mod " << d;
    for (int i = 0; i < 20'000; ++i) {
      uint32_t x = rng();
      ASSERT_EQ(mod(x), x % d) << x << " mod " << d;
    }
  }
}

// The routing in HashWriter folds the hash the same way as key_group_for_hash; if the two
// drifted apart, records would reach a subtask that does not own their key group.
TEST(KeyGroupsTest, FastModFoldingMatchesKeyGroupForHash) {
  std::mt19937_64 rng(99);
  for (int max_parallelism : {1, 7, 128, 1000}) {
    const sluice::FastMod32 mod(static_cast<uint32_t>(max_parallelism));
    for (int i = 0; i < 10'000; ++i) {
      uint64_t h = rng();
      ASSERT_EQ(static_cast<int>(mod(static_cast<uint32_t>(h ^ (h >> 32)))),
                sluice::key_group_for_hash(h, max_parallelism));
    }
  }
}

// Pearson's chi-square statistic of the key-group counts against a uniform spread.
template <class Key, class MakeKey>
double chi_square_over_key_groups(int keys, int max_parallelism, MakeKey make_key) {
  std::vector<int> counts(static_cast<size_t>(max_parallelism), 0);
  for (int i = 0; i < keys; ++i) {
    ++counts[static_cast<size_t>(sluice::key_group_for_key<Key>(make_key(i), max_parallelism))];
  }
  const double expected = static_cast<double>(keys) / max_parallelism;
  double chi_square = 0;
  for (int c : counts) chi_square += (c - expected) * (c - expected) / expected;
  return chi_square;
}

// 127 degrees of freedom: the mean is 127 and the 99.99th percentile about 200. A badly mixed or
// truncated hash that clusters similar keys scores in the thousands.
constexpr double kChiSquareBound = 200;

TEST(KeyGroupsTest, SequentialIntsSpreadEvenly) {
  const double chi_square = chi_square_over_key_groups<int64_t>(
      100'000, 128, [](int i) { return static_cast<int64_t>(i); });
  EXPECT_LT(chi_square, kChiSquareBound);
  // Far below the mean means no mixing at all: identity hashing spreads sequential keys
  // perfectly round robin (chi-square 0) but puts strided keys like these all in one group.
  EXPECT_GT(chi_square, 50);
  const double strided = chi_square_over_key_groups<int64_t>(
      100'000, 128, [](int i) { return static_cast<int64_t>(i) * 128; });
  EXPECT_LT(strided, kChiSquareBound);
}

TEST(KeyGroupsTest, SequentialStringsSpreadEvenly) {
  const double chi_square = chi_square_over_key_groups<std::string>(
      100'000, 128, [](int i) { return "user-" + std::to_string(i); });
  EXPECT_LT(chi_square, kChiSquareBound);
  const double bare = chi_square_over_key_groups<std::string>(
      100'000, 128, [](int i) { return std::to_string(i); });
  EXPECT_LT(bare, kChiSquareBound);
}

TEST(KeyGroupsTest, SubtasksGetSimilarLoads) {
  // With 128 groups over 5 subtasks the ranges are 25 or 26 groups, so loads may differ by ~4%
  // plus noise; a broken mapping would leave a subtask far off.
  const int parallelism = 5;
  std::vector<int> load(parallelism, 0);
  for (int64_t key = 0; key < 100'000; ++key) {
    int group = sluice::key_group_for_key(key, sluice::kDefaultMaxParallelism);
    ++load[static_cast<size_t>(
        subtask_for_key_group(group, parallelism, sluice::kDefaultMaxParallelism))];
  }
  for (int subtask = 0; subtask < parallelism; ++subtask) {
    EXPECT_GT(load[static_cast<size_t>(subtask)], 18'500) << "subtask " << subtask;
    EXPECT_LT(load[static_cast<size_t>(subtask)], 21'500) << "subtask " << subtask;
  }
}

}  // namespace
