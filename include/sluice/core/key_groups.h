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

#include "sluice/core/key_group_range.h"
#include "sluice/core/serialization.h"

namespace sluice {

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

template <class K>
int key_group_for_key(const K& key, int max_parallelism) {
  return key_group_for_hash(KeyHash<K>{}(key), max_parallelism);
}

}  // namespace sluice
