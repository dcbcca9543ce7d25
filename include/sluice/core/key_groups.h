// Keys, key hashing and key groups. A key maps to one of `max_parallelism` key groups by a stable
// hash; key groups map to operator subtasks as contiguous ranges (Flink's KeyGroupRangeAssignment).
// Keyed state is organized by key group so that it can be redistributed when the parallelism
// changes: a subtask's state is exactly the union of its key groups.
//
// The hash is stable across runs and processes of the same build (it never uses std::hash):
// integers use the murmur3 64-bit finalizer, strings XXH3-64, other types XXH3 of their serialized
// bytes. Users may specialize sluice::KeyHash<K> for their own key types.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "sluice/core/serialization.h"

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

template <class K, class Enable = void>
struct KeyHash {
  uint64_t operator()(const K& key) const {
    // Reused per thread: hashing a composite key on every record must not allocate.
    thread_local std::string bytes;
    bytes.clear();
    BufferWriter writer(bytes);
    Serializer<K>::serialize(key, writer);
    const std::string_view written = writer.view();
    return hash_bytes(written.data(), written.size());
  }
};

template <class K>
struct KeyHash<K, std::enable_if_t<std::is_integral_v<K> || std::is_enum_v<K>>> {
  uint64_t operator()(K key) const { return mix64(static_cast<uint64_t>(key)); }
};

template <>
struct KeyHash<std::string> {
  uint64_t operator()(const std::string& key) const { return hash_bytes(key.data(), key.size()); }
};

template <>
struct KeyHash<std::string_view> {
  uint64_t operator()(std::string_view key) const { return hash_bytes(key.data(), key.size()); }
};

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

template <class K>
int key_group_for_key(const K& key, int max_parallelism) {
  return key_group_for_hash(KeyHash<K>{}(key), max_parallelism);
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
