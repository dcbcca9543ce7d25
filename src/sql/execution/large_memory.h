// Memory for the batch executor's big structures (hash tables, per-row arrays): blocks of a
// megabyte or more are mapped 2 MiB-aligned and advised as transparent huge pages, and a freed
// block goes to a process-wide cache instead of back to the kernel, so the next operator or query
// reuses it without faulting its pages in again. Why: on the virtual machines this engine runs on
// a 4 KiB page fault costs about 10 µs (a 256 MiB hash table: 65 k faults, 0.66 s, against 20 ms
// on cached huge pages), and glibc hands every allocation above its mmap threshold back to the
// kernel when it is freed. DuckDB keeps its memory in its buffer pool for the same reason.
//
// LargeAllocator<T> is a standard allocator (for std::vector and absl's hash maps) that takes
// requests of at least kLargeBlockBytes from the cache and smaller ones from operator new.
//
// Threading: allocate_large and free_large may be called from any thread (the cache is locked;
// it is touched once per megabyte or more, not per row).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace sluice::sql {

inline constexpr size_t kLargeBlockBytes = size_t{1} << 20;

// At least `bytes` bytes (bytes >= kLargeBlockBytes), 2 MiB-aligned; the contents are
// unspecified (a reused block holds what its last user wrote). Throws std::bad_alloc.
void* allocate_large(size_t bytes);
// Returns a block from allocate_large(bytes) (the same `bytes`).
void free_large(void* block, size_t bytes) noexcept;
// Bytes the cache holds for reuse now (for tests and the benchmark's report).
size_t cached_large_bytes();
// Gives every cached block back to the kernel (when a query runs short of memory and spills).
void release_cached_large();
// The machine's physical memory in bytes (0 if the system does not say).
size_t physical_memory_bytes();

template <typename T>
class LargeAllocator {
 public:
  using value_type = T;

  LargeAllocator() = default;
  template <typename U>
  LargeAllocator(const LargeAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    if (bytes >= kLargeBlockBytes) return static_cast<T*>(allocate_large(bytes));
    return static_cast<T*>(::operator new(bytes, std::align_val_t(alignof(T))));
  }
  void deallocate(T* p, size_t n) noexcept {
    size_t bytes = n * sizeof(T);
    if (bytes >= kLargeBlockBytes) {
      free_large(p, bytes);
    } else {
      ::operator delete(p, std::align_val_t(alignof(T)));
    }
  }

  template <typename U>
  friend bool operator==(const LargeAllocator&, const LargeAllocator<U>&) {
    return true;
  }
};

template <typename T>
using LargeVector = std::vector<T, LargeAllocator<T>>;

}  // namespace sluice::sql
