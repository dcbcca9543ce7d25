#include "large_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <map>
#include <mutex>

namespace sluice::sql {

namespace {

constexpr size_t kHugePage = size_t{2} << 20;

size_t round_up(size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }

// A quarter of the machine's memory at most stays cached; beyond it, freed blocks are unmapped.
size_t cache_limit() {
  size_t memory = physical_memory_bytes();
  return memory == 0 ? size_t{1} << 30 : memory / 4;
}

void* map_block(size_t size) {
  // Over-map by one huge page and cut the ends, so the block starts on a huge-page boundary.
  size_t span = size + kHugePage;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<uintptr_t>(raw);
  uintptr_t aligned = (start + kHugePage - 1) & ~(uintptr_t{kHugePage} - 1);
  if (aligned > start) munmap(raw, aligned - start);
  uintptr_t end = start + span;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
  void* block = reinterpret_cast<void*>(aligned);
  madvise(block, size, MADV_HUGEPAGE);
  return block;
}

class BlockCache {
 public:
  void* allocate(size_t bytes) {
    size_t size = round_up(bytes);
    {
      std::lock_guard lock(mutex_);
      // The smallest cached block that fits, if it wastes at most half of itself.
      auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first <= 2 * size) {
        void* block = it->second;
        cached_ -= it->first;
        live_.emplace(block, it->first);
        free_.erase(it);
        return block;
      }
    }
    void* block = map_block(size);
    std::lock_guard lock(mutex_);
    live_.emplace(block, size);
    return block;
  }

  void free(void* block) {
    std::unique_lock lock(mutex_);
    auto it = live_.find(block);
    size_t size = it->second;
    live_.erase(it);
    if (cached_ + size <= limit_) {
      free_.emplace(size, block);
      cached_ += size;
      return;
    }
    lock.unlock();
    munmap(block, size);
  }

  void release() {
    std::multimap<size_t, void*> blocks;
    {
      std::lock_guard lock(mutex_);
      blocks.swap(free_);
      cached_ = 0;
    }
    for (const auto& [size, block] : blocks) munmap(block, size);
  }

  size_t cached() {
    std::lock_guard lock(mutex_);
    return cached_;
  }

 private:
  std::mutex mutex_;
  std::multimap<size_t, void*> free_;        // by size
  absl::flat_hash_map<void*, size_t> live_;  // handed out: their mapped size
  size_t cached_ = 0;
  const size_t limit_ = cache_limit();
};

// Never destroyed: blocks may be freed by static destructors after main returns.
BlockCache& cache() {
  static auto* instance = new BlockCache();
  return *instance;
}

}  // namespace

void* allocate_large(size_t bytes) { return cache().allocate(bytes); }

void free_large(void* block, size_t) noexcept {
  if (block != nullptr) cache().free(block);
}

size_t cached_large_bytes() { return cache().cached(); }

void release_cached_large() { cache().release(); }

size_t physical_memory_bytes() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<size_t>(pages) * static_cast<size_t>(page_size);
}

}  // namespace sluice::sql
