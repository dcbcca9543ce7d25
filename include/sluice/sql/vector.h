// The columnar data model of the batch engine: a DataChunk is up to kBatchSize rows held as one
// Vector per column. A Vector owns a fixed-size array of its type's physical representation
// (types.h), a validity mask (one bit per row; absent when every row is valid) and, for strings,
// a reference to the StringHeap that holds the bytes of strings longer than StringRef's inline
// space. A Vector is flat (one value per row) or constant (one value for every row).
//
// Kernels read vectors through data<T>() and the validity mask; operators pass chunks by
// reference and reuse them from batch to batch, so no allocation happens per batch in steady
// state (the heap keeps its blocks after reset()).
//
// Threading: a Vector and a DataChunk belong to one thread at a time. A StringHeap is shared
// read-only once the chunk that filled it is handed on (shared_ptr keeps the bytes alive).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/sql/types.h"

namespace sluice::sql {

inline constexpr size_t kBatchSize = 2048;

// A string of at most 4 GiB in 16 bytes: its length, its first four bytes (so most comparisons
// end without following a pointer), and either the rest inline (strings of up to 12 bytes) or a
// pointer to the whole string in a StringHeap or another stable buffer (Umbra's layout).
class StringRef {
 public:
  static constexpr uint32_t kInlineSize = 12;

  StringRef() { std::memset(static_cast<void*>(this), 0, sizeof(*this)); }
  StringRef(const char* data, uint32_t size) {
    std::memset(static_cast<void*>(this), 0, sizeof(*this));
    size_ = size;
    if (size <= kInlineSize) {
      if (size > 0) std::memcpy(inline_bytes(), data, size);
    } else {
      std::memcpy(prefix_, data, 4);
      pointer_ = data;
    }
  }
  explicit StringRef(std::string_view s) : StringRef(s.data(), static_cast<uint32_t>(s.size())) {}

  uint32_t size() const { return size_; }
  bool is_inlined() const { return size_ <= kInlineSize; }
  const char* data() const { return is_inlined() ? inline_bytes() : pointer_; }
  std::string_view view() const { return {data(), size_}; }
  // The first four bytes, zero-padded.
  uint32_t prefix_word() const {
    uint32_t word;
    std::memcpy(&word, prefix_, 4);
    return word;
  }

  friend bool operator==(const StringRef& a, const StringRef& b) {
    if (a.size_ != b.size_ || a.prefix_word() != b.prefix_word()) return false;
    if (a.is_inlined()) return std::memcmp(a.prefix_, b.prefix_, 12) == 0;
    return std::memcmp(a.pointer_ + 4, b.pointer_ + 4, a.size_ - 4) == 0;
  }

 private:
  // prefix_ and rest_ are contiguous: an inlined string spans both.
  char* inline_bytes() { return prefix_; }
  const char* inline_bytes() const { return prefix_; }

  uint32_t size_;
  char prefix_[4];
  union {
    char rest_[8];
    const char* pointer_;
  };
};
static_assert(sizeof(StringRef) == 16);

int compare(const StringRef& a, const StringRef& b);

// Bytes of the strings of one or more vectors, allocated in blocks that never move.
class StringHeap {
 public:
  // Copies `s` into the heap unless it fits inline; the StringRef stays valid while the heap lives.
  StringRef add(std::string_view s);
  // Space for a string of `size` bytes that the caller fills, then turns into a StringRef.
  char* allocate(size_t size);
  size_t bytes_used() const { return used_total_; }

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_used_ = 0;
  size_t block_size_ = 0;
  size_t used_total_ = 0;
};

// Row indexes: which rows of a chunk an operation applies to.
struct SelectionVector {
  std::unique_ptr<uint32_t[]> indexes{new uint32_t[kBatchSize]};
  uint32_t* data() { return indexes.get(); }
  const uint32_t* data() const { return indexes.get(); }
};

class Vector {
 public:
  explicit Vector(LogicalType type);
  Vector(Vector&&) = default;
  Vector& operator=(Vector&&) = default;

  const LogicalType& type() const { return type_; }
  PhysicalType physical() const { return physical_; }

  // Writable access makes a borrowed vector (borrow()) own its rows first.
  template <typename T>
  T* data() {
    own();
    return reinterpret_cast<T*>(data_.get());
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(values());
  }
  uint8_t* raw() {
    own();
    return data_.get();
  }
  const uint8_t* raw() const { return values(); }

  bool is_constant() const { return constant_; }
  void set_constant(bool constant) { constant_ = constant; }

