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
