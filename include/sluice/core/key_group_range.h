// Key groups without key hashing: how many there are by default, the contiguous range of them a
// subtask owns (Flink's KeyGroupRangeAssignment), and the stable byte hash keys are hashed with.
// What the runtime needs to route and restore keyed state; hashing a key of any type is
// key_groups.h's (it needs the key's Serializer).
//
// Threading: pure functions; a StreamingHash belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice {

inline constexpr int kDefaultMaxParallelism = 128;

uint64_t hash_bytes(const void* data, size_t size);

// hash_bytes over data that arrives in pieces (a large file): the same value as one call over the
// concatenation.
class StreamingHash {
 public:
  StreamingHash();
  ~StreamingHash();
  StreamingHash(const StreamingHash&) = delete;
  StreamingHash& operator=(const StreamingHash&) = delete;
  void update(const void* data, size_t size);
  uint64_t digest() const;

 private:
  void* state_;  // XXH3_state_t, kept out of this header
};

inline uint64_t mix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// Inclusive range of key groups owned by one subtask.
struct KeyGroupRange {
  int start = 0;
  int end = -1;  // inclusive; end < start means empty
  bool contains(int key_group) const { return key_group >= start && key_group <= end; }
  int size() const { return end >= start ? end - start + 1 : 0; }
  bool operator==(const KeyGroupRange&) const = default;
};

inline int key_group_for_hash(uint64_t hash, int max_parallelism) {
  auto folded = static_cast<uint32_t>(hash ^ (hash >> 32));
  return static_cast<int>(folded % static_cast<uint32_t>(max_parallelism));
}

// The subtask that owns `key_group` when `max_parallelism` groups are spread over `parallelism`.
inline int subtask_for_key_group(int key_group, int parallelism, int max_parallelism) {
  return static_cast<int>(static_cast<int64_t>(key_group) * parallelism / max_parallelism);
}

// Inverse of subtask_for_key_group: the contiguous range a subtask owns.
inline KeyGroupRange key_group_range_for_subtask(int subtask, int parallelism,
                                                 int max_parallelism) {
  int64_t start = (static_cast<int64_t>(subtask) * max_parallelism + parallelism - 1) / parallelism;
  int64_t end = (static_cast<int64_t>(subtask + 1) * max_parallelism - 1) / parallelism;
  return {static_cast<int>(start), static_cast<int>(end)};
}

}  // namespace sluice