  // Validity: no mask means every row is valid.
  bool all_valid() const { return !has_nulls_; }
  bool is_valid(size_t row) const {
    return !has_nulls_ || (validity()[row >> 6] >> (row & 63) & 1) != 0;
  }
  void set_null(size_t row) {
    own();
    if (!has_nulls_) mark_all_valid_with_mask();
    validity_[row >> 6] &= ~(uint64_t{1} << (row & 63));
  }
  void set_valid(size_t row) {
    own();
    if (has_nulls_) validity_[row >> 6] |= uint64_t{1} << (row & 63);
  }
  void set_validity(size_t row, bool valid) { valid ? set_valid(row) : set_null(row); }
  // Back to "every row valid", keeping the mask's memory for the next batch.
  void reset_validity() { has_nulls_ = false; }
  uint64_t* validity_words() {
    own();
    if (!has_nulls_) mark_all_valid_with_mask();
    return validity_.get();
  }
  const uint64_t* validity_words_or_null() const { return has_nulls_ ? validity() : nullptr; }

  StringHeap& heap();
  const std::shared_ptr<StringHeap>& shared_heap() const { return heap_; }
  // Strings of this vector point into `heap` (another vector's), which it keeps alive.
  void share_heap(const std::shared_ptr<StringHeap>& heap);
  void add_string(size_t row, std::string_view s) { data<StringRef>()[row] = heap().add(s); }

  // Ready for a new batch: flat, all valid, a fresh heap if this vector holds strings (the old
  // heap may still be referenced by chunks handed on).
  void reset();

  // row = source[source_row], with validity and string bytes (strings share source's heap).
  void copy_row(size_t row, const Vector& source, size_t source_row);
  // rows [0, count) = source rows sel[0..count) (a gather); strings keep source's heap alive.
  // `source` must be another vector.
  void gather(const Vector& source, const uint32_t* sel, size_t count);
  // This vector becomes a copy of rows [0, count) of `source` (same type; strings share its heap;
  // a constant stays constant).
  void copy_from(const Vector& source, size_t count);
  // This vector shows `source`'s rows without copying them (same type): reads see source's
  // memory until the next reset(); the first write copies them in (copy on write). `source`
  // must not change or go away meanwhile: in-memory table scans lend their chunks this way.
  void borrow(const Vector& source);
  bool borrowed() const { return borrowed_data_ != nullptr; }
  // Rows [at, at + count) = rows [from, from + count) of `source` (flat or constant; same type);
  // the rows before `at` are kept. Strings share source's heap, or with `copy_strings` are copied
  // into this vector's own (so that a vector filled from many batches does not keep a list of
  // all their heaps, which every later copy of one of its rows would walk).
  void append(const Vector& source, size_t from, size_t count, size_t at, bool copy_strings);
  // A constant vector becomes flat over `count` rows.
  void flatten(size_t count);

 private:
  void mark_all_valid_with_mask();
  const uint8_t* values() const { return borrowed_data_ ? borrowed_data_ : data_.get(); }
  const uint64_t* validity() const {
    return borrowed_validity_ ? borrowed_validity_ : validity_.get();
  }
  // A borrowed vector copies the rows it shows into its own memory and stops borrowing.
  void own() {
    if (borrowed_data_) copy_borrowed();
  }
  void copy_borrowed();
  // Drops this vector's references to string bytes (it is about to be overwritten).
  void release_strings();

  LogicalType type_;
  PhysicalType physical_;
  std::unique_ptr<uint8_t[]> data_;
  std::unique_ptr<uint64_t[]> validity_;
  const uint8_t* borrowed_data_ = nullptr;       // set by borrow(): another vector's rows
  const uint64_t* borrowed_validity_ = nullptr;  // and its mask, if it has NULLs
  bool has_nulls_ = false;
  bool constant_ = false;
  std::shared_ptr<StringHeap> heap_;
  std::vector<std::shared_ptr<StringHeap>> kept_heaps_;  // heaps gathered strings point into
};

class DataChunk {
 public:
  DataChunk() = default;
  explicit DataChunk(const std::vector<LogicalType>& types);
  void initialize(const std::vector<LogicalType>& types);

  size_t column_count() const { return columns_.size(); }
  Vector& column(size_t i) { return columns_[i]; }
  const Vector& column(size_t i) const { return columns_[i]; }
  std::vector<LogicalType> types() const;

  size_t size() const { return size_; }
  void set_size(size_t size) { size_ = size; }
  void reset();
  // Keeps only rows sel[0..count), in that order.
  void slice(const DataChunk& source, const uint32_t* sel, size_t count);
  // Every borrowed column (Vector::borrow) copies its rows in: the chunk may outlive the source.
  void own();
  // Appends row `row` of `source` (same types); the chunk must have room.
  void append_row(const DataChunk& source, size_t row);

 private:
  std::vector<Vector> columns_;
  size_t size_ = 0;
};

}  // namespace sluice::sql
