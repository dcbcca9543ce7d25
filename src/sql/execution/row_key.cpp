#include "row_key.h"

#include <cstring>

namespace sluice::sql {

void RowKeyEncoder::encode(const std::vector<const Vector*>& columns, size_t count) {
  offsets_.assign(count + 1, 0);
  has_null_.assign(count, 0);
  // First pass: sizes, so the buffer is allocated once per batch.
  std::vector<size_t>& sizes = offsets_;
  for (const Vector* column : columns) {
    size_t width = physical_width(column->physical());
    bool constant = column->is_constant();
    for (size_t i = 0; i < count; ++i) {
      size_t row = constant ? 0 : i;
      size_t bytes = 1;
      if (column->is_valid(row)) {
        bytes += column->physical() == PhysicalType::kString
                     ? 4 + column->data<StringRef>()[row].size()
                     : width;
      } else {
        has_null_[i] = 1;
      }
      sizes[i + 1] += bytes;
    }
  }
  for (size_t i = 0; i < count; ++i) sizes[i + 1] += sizes[i];
  buffer_.resize(offsets_[count]);
  std::vector<size_t> cursor(offsets_.begin(), offsets_.end() - 1);
  for (const Vector* column : columns) {
    size_t width = physical_width(column->physical());
    bool constant = column->is_constant();
    bool is_string = column->physical() == PhysicalType::kString;
    for (size_t i = 0; i < count; ++i) {
      size_t row = constant ? 0 : i;
      char* out = buffer_.data() + cursor[i];
      if (!column->is_valid(row)) {
        *out = 0;
        cursor[i] += 1;
        continue;
      }
      *out++ = 1;
      if (is_string) {
        const StringRef& s = column->data<StringRef>()[row];
        uint32_t size = s.size();
        std::memcpy(out, &size, 4);
        std::memcpy(out + 4, s.data(), size);
        cursor[i] += 5 + size;
      } else {
        std::memcpy(out, column->raw() + row * width, width);
        cursor[i] += 1 + width;
      }
    }
  }
}

void decode_row_key(std::string_view key, std::vector<Vector*>& columns, size_t row) {
  const char* in = key.data();
  for (Vector* column : columns) {
    if (*in++ == 0) {
      column->set_null(row);
      continue;
    }
    column->set_valid(row);
    if (column->physical() == PhysicalType::kString) {
      uint32_t size;
      std::memcpy(&size, in, 4);
      column->add_string(row, std::string_view(in + 4, size));
      in += 4 + size;
    } else {
      size_t width = physical_width(column->physical());
      std::memcpy(column->raw() + row * width, in, width);
      in += width;
    }
  }
}

}  // namespace sluice::sql

namespace sluice::sql {

bool PackedKeys::packable(const std::vector<LogicalType>& types) {
  size_t bits = 0;
  for (const auto& t : types) {
    PhysicalType p = t.physical();
    if (p != PhysicalType::kInt8 && p != PhysicalType::kInt16 && p != PhysicalType::kInt32 &&
        p != PhysicalType::kInt64 && p != PhysicalType::kBool) {
      return false;
    }
    bits += physical_width(p) * 8;
  }
  return !types.empty() && bits <= 64;
}

PackedKeys::PackedKeys(const std::vector<LogicalType>& types) {
  for (const auto& t : types) widths_.push_back(physical_width(t.physical()));
  keys_.resize(kBatchSize);
  has_null_.resize(kBatchSize);
}

void PackedKeys::pack(const std::vector<const Vector*>& columns, size_t count) {
  std::fill_n(keys_.begin(), count, 0);
  std::fill_n(has_null_.begin(), count, 0);
  size_t shift = 0;
  for (size_t c = 0; c < columns.size(); ++c) {
    const Vector& v = *columns[c];
    size_t width = widths_[c];
    bool constant = v.is_constant();
    auto put = [&](auto* data) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(data)>>;
      using U = std::make_unsigned_t<T>;
      for (size_t i = 0; i < count; ++i) {
        U bits = static_cast<U>(data[constant ? 0 : i]);
        keys_[i] |= shift >= 64 ? 0 : static_cast<uint64_t>(bits) << shift;
      }
    };
    switch (width) {
      case 1:
        put(v.data<int8_t>());
        break;
      case 2:
        put(v.data<int16_t>());
        break;
      case 4:
        put(v.data<int32_t>());
        break;
      default:
        put(v.data<int64_t>());
        break;
    }
    if (!v.all_valid()) {
      for (size_t i = 0; i < count; ++i) {
        if (!v.is_valid(constant ? 0 : i)) has_null_[i] = 1;
      }
    }
    shift += width * 8;
  }
}

void PackedKeys::unpack(uint64_t key, std::vector<Vector*>& columns, size_t row) const {
  size_t shift = 0;
  for (size_t c = 0; c < columns.size(); ++c) {
    Vector& v = *columns[c];
    size_t width = widths_[c];
    uint64_t bits = width == 8 ? key >> shift : (key >> shift) & ((uint64_t{1} << (width * 8)) - 1);
    v.set_valid(row);
    switch (width) {
      case 1:
        v.data<int8_t>()[row] = static_cast<int8_t>(static_cast<uint8_t>(bits));
        break;
      case 2:
        v.data<int16_t>()[row] = static_cast<int16_t>(static_cast<uint16_t>(bits));
        break;
      case 4:
        v.data<int32_t>()[row] = static_cast<int32_t>(static_cast<uint32_t>(bits));
        break;
      default:
        v.data<int64_t>()[row] = static_cast<int64_t>(bits);
        break;
    }
    shift += width * 8;
  }
}

}  // namespace sluice::sql
