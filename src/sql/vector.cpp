#include "sluice/sql/vector.h"

#include <algorithm>

namespace sluice::sql {

int compare(const StringRef& a, const StringRef& b) {
  uint32_t n = std::min(a.size(), b.size());
  int c = std::memcmp(a.data(), b.data(), n);
  if (c != 0) return c;
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}

char* StringHeap::allocate(size_t size) {
  if (block_used_ + size > block_size_) {
    // Blocks grow so that a heap of many strings costs few allocations; a huge string gets its
    // own block.
    block_size_ = std::max<size_t>(
        size, std::min<size_t>(std::max<size_t>(block_size_ * 2, 16384), size_t{1} << 22));
    blocks_.push_back(std::unique_ptr<char[]>(new char[block_size_]));
    block_used_ = 0;
  }
  char* out = blocks_.back().get() + block_used_;
  block_used_ += size;
  used_total_ += size;
  return out;
}

StringRef StringHeap::add(std::string_view s) {
  if (s.size() <= StringRef::kInlineSize) return StringRef(s);
  char* bytes = allocate(s.size());
  std::memcpy(bytes, s.data(), s.size());
  return StringRef(bytes, static_cast<uint32_t>(s.size()));
}

Vector::Vector(LogicalType type) : type_(std::move(type)), physical_(type_.physical()) {
  size_t width = physical_width(physical_);
  if (width > 0) {
    // Zeroed so that rows never written (NULLs) hash and compare deterministically.
    data_.reset(new uint8_t[width * kBatchSize]());
  }
}

void Vector::copy_borrowed() {
  size_t width = physical_width(physical_);
  if (width > 0) std::memcpy(data_.get(), borrowed_data_, width * kBatchSize);
  if (has_nulls_) {
    if (!validity_) validity_.reset(new uint64_t[kBatchSize / 64]);
    std::memcpy(validity_.get(), borrowed_validity_, kBatchSize / 8);
  }
  borrowed_data_ = nullptr;
  borrowed_validity_ = nullptr;
}

void Vector::borrow(const Vector& source) {
  release_strings();
  borrowed_data_ = source.values();
  has_nulls_ = source.has_nulls_;
  borrowed_validity_ = has_nulls_ ? source.validity() : nullptr;
  constant_ = source.constant_;
  if (physical_ == PhysicalType::kString) {
    share_heap(source.heap_);
    for (const auto& kept : source.kept_heaps_) share_heap(kept);
  }
}

void Vector::mark_all_valid_with_mask() {
  if (!validity_) validity_.reset(new uint64_t[kBatchSize / 64]);
  std::fill_n(validity_.get(), kBatchSize / 64, ~uint64_t{0});
  has_nulls_ = true;
}

StringHeap& Vector::heap() {
  if (!heap_) heap_ = std::make_shared<StringHeap>();
  return *heap_;
}

void Vector::share_heap(const std::shared_ptr<StringHeap>& heap) {
  if (!heap || heap == heap_) return;
  for (const auto& kept : kept_heaps_) {
    if (kept == heap) return;
  }
  kept_heaps_.push_back(heap);
}

void Vector::reset() {
  has_nulls_ = false;
  constant_ = false;
  borrowed_data_ = nullptr;
  borrowed_validity_ = nullptr;
  release_strings();
}

void Vector::copy_row(size_t row, const Vector& source, size_t source_row) {
  size_t from = source.constant_ ? 0 : source_row;
  if (!source.is_valid(from)) {
    set_null(row);
    return;
  }
  set_valid(row);
  size_t width = physical_width(physical_);
  std::memcpy(data_.get() + row * width, source.values() + from * width, width);
  if (physical_ == PhysicalType::kString) {
    share_heap(source.heap_);
    for (const auto& kept : source.kept_heaps_) share_heap(kept);
  }
}

void Vector::release_strings() {
  if (physical_ != PhysicalType::kString) return;
  kept_heaps_.clear();
  if (heap_ && heap_.use_count() > 1) {
    heap_.reset();
  } else if (heap_) {
    *heap_ = StringHeap();
  }
}

void Vector::gather(const Vector& source, const uint32_t* sel, size_t count) {
  release_strings();
  // Every row is rewritten: a borrow ends without copying.
  borrowed_data_ = nullptr;
  borrowed_validity_ = nullptr;
  has_nulls_ = false;
  constant_ = false;
  size_t width = physical_width(physical_);
  if (source.constant_) {
    for (size_t i = 0; i < count; ++i) {
      std::memcpy(data_.get() + i * width, source.values(), width);
    }
    if (!source.is_valid(0)) {
      for (size_t i = 0; i < count; ++i) set_null(i);
    }
  } else {
    switch (width) {
      case 1:
        for (size_t i = 0; i < count; ++i) data_[i] = source.values()[sel[i]];
        break;
      case 2: {
        auto* out = data<int16_t>();
        const auto* in = source.data<int16_t>();
        for (size_t i = 0; i < count; ++i) out[i] = in[sel[i]];
        break;
      }
      case 4: {
        auto* out = data<int32_t>();
        const auto* in = source.data<int32_t>();
        for (size_t i = 0; i < count; ++i) out[i] = in[sel[i]];
        break;
      }
      case 8: {
        auto* out = data<int64_t>();
        const auto* in = source.data<int64_t>();
        for (size_t i = 0; i < count; ++i) out[i] = in[sel[i]];
        break;
      }
      case 16: {
        auto* out = data<StringRef>();
        const auto* in = source.data<StringRef>();
        for (size_t i = 0; i < count; ++i) out[i] = in[sel[i]];
        break;
      }
      default:
        break;
    }
    if (source.has_nulls_) {
      for (size_t i = 0; i < count; ++i) {
        if (!source.is_valid(sel[i])) set_null(i);
      }
    }
  }
  if (physical_ == PhysicalType::kString && &source != this) {
    share_heap(source.heap_);
    for (const auto& kept : source.kept_heaps_) share_heap(kept);
  }
}

void Vector::copy_from(const Vector& source, size_t count) {
  release_strings();
  borrowed_data_ = nullptr;
  borrowed_validity_ = nullptr;
  constant_ = source.constant_;
  size_t rows = constant_ ? 1 : count;
  size_t width = physical_width(physical_);
  if (rows > 0 && width > 0) std::memcpy(data_.get(), source.values(), rows * width);
  has_nulls_ = false;
  if (source.has_nulls_) {
    mark_all_valid_with_mask();
    std::memcpy(validity_.get(), source.validity(), (rows + 63) / 64 * 8);
  }
  if (physical_ == PhysicalType::kString) {
    share_heap(source.heap_);
    for (const auto& kept : source.kept_heaps_) share_heap(kept);
  }
}

void Vector::append(const Vector& source, size_t from, size_t count, size_t at, bool copy_strings) {
  own();
  size_t width = physical_width(physical_);
  uint8_t* out = data_.get() + at * width;
  if (source.constant_) {
    for (size_t i = 0; i < count; ++i) std::memcpy(out + i * width, source.values(), width);
    bool valid = source.is_valid(0);
    if (!valid || has_nulls_) {
      for (size_t i = 0; i < count; ++i) set_validity(at + i, valid);
    }
  } else {
    if (count > 0 && width > 0) {
      std::memcpy(out, source.values() + from * width, count * width);
    }
    if (source.has_nulls_ || has_nulls_) {
      for (size_t i = 0; i < count; ++i) set_validity(at + i, source.is_valid(from + i));
    }
  }
  if (physical_ != PhysicalType::kString) return;
  if (!copy_strings) {
    share_heap(source.heap_);
    for (const auto& kept : source.kept_heaps_) share_heap(kept);
    return;
  }
  auto* strings = data<StringRef>();
  for (size_t i = at; i < at + count; ++i) {
    if (!strings[i].is_inlined() && is_valid(i)) strings[i] = heap().add(strings[i].view());
  }
}

void Vector::flatten(size_t count) {
  if (!constant_) return;
  own();
  constant_ = false;
  size_t width = physical_width(physical_);
  for (size_t i = 1; i < count; ++i) {
    std::memcpy(data_.get() + i * width, data_.get(), width);
  }
  if (has_nulls_ && !is_valid(0)) {
    for (size_t i = 1; i < count; ++i) set_null(i);
  }
}

DataChunk::DataChunk(const std::vector<LogicalType>& types) { initialize(types); }

void DataChunk::initialize(const std::vector<LogicalType>& types) {
  columns_.clear();
  columns_.reserve(types.size());
  for (const auto& t : types) columns_.emplace_back(t);
  size_ = 0;
}

std::vector<LogicalType> DataChunk::types() const {
  std::vector<LogicalType> out;
  out.reserve(columns_.size());
  for (const auto& c : columns_) out.push_back(c.type());
  return out;
}

void DataChunk::reset() {
  for (auto& c : columns_) c.reset();
  size_ = 0;
}

void DataChunk::slice(const DataChunk& source, const uint32_t* sel, size_t count) {
  for (size_t i = 0; i < columns_.size(); ++i) columns_[i].gather(source.columns_[i], sel, count);
  size_ = count;
}

void DataChunk::own() {
  for (auto& c : columns_) {
    if (c.borrowed()) c.raw();
  }
}

void DataChunk::append_row(const DataChunk& source, size_t row) {
  for (size_t i = 0; i < columns_.size(); ++i) columns_[i].copy_row(size_, source.columns_[i], row);
  ++size_;
}

}  // namespace sluice::sql
