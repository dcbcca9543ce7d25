// Memory budget and spill files of the batch executor. A query's blocking operators (hash
// aggregation, the build side of a hash join, sort) hold their state under one MemoryBudget: each
// operator instance keeps a MemoryReservation that it resizes as its structures grow, and when the
// budget cannot give it more, the instance writes what it holds to SpillFiles and starts again
// empty (the operators' own files say how they read it back). The budget is Flink's managed memory
// of a batch task ('taskmanager.memory.managed.size'); files go to 'io.tmp.dirs'.
//
// A SpillFile is an anonymous temporary file: it is unlinked as soon as it is created, so a
// process that dies leaves nothing behind. It is written sequentially, then read sequentially
// from the start, through a buffer. Chunks are written in a format of their own (validity words,
// fixed-width values as they are in memory, string lengths then bytes) and read back into a
// DataChunk of the same types.
//
// Threading: MemoryBudget is shared by every instance of a query (atomic counters, touched once
// per batch at most); a MemoryReservation and a SpillFile belong to one thread at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/sql/vector.h"

namespace sluice::sql {

class MemoryBudget {
 public:
  explicit MemoryBudget(size_t limit) : limit_(limit) {}

  // Reserves `bytes` more if the total stays within the limit.
  bool try_reserve(size_t bytes);
  // Reserves `bytes` more whatever the limit (state that cannot be spilled).
  void force_reserve(size_t bytes);
  void release(size_t bytes);

  size_t limit() const { return limit_; }
  size_t reserved() const { return reserved_.load(std::memory_order_relaxed); }
  size_t peak() const { return peak_.load(std::memory_order_relaxed); }

  // Spill statistics of the query.
  void add_spilled(size_t bytes) { spilled_bytes_.fetch_add(bytes, std::memory_order_relaxed); }
  size_t spilled_bytes() const { return spilled_bytes_.load(std::memory_order_relaxed); }

 private:
  void raise_peak(size_t reserved);

  size_t limit_;
  std::atomic<size_t> reserved_{0};
  std::atomic<size_t> peak_{0};
  std::atomic<size_t> spilled_bytes_{0};
};

// The part of a budget one operator instance holds; given back when it is destroyed.
class MemoryReservation {
 public:
  explicit MemoryReservation(MemoryBudget& budget) : budget_(budget) {}
  MemoryReservation(const MemoryReservation&) = delete;
  MemoryReservation& operator=(const MemoryReservation&) = delete;
  ~MemoryReservation() { resize_to_zero(); }

  // Sets the reservation to `bytes`. Shrinking always succeeds; growing fails (and leaves the
  // reservation as it was) when the budget has no room.
  bool try_resize(size_t bytes);
  // Sets the reservation to `bytes` whatever the limit.
  void force_resize(size_t bytes);
  void resize_to_zero() { try_resize(0); }
  size_t bytes() const { return bytes_; }
  MemoryBudget& budget() const { return budget_; }

 private:
  MemoryBudget& budget_;
  size_t bytes_ = 0;
};

class SpillFile {
 public:
  // A new anonymous file in `directory`. Throws kIo naming the directory if it cannot be made.
  SpillFile(const std::string& directory, MemoryBudget* stats);
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;
  ~SpillFile();

  void write(const void* data, size_t size);
  // Rows [0, chunk.size()) of `chunk` (flat or constant columns; not nested types).
  void write_chunk(const DataChunk& chunk);
  // Ends writing; the next read starts at the beginning of the file.
  void finish_writing();

  // Reads exactly `size` bytes; false at the end of the file (throws on a truncated record).
  bool read(void* data, size_t size);
  // Reads exactly `size` bytes that must be there (the rest of a record); throws if they are not.
  void read_exact(void* data, size_t size);
  // The next chunk into `out` (initialized with the written chunk's types); false at the end.
  bool read_chunk(DataChunk& out);

  size_t bytes_written() const { return written_; }
  size_t chunks_written() const { return chunks_; }

 private:
  void flush();
  [[noreturn]] void fail(const std::string& what) const;

  std::string directory_;
  MemoryBudget* stats_;
  int fd_ = -1;
  std::vector<char> buffer_;
  size_t buffer_used_ = 0;   // writing: bytes waiting in the buffer
  size_t buffer_begin_ = 0;  // reading: the next unread byte of the buffer
  size_t file_offset_ = 0;   // reading: where the next refill starts
  size_t written_ = 0;
  size_t chunks_ = 0;
  bool reading_ = false;
  std::vector<uint32_t> lengths_;  // read_chunk's string lengths
};

// The managed memory and spill directories of a query, from the session's options.
// `size` is Flink's memory size syntax: a number with an optional unit (b, k/kb, m/mb, g/gb,
// t/tb; case-insensitive). Throws SqlError naming the option on a value that does not parse.
size_t parse_memory_size(const std::string& option, const std::string& value);
// The default budget: 40% of the machine's memory, as Flink's managed memory fraction.
size_t default_memory_limit();

}  // namespace sluice::sql
